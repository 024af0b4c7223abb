# SimSiam, ResNet-50, ImageNet, 100 epochs at the ablations' batch 512
# (arXiv 2011.10566, Sec. 4; official checkpoint 68.1): 8 GPUs x 64,
# lr 0.05 x 512 / 256 = 0.1, weight decay 1e-4, cosine, the predictor's lr
# constant, SyncBN, zero-init residual.
#
#   tools/dist_train.sh configs/simsiam_r50_8xb64-coslr-100e_in1k.py 8
_base_ = [
    '_base_/models/simsiam_r50.py',
    '_base_/datasets/imagenet_simsiam.py',
    '_base_/datasets/imagenet_knn.py',
    '_base_/schedules/imagenet_sgd_coslr_100e.py',
    '_base_/default_runtime.py',
]

batch_size = 512  # total
lr = _base_.base_lr * batch_size / 256  # 0.1
optim_wrapper = dict(optimizer=dict(lr=lr))
auto_scale_lr = dict(base_batch_size=batch_size)

# 8 processes x 64 images; the data preprocessor of the dataset config
# (normalisation on the device) replaces the model's default one
train_dataloader = dict(batch_size=batch_size // 8)
model = dict(data_preprocessor=_base_.data_preprocessor)
