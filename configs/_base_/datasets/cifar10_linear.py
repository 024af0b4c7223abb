# Labelled CIFAR-10 for linear evaluation: train RandomResizedCrop(32) +
# flip (the ImageNet protocol at 32 px), test the plain 32 px images of the
# kNN loaders. Defines the runner's own keys (data_preprocessor,
# train_pipeline, train/val/test_dataloader, val/test_evaluator), so a
# linear config inherits this file *instead of* cifar10_simsiam.py.
_base_ = './cifar10_knn.py'

# the kNN root's statistics, for a classifier
data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=10)

train_pipeline = [
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# the kNN loaders: train shuffled and augmented, test as it is
train_dataloader = dict(
    _base_.knn_train_dataloader, batch_size=256, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
val_dataloader = _base_.knn_val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
