# SimSiam pretraining data on CIFAR-10 with the views drawn on the training
# device (appendix D recipe: 32 px, no blur). Use this file instead of
# cifar10_simsiam.py (same names: dataset_type, data_root,
# data_preprocessor, train_pipeline, train_dataloader); cifar10_knn.py
# combines with it as well. The workers only pack the stored 32 x 32 uint8
# images; SimSiamDeviceAugPreprocessor draws both views per image on the
# device.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'

data_preprocessor = dict(
    type='SimSiamDeviceAugPreprocessor',
    num_views=2,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    size=32,
    scale=(0.2, 1.0),
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    hue=0.1,
    gray_prob=0.2,
    blur_prob=0.,
    flip_prob=0.5,
    non_blocking=True)

train_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=512,
    num_workers=4,
    drop_last=True,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        download=False,
        pipeline=train_pipeline))
