# SimSiam for CIFAR-10 (Appendix D of arXiv 2011.10566): the model of
# simsiam_r50.py with the CIFAR ResNet-18 (3x3 stem, stride 1, no
# max-pool) and a 2-layer projection MLP on its 512-d pooled features (2048-d
# output); the 2048 -> 512 -> 2048 predictor as for ImageNet; plain BN.
_base_ = './simsiam_r50.py'

model = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, num_layers=2, norm_cfg=dict(type='BN1d')),
    head=dict(norm_cfg=dict(type='BN1d')))
