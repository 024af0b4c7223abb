# SimSiam, ResNet-50, ImageNet, 100 epochs (arXiv 2011.10566, Table 4:
# linear top-1 68.1): 8 GPUs x 32 = batch 256, SGD lr 0.05, momentum 0.9,
# weight decay 1e-4, cosine, the predictor's lr constant, SyncBN, zero-init
# residual (_base_/simsiam_r50_in1k.py). Writes
# work_dirs/simsiam_r50_8xb32/epoch_100.pth.
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32.py 8
_base_ = '_base_/simsiam_r50_in1k.py'

train_cfg = dict(max_epochs=100)
