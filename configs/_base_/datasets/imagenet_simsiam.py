# SimSiam pretraining data: ImageNet, two views per image (arXiv
# 2011.10566, the recipe of ../simsiam_views.py). Defines
# data_preprocessor, train_pipeline and train_dataloader, and brings the kNN
# monitor's labelled loaders of imagenet_knn.py. The paper's batch is 256
# (8 GPUs x 32).
#
# Every pipeline of this project yields uint8 RGB; the data preprocessor
# normalises on the device (to_rgb=False). The model config takes it over:
# mmengine's Runner copies a top-level data_preprocessor into the model
# unless the model sets its own. With skip_bad_images=True, unreadable files
# are logged and replaced by another sample instead of stopping training.
_base_ = ['./imagenet_knn.py', '../simsiam_views.py']

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=_base_.mean,
    std=_base_.std,
    to_rgb=False)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(type='SimSiamViews', **_base_.views),
    dict(type='PackInputs'),
]

# the memory bank's loader, shuffled, with the views
train_dataloader = dict(
    _base_.knn_train_dataloader, batch_size=32, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
