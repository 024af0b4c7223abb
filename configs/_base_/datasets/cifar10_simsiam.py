# SimSiam pretraining data: CIFAR-10 (appendix D of arXiv 2011.10566):
# RandomResizedCrop(32, scale (0.2, 1)), the same colour jitter, greyscale
# and flip as ImageNet, no blur. Defines: dataset_type, data_root,
# data_preprocessor, train_pipeline, train_dataloader. Labelled loaders for
# kNN are in cifar10_knn.py (only knn_* names, combinable with this file);
# linear evaluation uses cifar10_linear.py instead of this file.
#
# data_root holds the standard python version, unpacked:
# data/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
# (mmpretrain's CIFAR10 checks their md5 sums; download=False so a missing
# copy is an error, not a download). The paper's batch is 512.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)

train_pipeline = [
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
