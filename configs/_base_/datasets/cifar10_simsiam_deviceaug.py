# SimSiam pretraining data on CIFAR-10 with the views drawn on the training
# device (Appendix D recipe: 32 px, no blur): use this file instead of
# cifar10_simsiam.py (same names). The workers only pack the stored
# 32 x 32 uint8 images; SimSiamDeviceAugPreprocessor draws both views per
# image on the device.
_base_ = './cifar10_simsiam.py'

data_preprocessor = dict(
    type='SimSiamDeviceAugPreprocessor', non_blocking=True, **_base_.views)

train_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
