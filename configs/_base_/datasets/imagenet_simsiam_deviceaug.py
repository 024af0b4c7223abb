# SimSiam pretraining data on ImageNet with the views drawn on the training
# device, for GPU training where the CPU workers cannot keep up with
# imagenet_simsiam.py. Use this file instead of imagenet_simsiam.py (same
# names: dataset_type, data_root, data_preprocessor, train_pipeline,
# train_dataloader); imagenet_knn.py combines with it as well.
#
# The workers only decode and resize every image to a fixed 384 x 384
# (about ImageNet's native resolution); SimSiamDeviceAugPreprocessor then
# draws the two views of Sec. 4 per image on the device, with the crops
# drawn in the original image's coordinates (ori_shape), so the crop
# distribution, aspect ratios included, is the CPU pipeline's.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

data_preprocessor = dict(
    type='SimSiamDeviceAugPreprocessor',
    num_views=2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
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
    flip_prob=0.5,
    non_blocking=True)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(
        type='Resize',
        scale=(384, 384),
        keep_ratio=False,
        interpolation='area'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
