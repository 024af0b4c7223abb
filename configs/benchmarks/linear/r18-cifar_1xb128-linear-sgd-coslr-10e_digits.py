# Linear evaluation of the CPU demo (configs/simsiam_r18-cifar_1xb64_digits-
# demo.py) on the UCI digits of tools/prepare_demo_data.py: frozen CIFAR
# ResNet-18 at the demo's half width with BN in eval mode, fc N(0, 0.01)
# (_base_/linear.py), SGD lr 0.1, momentum 0.9, weight decay 0, cosine over
# 10 epochs, trained on the plain 32 px images (no RandomResizedCrop + flip:
# on 8x8 digits upsampled to 32 px they cost the linear layer accuracy;
# docs/configs.md). A few minutes on 2 CPU cores.
#
#   SIMSIAM_CKPT=work_dirs/demo/epoch_5.pth python tools/train.py \
#   configs/benchmarks/linear/r18-cifar_1xb128-linear-sgd-coslr-10e_digits.py
_base_ = ['_base_/linear.py', '../../_base_/datasets/digits_linear.py']

# the demo recipe's half width; 64 for a full-width CIFAR ResNet-18
width = 32
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        stem_channels=width,
        base_channels=width,
        norm_cfg=dict(type='BN')),
    head=dict(num_classes=10, in_channels=width * 8, topk=(1, )))

batch_size = 128
train_dataloader = dict(
    batch_size=batch_size, dataset=dict(pipeline=_base_.knn_pipeline))
optim_wrapper = dict(optimizer=dict(lr=0.1))
auto_scale_lr = dict(base_batch_size=batch_size)
train_cfg = dict(max_epochs=10, val_interval=5)

default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
