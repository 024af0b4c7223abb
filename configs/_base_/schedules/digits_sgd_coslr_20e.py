# Schedule of the transfer demo's pretraining (UCI digits, CPU): the demo
# schedule (digits_sgd_coslr_demo.py: the CIFAR recipe of Appendix D with
# SGD, momentum 0.9, weight decay 5e-4, cosine per epoch, constant predictor
# lr, at batch 64) run four times longer, 20 epochs.
base_lr = 0.2  # for a total batch of 256: lr 0.05 at batch 64
batch_size = 64  # total, all processes
lr = base_lr * batch_size / 256
weight_decay = 5e-4
max_epochs = 20

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
