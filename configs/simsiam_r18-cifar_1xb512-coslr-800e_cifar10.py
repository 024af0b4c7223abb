# SimSiam on CIFAR-10 (arXiv 2011.10566, Appendix D: linear accuracy 91.8):
# the CIFAR ResNet-18 (3x3 stem, no max-pool), 2-layer projector with 2048-d
# output, the 2048 -> 512 -> 2048 predictor; batch 512, SGD lr
# 0.03 x 512 / 256, momentum 0.9, weight decay 5e-4, cosine, 800 epochs,
# 32 px views without blur. Writes
# work_dirs/simsiam_r18-cifar_1xb512-coslr-800e_cifar10/epoch_800.pth.
#
#   python tools/train.py \
#       configs/simsiam_r18-cifar_1xb512-coslr-800e_cifar10.py
_base_ = [
    '_base_/models/simsiam_r18_cifar.py',
    '_base_/datasets/cifar10_simsiam.py',
    '_base_/schedules/sgd_coslr.py',
    '_base_/default_runtime.py',
]

base_lr = 0.03  # for a total batch of 256
batch_size = 512  # one process
optim_wrapper = dict(
    optimizer=dict(lr=base_lr * batch_size / 256, weight_decay=5e-4))
auto_scale_lr = dict(base_batch_size=batch_size)
train_cfg = dict(max_epochs=800)
train_dataloader = dict(batch_size=batch_size)
model = dict(data_preprocessor=_base_.data_preprocessor)

# 97 iterations per epoch
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=50, latest_interval=500))
