# SimSiam CIFAR-10 schedule (Appendix D of arXiv 2011.10566): SGD, momentum
# 0.9, weight decay 5e-4, lr = 0.03 x batch / 256 with batch 512, cosine
# decay per epoch, 800 epochs, no warmup; the predictor's lr stays at its
# initial value. Linear accuracy 91.8.
base_lr = 0.03  # for a total batch of 256
batch_size = 512  # total, all processes
lr = base_lr * batch_size / 256
weight_decay = 5e-4
max_epochs = 800

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SimSiamOptimWrapperConstructor',
    paramwise_cfg=dict(fix_predictor_lr=True),
    optimizer=dict(
        type='SGD', lr=lr, momentum=0.9, weight_decay=weight_decay))

param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)

auto_scale_lr = dict(base_batch_size=batch_size)
