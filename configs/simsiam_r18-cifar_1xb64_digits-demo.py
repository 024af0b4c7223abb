# The CPU demo: SimSiam on the UCI digits that ship with scikit-learn
# (tools/prepare_demo_data.py writes them to data/digits), with the CIFAR
# recipe of Appendix D scaled down to minutes on 2 CPU cores: a CIFAR
# ResNet-18 (3x3 stem, no max-pool) at half width (32 base channels),
# 2-layer projector, 2048 -> 512 -> 2048 predictor, SGD with a constant
# predictor lr, cosine, 32 px views without blur, batch 64. The demo
# (tools/demo.py) and the ablation configs (configs/ablations/) inherit it.
#
#   python tools/prepare_demo_data.py
#   python tools/train.py configs/simsiam_r18-cifar_1xb64_digits-demo.py
_base_ = [
    '_base_/models/simsiam_r18_cifar.py',
    '_base_/datasets/digits_simsiam.py',
    '_base_/datasets/digits_knn.py',
    '_base_/schedules/digits_sgd_coslr_demo.py',
    '_base_/default_runtime.py',
]

width = 32  # half of ResNet-18's 64: four times fewer FLOPs
train_dataloader = dict(batch_size=_base_.batch_size)
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(stem_channels=width, base_channels=width),
    neck=dict(in_channels=width * 8))

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=2, max_keep_ckpts=2, latest_interval=None))
custom_hooks = [
    dict(type='FixedLRHook'),
    dict(type='NaNGuardHook'),
    dict(type='CollapseMonitorHook'),
    dict(type='KNNMonitorHook', interval=2, k=(20, 200)),
]

randomness = dict(seed=0)
