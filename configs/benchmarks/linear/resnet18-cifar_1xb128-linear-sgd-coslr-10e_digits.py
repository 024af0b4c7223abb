# Linear evaluation of the CPU demo (configs/simsiam_r18-cifar_1xb64_
# digits-demo.py) on the UCI digits of tools/prepare_demo_data.py: frozen
# CIFAR ResNet-18 with BN in eval mode, fc N(0, 0.01), SGD momentum 0.9,
# weight decay 0, cosine over 10 epochs, on the plain 32 px images. A few
# minutes on 2 CPU cores. Not the ImageNet augmentation: on 8x8 digits
# upsampled to 32 px, RandomResizedCrop + flip cost the linear layer of a
# 4-epoch demo model 25 points (about 43 % vs 69 % top-1, cached features).
# lr 0.1: within a point of the best of 0.01-1.0 there; 0.3 reaches the
# same accuracy after loss spikes and 1.0 diverges (pooled features of the
# demo have norms near 10).
#
#   SIMSIAM_CKPT=work_dirs/demo/epoch_5.pth \
#       python tools/train.py configs/benchmarks/linear/<this file>
#
# (or --cfg-options checkpoint=PATH; SIMSIAM_CKPT is read by every
# benchmark config, linear, fine-tune and mmdet transfer alike)
_base_ = [
    '_base_/resnet18-cifar_linear.py',
    '../../_base_/datasets/digits_linear.py',
    '../../_base_/default_runtime.py',
]

checkpoint = '{{$SIMSIAM_CKPT:work_dirs/demo/epoch_5.pth}}'
# the demo recipe's half width (configs/simsiam_r18-cifar_1xb64_digits-
# demo.py); 64 for a full-width CIFAR ResNet-18 pretraining
width = 32
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(
        stem_channels=width,
        base_channels=width,
        init_cfg=dict(checkpoint=checkpoint)),
    head=dict(in_channels=width * 8))

batch_size = 128
lr = 0.1
max_epochs = 10

train_dataloader = dict(
    batch_size=batch_size, dataset=dict(pipeline=_base_.test_pipeline))

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
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=batch_size)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='LinearEvalHook'), dict(type='NaNGuardHook')]
randomness = dict(seed=0)
