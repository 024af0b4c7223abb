# Labelled CIFAR-10 loaders for the weighted kNN monitor, no augmentation:
# knn_train_dataloader (the 50k training images, the memory bank) and
# knn_val_dataloader (the 10k test images, the queries). Only knn_* names,
# so this file can sit next to cifar10_simsiam.py in _base_; images come
# out uint8 RGB for the pretraining data preprocessor.
knn_pipeline = [dict(type='PackInputs')]

knn_train_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CIFAR10',
        data_root='data/cifar10/',
        split='train',
        download=False,
        pipeline=knn_pipeline))

knn_val_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CIFAR10',
        data_root='data/cifar10/',
        split='test',
        download=False,
        pipeline=knn_pipeline))
