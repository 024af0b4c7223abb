# Fine-tuning the whole SimSiam backbone for classification: mmpretrain's
# ImageClassifier on the UCI digits of tools/prepare_demo_data.py, from the
# CPU demo's pretraining (configs/simsiam_r18-cifar_1xb64_digits-demo.py,
# the CIFAR ResNet-18 of appendix D). Unlike linear evaluation every
# backbone layer trains, BN statistics included; fc N(0, 0.01), SGD
# momentum 0.9, cosine; train RandomResizedCrop 32 + flip, test the plain
# 32 px images. Runs on CPU.
#
#   SIMSIAM_CKPT=work_dirs/demo/epoch_5.pth \
#       python tools/train.py configs/benchmarks/finetune/<this file>
_base_ = [
    '../../_base_/datasets/digits_linear.py',
    '../../_base_/default_runtime.py',
]

# ImageClassifier, Accuracy, ... are mmpretrain's (the simsiam_mm scope's
# parent); a lookup through our child registries does not trigger
# mmpretrain's lazy imports, so import them here for any launcher.
custom_imports = dict(
    imports=[
        'simsiam_mm', 'mmpretrain.datasets', 'mmpretrain.engine',
        'mmpretrain.evaluation', 'mmpretrain.models'
    ],
    allow_failed_imports=False)

# The one place that names the pretrained weights: the environment variable
# SIMSIAM_CKPT, or --cfg-options model.init_cfg.checkpoint=PATH. Unset,
# missing, or not a SimSiam CIFAR ResNet-18 checkpoint: an error at init.
simsiam_checkpoint = '{{$SIMSIAM_CKPT:SIMSIAM_CKPT-unset}}'

num_classes = 10
# the demo recipe's half width (configs/simsiam_r18-cifar_1xb64_digits-
# demo.py); 64 for a full-width CIFAR ResNet-18 pretraining
width = 32
model = dict(
    type='ImageClassifier',
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        stem_channels=width,
        base_channels=width,
        norm_cfg=dict(type='BN')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=width * 8,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)),
    init_cfg=dict(
        type='simsiam_mm.SimSiamPretrained',
        checkpoint=simsiam_checkpoint,
        prefix='backbone.',
        modules=['backbone']))

batch_size = 128
# lr 0.1 gave 53.8 % top-1 vs 40.7 % for 0.02 (from a 5-epoch demo
# pretraining, 10 fine-tuning epochs, one seed each)
lr = 0.1
max_epochs = 10

train_dataloader = dict(batch_size=batch_size)

# SGD over all parameters, cosine decay
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=batch_size)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='NaNGuardHook')]
randomness = dict(seed=0)
