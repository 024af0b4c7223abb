# Labelled ImageNet for linear evaluation (arXiv 2011.10566 and the
# official main_lincls.py): train RandomResizedCrop(224) + flip, test the
# kNN loaders' resize 256 + centre crop 224, both with PIL resizing as
# torchvision does. Defines the runner's own keys (data_preprocessor,
# train_pipeline, train/val/test_dataloader, val/test_evaluator), so a
# linear config inherits this file *instead of* imagenet_simsiam.py. The
# paper's batch is 4096 in total: the linear config sets
# train_dataloader.batch_size per GPU to match.
_base_ = './imagenet_knn.py'

# the kNN root's statistics, for a classifier
data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=1000)

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# the kNN loaders: train shuffled and augmented, val as it is
train_dataloader = dict(
    _base_.knn_train_dataloader, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
val_dataloader = _base_.knn_val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
