# SimSiam, ResNet-50 (Sec. 3 of arXiv 2011.10566, baseline settings).
# Projector: 3 fc, hidden/out 2048, BN on every fc, output BN without affine.
# Predictor: 2048 -> 512 -> 2048 bottleneck, BN on the hidden fc only.
dim = 2048
norm_cfg = dict(type='SyncBN')  # converted to BN on CPU / single process
model = dict(
    type='SimSiam',
    data_preprocessor=dict(type='SelfSupDataPreprocessor'),
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=norm_cfg,
        zero_init_residual=True),
    neck=dict(
        type='SimSiamProjector',
        in_channels=2048,
        hid_channels=dim,
        out_channels=dim,
        num_layers=3,
        norm_cfg=norm_cfg),
    head=dict(
        type='SimSiamPredictor',
        in_channels=dim,
        hid_channels=dim // 4,
        out_channels=dim,
        norm_cfg=norm_cfg),
)
