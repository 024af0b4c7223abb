# The CPU demo: SimSiam on the UCI digits that ship with scikit-learn
# (tools/prepare_demo_data.py writes them to data/digits), with the CIFAR
# recipe of Appendix D scaled down to minutes on 2 CPU cores: a CIFAR
# ResNet-18 (3x3 stem, no max-pool) at half width (32 base channels),
# 2-layer projector, 2048 -> 512 -> 2048 predictor, SGD with a constant
# predictor lr, cosine, 32 px views without blur, batch 64, 5 epochs.
# base_lr is higher than CIFAR's 0.03 because the run is under two hundred
# iterations long; the demo's budget is tuned through max_epochs. The demo
# (tools/demo.py, which writes work_dirs/demo/epoch_5.pth) and the ablation
# configs (configs/ablations/) inherit it.
#
#   python tools/prepare_demo_data.py
#   python tools/train.py configs/simsiam_r18-cifar_1xb64_digits-demo.py
_base_ = [
    '_base_/models/simsiam_r18_cifar.py',
    '_base_/datasets/digits_simsiam.py',
    '_base_/schedules/sgd_coslr.py',
    '_base_/default_runtime.py',
]

base_lr = 0.2  # for a total batch of 256: lr 0.05 at batch 64
batch_size = 64  # one process
optim_wrapper = dict(
    optimizer=dict(lr=base_lr * batch_size / 256, weight_decay=5e-4))
auto_scale_lr = dict(base_batch_size=batch_size)
train_cfg = dict(max_epochs=5)
train_dataloader = dict(batch_size=batch_size)

width = 32  # half of ResNet-18's 64: four times fewer FLOPs
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
