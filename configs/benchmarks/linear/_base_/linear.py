# Linear classification on a frozen SimSiam backbone, the protocol of the
# paper and of the official main_lincls.py: every stage frozen
# (frozen_stages=4) with BN in eval mode (norm_eval=True), global average
# pooling of the last stage, one fc layer initialised N(0, 0.01) with zero
# bias, momentum 0.9, weight decay 0, cosine to the end of training. The
# backbone comes from SIMSIAM_CKPT (../../_base_/simsiam_pretrained.py);
# LinearEvalHook then checks, after loading and after training, that every
# backbone weight and BN statistic equals the checkpoint's, bit for bit.
#
# A config adds the backbone type, the data (a *_linear.py dataset base),
# head=dict(num_classes, in_channels, topk), the optimizer's lr (and type),
# the batch and train_cfg.max_epochs.
_base_ = [
    '../../../_base_/default_runtime.py',
    '../../_base_/simsiam_pretrained.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(frozen_stages=4, norm_eval=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)),
    init_cfg=_base_.simsiam_init)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', momentum=0.9, weight_decay=0.))
# no end and no T_max: mmengine ends the cosine at train_cfg.max_epochs
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0)]
train_cfg = dict(type='EpochBasedTrainLoop')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

custom_hooks = [dict(type='LinearEvalHook'), dict(type='NaNGuardHook')]
