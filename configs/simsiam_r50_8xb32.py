# SimSiam, ResNet-50, ImageNet, 100 epochs (arXiv 2011.10566, Table 4:
# linear top-1 68.1): 8 GPUs x 32 = batch 256, SGD lr 0.05 x 256 / 256,
# momentum 0.9, weight decay 1e-4, cosine, the predictor's lr constant,
# SyncBN, zero-init residual.
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32.py 8
_base_ = [
    '_base_/models/simsiam_r50.py',
    '_base_/datasets/imagenet_simsiam.py',
    '_base_/datasets/imagenet_knn.py',
    '_base_/schedules/imagenet_sgd_coslr_100e.py',
    '_base_/default_runtime.py',
]

# 8 processes x 32 images; the data preprocessor of the dataset config
# (normalisation on the device) replaces the model's default one
train_dataloader = dict(batch_size=_base_.batch_size // 8)
model = dict(data_preprocessor=_base_.data_preprocessor)
