# SimSiam, ResNet-50, ImageNet, 100 epochs at the ablations' batch 512
# (arXiv 2011.10566, Sec. 3; official checkpoint 68.1): 8 GPUs x 64,
# lr 0.05 x 512 / 256 = 0.1; everything else as simsiam_r50_8xb32.py
# (_base_/simsiam_r50_in1k.py).
#
#   tools/dist_train.sh configs/simsiam_r50_8xb64-coslr-100e_in1k.py 8
_base_ = '_base_/simsiam_r50_in1k.py'

batch_size = 512  # total
optim_wrapper = dict(optimizer=dict(lr=_base_.base_lr * batch_size / 256))
auto_scale_lr = dict(base_batch_size=batch_size)
train_dataloader = dict(batch_size=batch_size // 8)
train_cfg = dict(max_epochs=100)
