# Linear evaluation of a SimSiam ResNet-50 on ImageNet with plain SGD, the
# alternative the paper mentions (about 1 point below LARS, and it needs a
# very large lr): batch 256 = 8 GPUs x 32, lr 30, momentum 0.9, weight decay
# 0, cosine over 90 epochs. Same frozen backbone, head and augmentation as
# the LARS config.
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32/epoch_100.pth \
#       tools/dist_train.sh configs/benchmarks/linear/<this file> 8
#
# (or --cfg-options checkpoint=PATH; SIMSIAM_CKPT is read by every
# benchmark config, linear, fine-tune and mmdet transfer alike)
_base_ = [
    '_base_/resnet50_linear.py',
    '../../_base_/datasets/imagenet_linear.py',
    '../../_base_/default_runtime.py',
]

checkpoint = '{{$SIMSIAM_CKPT:work_dirs/simsiam_r50_8xb32/epoch_100.pth}}'
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(init_cfg=dict(checkpoint=checkpoint)))

batch_size = 256  # total, 8 GPUs x 32
lr = 30.
max_epochs = 90

train_dataloader = dict(batch_size=batch_size // 8)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=batch_size)

default_hooks = dict(
    logger=dict(interval=100), checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='LinearEvalHook'), dict(type='NaNGuardHook')]
