# SimSiam pretraining data: ImageNet, two views per image (arXiv
# 2011.10566, the recipe of ../simsiam_views.py). Defines train_pipeline
# and train_dataloader; data_preprocessor and the kNN monitor's labelled
# loaders come from imagenet_knn.py. The paper's batch is 256 (8 GPUs x
# 32). With skip_bad_images=True, unreadable files are logged and replaced
# by another sample instead of stopping training.
_base_ = ['./imagenet_knn.py', '../simsiam_views.py']

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(type='SimSiamViews', **_base_.views),
    dict(type='PackInputs'),
]

# the memory bank's loader, shuffled, with the views
train_dataloader = dict(
    _base_.knn_train_dataloader, batch_size=32, drop_last=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
