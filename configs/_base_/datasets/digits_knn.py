# The UCI digits that ship with scikit-learn, labelled and unaugmented, as
# `python tools/prepare_demo_data.py` writes them:
# data/digits/{train,val}/<class>/<index>.png (32 x 32 greyscale), read by
# mmpretrain's CustomDataset (the class is the sub-folder name).
# knn_train_dataloader (train, the memory bank of the weighted kNN monitor)
# and knn_val_dataloader (val, the queries). The Resize keeps 32 px whatever
# --size the data was prepared at. The base of digits_simsiam.py (the CPU
# demo's pretraining) and digits_linear.py (linear evaluation), which take
# dataset_type, data_root and the statistics of data_preprocessor from
# here.
#
# mean/std: the statistics of the prepared 32 px training images (grey, so
# the same for the three channels).
dataset_type = 'CustomDataset'
data_root = 'data/digits/'
# the pretraining data preprocessor: normalisation on the device (every
# pipeline of this project yields uint8 RGB: to_rgb=False); mmengine's
# Runner copies a top-level data_preprocessor into a model without one
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[79.65, 79.65, 79.65],
    std=[90.81, 90.81, 90.81],
    to_rgb=False)

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
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=knn_pipeline))
# the same, on the val folder
knn_val_dataloader = dict(
    knn_train_dataloader,
    dataset=dict(knn_train_dataloader['dataset'], data_prefix='val'))
