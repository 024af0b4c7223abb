# SimSiam for CIFAR-10 (Appendix D of arXiv 2011.10566): the CIFAR
# ResNet-18 (3x3 stem, stride 1, no max-pool), a 2-layer projection MLP with
# 2048-d output, and the usual 2048 -> 512 -> 2048 predictor.
dim = 2048
norm_cfg = dict(type='BN')
model = dict(
    type='SimSiam',
    data_preprocessor=dict(type='SelfSupDataPreprocessor'),
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        norm_cfg=norm_cfg,
        zero_init_residual=True),
    neck=dict(
        type='SimSiamProjector',
        in_channels=512,
        hid_channels=dim,
        out_channels=dim,
        num_layers=2),
    head=dict(
        type='SimSiamPredictor',
        in_channels=dim,
        hid_channels=dim // 4,
        out_channels=dim),
)
