# Schedule of the CPU demo (UCI digits, minutes on 2 cores): the CIFAR
# recipe of Appendix D (SGD, momentum 0.9, weight decay 5e-4, cosine per
# epoch, constant predictor lr) shortened to `max_epochs`, at batch 64.
# base_lr is higher than CIFAR's 0.03 because the run is under two hundred
# iterations long; the demo's budget is tuned through max_epochs.
base_lr = 0.2  # for a total batch of 256: lr 0.05 at batch 64
batch_size = 64  # total, all processes
lr = base_lr * batch_size / 256
weight_decay = 5e-4
max_epochs = 5

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
