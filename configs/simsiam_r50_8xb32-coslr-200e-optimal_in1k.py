# SimSiam, ResNet-50, ImageNet, 200 epochs, the recipe "optimal for
# transfer" (arXiv 2011.10566, Table 5: VOC07+12 AP50 82.4, COCO box AP
# 39.2): lr 0.5 at batch 256 and weight decay 1e-5 instead of 0.05 / 1e-4;
# everything else as the 200-epoch recipe.
#
#   tools/dist_train.sh configs/simsiam_r50_8xb32-coslr-200e-optimal_in1k.py 8
_base_ = [
    '_base_/models/simsiam_r50.py',
    '_base_/datasets/imagenet_simsiam.py',
    '_base_/datasets/imagenet_knn.py',
    '_base_/schedules/imagenet_sgd_coslr_200e.py',
    '_base_/default_runtime.py',
]

base_lr = 0.5  # for a total batch of 256
weight_decay = 1e-5
optim_wrapper = dict(
    optimizer=dict(
        lr=base_lr * _base_.batch_size / 256, weight_decay=weight_decay))

# 8 processes x 32 images; the data preprocessor of the dataset config
# (normalisation on the device) replaces the model's default one
train_dataloader = dict(batch_size=_base_.batch_size // 8)
model = dict(data_preprocessor=_base_.data_preprocessor)
