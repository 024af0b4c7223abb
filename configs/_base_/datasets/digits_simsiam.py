# SimSiam pretraining data for the offline demo: scikit-learn's bundled UCI
# digits, written by `python tools/prepare_demo_data.py` to
# data/digits/{train,val}/<class>/<index>.png (32 x 32 greyscale) and read
# through mmpretrain's CustomDataset without labels, exactly as a user's own
# folder of images would be (point data_root/data_prefix at it). CIFAR-style
# views: RandomResizedCrop(32, scale (0.2, 1)), jitter, greyscale, flip, no
# blur. Defines: dataset_type, data_root, data_preprocessor,
# train_pipeline, train_dataloader. Labelled loaders for kNN are in
# digits_knn.py (only knn_* names, combinable with this file); linear
# evaluation uses digits_linear.py instead of this file.
#
# mean/std: the statistics of the prepared 32 px training images (grey, so
# the same for the three channels).
dataset_type = 'CustomDataset'
data_root = 'data/digits/'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[79.65, 79.65, 79.65],
    std=[90.81, 90.81, 90.81],
    to_rgb=False)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(
        type='SimSiamViews',
        num_views=2,
        size=32,
        scale=(0.2, 1.0),
        jitter_prob=0.8,
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.1,
        gray_prob=0.2,
        blur_prob=0.,
        flip_prob=0.5),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
