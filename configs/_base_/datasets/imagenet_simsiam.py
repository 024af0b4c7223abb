# SimSiam pretraining data: ImageNet, two views per image (Sec. 4 of
# arXiv 2011.10566). Defines: dataset_type, data_root, data_preprocessor,
# train_pipeline, train_dataloader. Labelled loaders for kNN monitoring are
# in imagenet_knn.py (only knn_* names, so both files can be bases of one
# config); linear evaluation uses imagenet_linear.py instead of this file.
#
# data_root holds ImageNet as mmpretrain expects it: train/<wnid>/*.JPEG
# and, optionally, a list file meta/train.txt ("<path> <label>" per line;
# used instead of scanning the folders when present).
#
# Every pipeline of this project yields uint8 RGB; the data preprocessor
# normalises on the device (to_rgb=False). The model config takes it over:
# mmengine's Runner copies a top-level data_preprocessor into the model
# unless the model sets its own. With skip_bad_images=True, unreadable files
# are logged and replaced by another sample instead of stopping training.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(
        type='SimSiamViews',
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
        flip_prob=0.5),
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
