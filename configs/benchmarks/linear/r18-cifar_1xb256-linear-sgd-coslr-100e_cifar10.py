# Linear evaluation of the CIFAR-10 SimSiam (Appendix D: CIFAR ResNet-18;
# paper 91.8 top-1 after 800 pretraining epochs). The paper gives no CIFAR
# linear recipe; this is the common one of CIFAR SimSiam reproductions:
# frozen backbone with BN in eval mode, fc N(0, 0.01) (_base_/linear.py),
# SGD lr 30 at batch 256, momentum 0.9, weight decay 0, cosine over 100
# epochs, train RandomResizedCrop 32 + flip. One GPU, or a few hours on
# CPU.
#
#   RUN=work_dirs/simsiam_r18-cifar_1xb512-coslr-800e_cifar10
#   SIMSIAM_CKPT=$RUN/epoch_800.pth python tools/train.py \
#   configs/benchmarks/linear/r18-cifar_1xb256-linear-sgd-coslr-100e_cifar10.py
_base_ = ['_base_/linear.py', '../../_base_/datasets/cifar10_linear.py']

model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='BN')),
    head=dict(num_classes=10, in_channels=512, topk=(1, )))

batch_size = 256
train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(optimizer=dict(lr=30.))
auto_scale_lr = dict(base_batch_size=batch_size)
train_cfg = dict(max_epochs=100, val_interval=10)
randomness = dict(seed=0)
