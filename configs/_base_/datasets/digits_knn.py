# Labelled digits loaders for the weighted kNN monitor of the demo, no
# augmentation: knn_train_dataloader (data/digits/train, the memory bank)
# and knn_val_dataloader (data/digits/val, the queries); the class is the
# sub-folder name. Only knn_* names, so this file can sit next to
# digits_simsiam.py in _base_. The Resize keeps 32 px whatever --size the
# data was prepared at.
knn_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]

knn_train_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/digits/',
        data_prefix='train',
        pipeline=knn_pipeline))

knn_val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/digits/',
        data_prefix='val',
        pipeline=knn_pipeline))
