# The pretraining of `make transfer-demo` (tools/transfer_demo.py): the CPU
# demo recipe (configs/simsiam_r18-cifar_1xb64_digits-demo.py: half-width
# CIFAR ResNet-18, 2-layer projector, 2048 -> 512 -> 2048 predictor, 32 px
# views without blur, batch 64) trained 20 epochs instead of 5 on the
# unlabelled pool, the train side of data/digits (no validation digit).
# Its backbone.* starts the digits detector
# (configs/benchmarks/mmdet/faster-rcnn_r18-cifar-fpn_*_digits-det.py).
#
#   python tools/prepare_demo_data.py
#   python tools/train.py configs/simsiam_r18-cifar_1xb64-coslr-20e_digits.py
_base_ = [
    '_base_/models/simsiam_r18_cifar.py',
    '_base_/datasets/digits_simsiam.py',
    '_base_/datasets/digits_knn.py',
    '_base_/schedules/digits_sgd_coslr_20e.py',
    '_base_/default_runtime.py',
]

width = 32  # half of ResNet-18's 64, as the demo
train_dataloader = dict(batch_size=_base_.batch_size)
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(stem_channels=width, base_channels=width),
    neck=dict(in_channels=width * 8))

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(
        interval=_base_.max_epochs, max_keep_ckpts=1, latest_interval=None))
custom_hooks = [
    dict(type='FixedLRHook'),
    dict(type='NaNGuardHook'),
    dict(type='CollapseMonitorHook'),
    dict(type='KNNMonitorHook', interval=5, k=(20, 200)),
]

randomness = dict(seed=0)
