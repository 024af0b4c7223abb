# SimSiam, ResNet-50, ImageNet, 200 epochs, the recipe "optimal for
# transfer" (arXiv 2011.10566, Table 5: VOC07+12 AP50 82.4, COCO box AP
# 39.2): lr 0.5 at batch 256 and weight decay 1e-5 instead of 0.05 / 1e-4;
# everything else as the 200-epoch recipe (_base_/simsiam_r50_in1k.py).
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32-coslr-200e-optimal_in1k.py 8
_base_ = '_base_/simsiam_r50_in1k.py'

base_lr = 0.5  # for a total batch of 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr * _base_.batch_size / 256, weight_decay=1e-5))
train_cfg = dict(max_epochs=200)
