# SimSiam pretraining schedule (Sec. 4 of arXiv 2011.10566): SGD, momentum
# 0.9, weight decay 1e-4 on every parameter, lr = base_lr x batch / 256,
# cosine decay per epoch, no warmup. The predictor's lr stays at its initial
# value (SimSiamOptimWrapperConstructor + FixedLRHook, Table 1c).
# 400 epochs, batch 256: ImageNet linear 70.8 (Table 4).
# A config with another total batch sets batch_size and restates
#     optim_wrapper = dict(optimizer=dict(lr=base_lr * batch_size / 256))
#     auto_scale_lr = dict(base_batch_size=batch_size)
base_lr = 0.05  # for a total batch of 256
batch_size = 256  # total, all processes
lr = base_lr * batch_size / 256
weight_decay = 1e-4
max_epochs = 400

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

# ResumableEpochBasedTrainLoop: mmengine's epoch loop, resumable mid-epoch
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)

# --auto-scale-lr: lr x (actual total batch) / base_batch_size, i.e. the
# linear scaling rule from the batch this schedule's lr was set for
auto_scale_lr = dict(base_batch_size=batch_size)
