# ImageNet, labelled and unaugmented (resize 256, centre crop 224, PIL
# resizing as torchvision): knn_train_dataloader (train split, the memory
# bank of the weighted kNN monitor) and knn_val_dataloader (val split, the
# queries); images come out uint8 RGB for the model's data preprocessor.
# The base of imagenet_simsiam.py (pretraining) and imagenet_linear.py
# (linear evaluation), which take dataset_type, data_root and the statistics
# of data_preprocessor from here.
#
# data_root holds ImageNet as mmpretrain expects it: train/<wnid>/*.JPEG,
# val laid out the same way or listed in meta/val.txt, and optionally
# meta/train.txt ("<path> <label>" per line; used instead of scanning the
# folders when present).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
# the pretraining data preprocessor: normalisation on the device (every
# pipeline of this project yields uint8 RGB: to_rgb=False); mmengine's
# Runner copies a top-level data_preprocessor into a model without one
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False)

knn_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

knn_train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=knn_pipeline))
# the same, on the val split
knn_val_dataloader = dict(
    knn_train_dataloader,
    dataset=dict(knn_train_dataloader['dataset'], split='val'))
