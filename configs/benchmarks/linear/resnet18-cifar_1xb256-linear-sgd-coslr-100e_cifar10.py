# Linear evaluation of the CIFAR-10 SimSiam (Appendix D: CIFAR ResNet-18;
# paper 91.8 top-1 after 800 pretraining epochs). The paper gives no CIFAR
# linear recipe; this is the common one of CIFAR SimSiam reproductions:
# frozen backbone with BN in eval mode, fc N(0, 0.01), SGD lr 30 at batch
# 256, momentum 0.9, weight decay 0, cosine over 100 epochs, train
# RandomResizedCrop 32 + flip. One GPU, or a few hours on CPU.
#
#   SIMSIAM_CKPT=work_dirs/<cifar run>/epoch_800.pth \
#       python tools/train.py configs/benchmarks/linear/<this file>
#
# (or --cfg-options checkpoint=PATH; SIMSIAM_CKPT is read by every
# benchmark config, linear, fine-tune and mmdet transfer alike)
_base_ = [
    '_base_/resnet18-cifar_linear.py',
    '../../_base_/datasets/cifar10_linear.py',
    '../../_base_/default_runtime.py',
]

checkpoint = '{{$SIMSIAM_CKPT:work_dirs/simsiam_r18-cifar_1xb512-coslr-800e_cifar10/epoch_800.pth}}'  # noqa: E501
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(init_cfg=dict(checkpoint=checkpoint)))

batch_size = 256
lr = 30.
max_epochs = 100

train_dataloader = dict(batch_size=batch_size)

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
    logger=dict(interval=50), checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='LinearEvalHook'), dict(type='NaNGuardHook')]
randomness = dict(seed=0)
