# SimSiam pretraining data for the offline demo: the digits of digits_knn.py
# read without labels through mmpretrain's CustomDataset, exactly as a
# user's own folder of images would be (point data_root/data_prefix at it),
# with the CIFAR views of Appendix D (../simsiam_views.py at 32 px, no blur).
# Defines train_pipeline and train_dataloader; data_preprocessor and the
# kNN monitor's labelled loaders come from digits_knn.py.
_base_ = ['./digits_knn.py', '../simsiam_views.py']

views = dict(_base_.views, size=32, blur_prob=0.)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(type='SimSiamViews', **views),
    dict(type='PackInputs'),
]

# the memory bank's loader, shuffled, unlabelled, with the views
train_dataloader = dict(
    _base_.knn_train_dataloader, batch_size=64, drop_last=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(
        _base_.knn_train_dataloader.dataset,
        with_label=False,
        pipeline=train_pipeline))
