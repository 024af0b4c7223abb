# The SimSiam views (arXiv 2011.10566: MoCo v2's augmentation, with the
# blur probability of the official code), drawn independently for each of
# the two views of an image: RandomResizedCrop(224, scale (0.2, 1)), colour
# jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, greyscale with p 0.2, Gaussian
# blur sigma in [0.1, 2] with p 0.5, horizontal flip with p 0.5. The one
# statement of the recipe: SimSiamViews (in the data workers) and
# SimSiamDeviceAugPreprocessor (on the training device) take these
# arguments; CIFAR-10 and the digits change size and blur (Appendix D).
views = dict(
    num_views=2,
    size=224,
    scale=(0.2, 1.0),
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    hue=0.1,
    gray_prob=0.2,
    blur_prob=0.5,
    blur_sigma=(0.1, 2.0),
    flip_prob=0.5)
