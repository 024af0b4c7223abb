# SimSiam, ResNet-50, ImageNet, 800 epochs (arXiv 2011.10566, Table 4:
# linear top-1 71.3): the 100-epoch recipe of simsiam_r50_8xb32.py trained
# longer (_base_/simsiam_r50_in1k.py).
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32-coslr-800e_in1k.py 8
_base_ = '_base_/simsiam_r50_in1k.py'

train_cfg = dict(max_epochs=800)
