# SimSiam pretraining data: CIFAR-10 (Appendix D of arXiv 2011.10566): the
# views of ../simsiam_views.py at 32 px, without blur. Defines
# train_pipeline and train_dataloader; data_preprocessor and the kNN
# monitor's labelled loaders come from cifar10_knn.py. The paper's batch is
# 512.
_base_ = ['./cifar10_knn.py', '../simsiam_views.py']

views = dict(_base_.views, size=32, blur_prob=0.)

train_pipeline = [dict(type='SimSiamViews', **views), dict(type='PackInputs')]

# the memory bank's loader, shuffled, with the views
train_dataloader = dict(
    _base_.knn_train_dataloader, drop_last=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(_base_.knn_train_dataloader.dataset, pipeline=train_pipeline))
