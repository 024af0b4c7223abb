# SimSiam, ResNet-50, ImageNet, 800 epochs (arXiv 2011.10566, Table 4:
# linear top-1 71.3): 8 GPUs x 32 = batch 256, lr 0.05, weight decay 1e-4,
# cosine, the predictor's lr constant, SyncBN, zero-init residual.
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32-coslr-800e_in1k.py 8
_base_ = [
    '_base_/models/simsiam_r50.py',
    '_base_/datasets/imagenet_simsiam.py',
    '_base_/datasets/imagenet_knn.py',
    '_base_/schedules/imagenet_sgd_coslr_800e.py',
    '_base_/default_runtime.py',
]

# 8 processes x 32 images; the data preprocessor of the dataset config
# (normalisation on the device) replaces the model's default one
train_dataloader = dict(batch_size=_base_.batch_size // 8)
model = dict(data_preprocessor=_base_.data_preprocessor)
