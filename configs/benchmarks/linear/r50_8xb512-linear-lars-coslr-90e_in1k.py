# Linear evaluation of a SimSiam ResNet-50 on ImageNet, the paper's protocol
# (official main_lincls.py --lars, _base_/linear.py): LARS with trust
# coefficient 0.001 and no clipping on every parameter, the fc bias
# included, as the official LARC wrapper adapts every parameter it
# optimises; momentum 0.9, weight decay 0, batch 4096 = 8 GPUs x 512,
# lr 0.1 x 4096 / 256 = 1.6, cosine over 90 epochs; train
# RandomResizedCrop 224 + flip, test resize 256 + centre crop 224. Paper:
# 68.1 top-1 after 100 pretraining epochs (batch 256 or 512).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32/epoch_100.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/linear/r50_8xb512-linear-lars-coslr-90e_in1k.py 8
_base_ = ['_base_/linear.py', '../../_base_/datasets/imagenet_linear.py']

model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(type='ResNet', depth=50),
    head=dict(num_classes=1000, in_channels=2048, topk=(1, 5)))

batch_size = 4096  # total, 8 GPUs x 512
base_lr = 0.1  # per 256 images
train_dataloader = dict(batch_size=batch_size // 8)
optim_wrapper = dict(
    optimizer=dict(type='LARS', lr=base_lr * batch_size / 256, eta=0.001))
auto_scale_lr = dict(base_batch_size=batch_size)
train_cfg = dict(max_epochs=90, val_interval=10)
