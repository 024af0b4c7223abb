# CIFAR-10, labelled and unaugmented: knn_train_dataloader (the 50k
# training images, the memory bank of the weighted kNN monitor) and
# knn_val_dataloader (the 10k test images, the queries); images come out
# uint8 RGB for the model's data preprocessor. The base of
# cifar10_simsiam.py (pretraining) and cifar10_linear.py (linear
# evaluation), which take dataset_type, data_root and the
# statistics of data_preprocessor from here.
#
# data_root holds the standard python version, unpacked:
# data/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
# (mmpretrain's CIFAR10 checks their md5 sums; download=False so a missing
# copy is an error, not a download).
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'
# the pretraining data preprocessor: normalisation on the device (every
# pipeline of this project yields uint8 RGB: to_rgb=False); mmengine's
# Runner copies a top-level data_preprocessor into a model without one
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)

knn_pipeline = [dict(type='PackInputs')]

knn_train_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        download=False,
        pipeline=knn_pipeline))
# the same, on the test split
knn_val_dataloader = dict(
    knn_train_dataloader,
    dataset=dict(knn_train_dataloader['dataset'], split='test'))
