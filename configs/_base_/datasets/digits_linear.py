# Labelled digits for linear evaluation of the demo: train
# RandomResizedCrop(32) + flip, test the plain 32 px images of the kNN
# loaders. Defines the runner's own keys (data_preprocessor,
# train_pipeline, train/val/test_dataloader, val/test_evaluator), so a
# linear config inherits this file *instead of* digits_simsiam.py.
_base_ = './digits_knn.py'

# the kNN root's statistics, for a classifier
data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=10)

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# the kNN loaders: train shuffled and augmented, val as it is
train_dataloader = dict(
    _base_.knn_train_dataloader, batch_size=128, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
val_dataloader = _base_.knn_val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
