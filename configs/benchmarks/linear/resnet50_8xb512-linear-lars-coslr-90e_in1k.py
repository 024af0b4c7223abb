# Linear evaluation of a SimSiam ResNet-50 on ImageNet, the paper's protocol
# (Sec. 4, official main_lincls.py --lars): frozen backbone with BN in eval
# mode, fc N(0, 0.01), LARS (trust coefficient 0.001, momentum 0.9, weight
# decay 0, the bias not LARS-scaled as in the official optimizer), batch
# 4096 = 8 GPUs x 512, lr 0.1 x 4096 / 256 = 1.6, cosine over 90 epochs;
# train RandomResizedCrop 224 + flip, test resize 256 + centre crop 224.
# Paper: 68.1 top-1 after 100 pretraining epochs (batch 256 or 512).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32/epoch_100.pth \
#       tools/dist_train.sh configs/benchmarks/linear/<this file> 8
#
# (or --cfg-options checkpoint=PATH; SIMSIAM_CKPT is read by every
# benchmark config, linear, fine-tune and mmdet transfer alike)
#
# LinearEvalHook loads `checkpoint` (a missing file is an error) and checks
# after training that every backbone weight and BN statistic is unchanged.
_base_ = [
    '_base_/resnet50_linear.py',
    '../../_base_/datasets/imagenet_linear.py',
    '../../_base_/default_runtime.py',
]

checkpoint = '{{$SIMSIAM_CKPT:work_dirs/simsiam_r50_8xb32/epoch_100.pth}}'
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(init_cfg=dict(checkpoint=checkpoint)))

batch_size = 4096  # total, 8 GPUs x 512
base_lr = 0.1  # per 256 images
lr = base_lr * batch_size / 256
max_epochs = 90

train_dataloader = dict(batch_size=batch_size // 8)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='LARS', lr=lr, momentum=0.9, weight_decay=0., eta=0.001),
    paramwise_cfg=dict(custom_keys={'bias': dict(lars_exclude=True)}))
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
    logger=dict(interval=50), checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='LinearEvalHook'), dict(type='NaNGuardHook')]
