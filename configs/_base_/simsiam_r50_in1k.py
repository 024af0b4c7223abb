# SimSiam, ResNet-50, ImageNet (Sec. 3 of arXiv 2011.10566), everything
# but the length: the model with SyncBN and zero-init residual, the views,
# the kNN monitor, the runtime, and the schedule with the paper's numbers:
# batch 256 = 8 GPUs x 32, SGD lr 0.05 x 256 / 256, weight decay 1e-4,
# cosine, the predictor's lr constant. A recipe sets train_cfg.max_epochs
# (the cosine follows it).
_base_ = [
    'models/simsiam_r50.py',
    'datasets/imagenet_simsiam.py',
    'schedules/sgd_coslr.py',
    'default_runtime.py',
]

base_lr = 0.05  # for a total batch of 256
batch_size = 256  # total: 8 processes x 32
optim_wrapper = dict(
    optimizer=dict(lr=base_lr * batch_size / 256, weight_decay=1e-4))
# --auto-scale-lr: lr x (actual total batch) / base_batch_size
auto_scale_lr = dict(base_batch_size=batch_size)
train_dataloader = dict(batch_size=batch_size // 8)

# the dataset config's data preprocessor (normalisation on the device)
# replaces the model's default one
model = dict(data_preprocessor=_base_.data_preprocessor)
