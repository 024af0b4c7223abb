# SimSiam pretraining data on ImageNet with the views drawn on the training
# device, for GPU training where the CPU workers cannot keep up with
# imagenet_simsiam.py: use this file instead of that one (same names).
#
# The workers only decode and resize every image to a fixed 384 x 384
# (about ImageNet's native resolution); SimSiamDeviceAugPreprocessor then
# draws the two views per image on the device from the same recipe
# (../simsiam_views.py), with the crops drawn in the original image's
# coordinates (ori_shape), so the crop distribution, aspect ratios
# included, is the CPU pipeline's.
_base_ = './imagenet_simsiam.py'

data_preprocessor = dict(
    type='SimSiamDeviceAugPreprocessor', non_blocking=True, **_base_.views)

train_pipeline = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=False),
    dict(
        type='Resize',
        scale=(384, 384),
        keep_ratio=False,
        interpolation='area'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
