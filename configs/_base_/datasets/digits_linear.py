# Labelled digits for linear evaluation of the demo: train
# RandomResizedCrop(32) + flip, test the plain 32 px images; classes are the
# sub-folder names of data/digits/{train,val}. Defines the runner's own
# keys (dataset_type, data_root, data_preprocessor, train_pipeline,
# test_pipeline, train/val/test_dataloader, val/test_evaluator), so a linear
# config inherits this file *instead of* digits_simsiam.py.
dataset_type = 'CustomDataset'
data_root = 'data/digits/'

data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=10,
    mean=[79.65, 79.65, 79.65],
    std=[90.81, 90.81, 90.81],
    to_rgb=False)

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))

val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
