# Linear classifier on a frozen SimSiam CIFAR ResNet-18 (Appendix D's
# backbone: 3x3 stem, no max-pool): all stages frozen with BN in eval mode,
# global average pooling, one fc layer initialised N(0, 0.01) with zero bias.
# The backbone comes from the pretraining checkpoint named by the config
# variable `checkpoint` (the top-level config sets it; LinearEvalHook loads
# it and checks it).
checkpoint = None

# ImageClassifier, LARS, Accuracy, ... are mmpretrain's (the simsiam_mm
# scope's parent); a lookup through our child registries does not trigger
# mmpretrain's lazy imports, so import them here for any launcher.
custom_imports = dict(
    imports=[
        'simsiam_mm', 'mmpretrain.datasets', 'mmpretrain.engine',
        'mmpretrain.evaluation', 'mmpretrain.models'
    ],
    allow_failed_imports=False)
num_classes = 10

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        norm_cfg=dict(type='BN'),
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))
