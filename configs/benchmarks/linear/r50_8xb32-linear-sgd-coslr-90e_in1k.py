# Linear evaluation of a SimSiam ResNet-50 on ImageNet with plain SGD, the
# alternative the paper mentions (about 1 point below LARS, and it needs a
# very large lr): batch 256 = 8 GPUs x 32, lr 30, momentum 0.9, weight
# decay 0, cosine over 90 epochs. Frozen backbone, head and augmentation as
# the LARS config (r50_8xb512-linear-lars-coslr-90e_in1k.py).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32/epoch_100.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/linear/r50_8xb32-linear-sgd-coslr-90e_in1k.py 8
_base_ = './r50_8xb512-linear-lars-coslr-90e_in1k.py'

batch_size = 256  # total, 8 GPUs x 32
train_dataloader = dict(batch_size=batch_size // 8)
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='SGD', lr=30., momentum=0.9, weight_decay=0.))
auto_scale_lr = dict(base_batch_size=batch_size)
