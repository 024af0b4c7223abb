# Labelled ImageNet loaders for the weighted kNN monitor (resize 256, centre
# crop 224, no augmentation): knn_train_dataloader (train split, the
# memory bank) and knn_val_dataloader (val split, the queries). Only knn_*
# names, so this file can sit next to imagenet_simsiam.py in _base_; the
# images come out uint8 RGB for the pretraining data preprocessor.
# data/imagenet/val is laid out as train (val/<wnid>/*.JPEG) or listed in
# meta/val.txt.
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
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ImageNet',
        data_root='data/imagenet/',
        split='train',
        pipeline=knn_pipeline))

knn_val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ImageNet',
        data_root='data/imagenet/',
        split='val',
        pipeline=knn_pipeline))
