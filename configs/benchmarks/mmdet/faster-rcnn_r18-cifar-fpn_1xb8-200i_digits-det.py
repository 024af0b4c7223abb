# Faster R-CNN with FPN on the digit canvases of `make transfer-demo`
# (tools/prepare_demo_data.py --detection writes data/digits_det/), its
# backbone the half-width CIFAR ResNet-18 of the digits pretraining
# (mmpretrain's ResNet_CIFAR: 3x3 stem, stride 1, no max-pool), started
# from a SimSiam checkpoint by the same model-level initializer as the
# VOC/COCO configs (`simsiam_mm.SimSiamPretrained`, checkpoint from the
# environment variable SIMSIAM_CKPT). Nothing frozen but the backbone's BN
# statistics: every weight trains (BN affine included), the running
# mean/var stay those of the pretraining (norm_eval, mmdet's setting for a
# pretrained backbone; see docs/transfer_demo.md for trained statistics).
# FPN, RPN and box head are new. Scored with mmdet's CocoMetric (box AP
# over IoU 0.5:0.95, AP50, ...).
#
#   PRE=simsiam_r18-cifar_1xb64-coslr-20e_digits-16px
#   SIMSIAM_CKPT=work_dirs/$PRE/epoch_20.pth \
#       python tools/train.py configs/benchmarks/mmdet/<this file>
#   # the same detector from random init: no statistics to keep, so BN
#   # statistics are trained (as `make transfer-demo` also does for the
#   # supervised init, whose better setting it is)
#   python tools/train.py configs/benchmarks/mmdet/<this file> \
#       --cfg-options model.init_cfg=None model.backbone.norm_eval=False
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/simsiam_pretrained.py',
]

default_scope = 'mmdet'
# simsiam_mm: the runner, SimSiamPretrained and the safe checkpoint loader;
# mmpretrain.models: ResNet_CIFAR (built as mmpretrain.ResNet_CIFAR)
custom_imports = dict(
    imports=['simsiam_mm', 'mmpretrain.models'], allow_failed_imports=False)
# mmengine's Runner, also on CPU processes, under any train.py
runner_type = 'simsiam_mm.PortableRunner'

# the digits pretraining's backbone: half of ResNet-18's 64 channels
width = 32
# stages 2-4 of the CIFAR ResNet: strides 2, 4, 8 (stage 1 runs at the full
# resolution, too costly for an FPN level on CPU)
out_indices = (1, 2, 3)
strides = [2, 4, 8]
fpn_channels = 64
num_classes = 10
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    # the statistics of the digits pretraining (grey: one value thrice)
    data_preprocessor=dict(
        mean=[79.65, 79.65, 79.65],
        std=[90.81, 90.81, 90.81],
        bgr_to_rgb=False,
        pad_size_divisor=8),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNet_CIFAR',
        depth=18,
        stem_channels=width,
        base_channels=width,
        out_indices=out_indices,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        # the checkpoint's BN statistics are kept (eval-mode BN), the
        # affine parameters train
        norm_eval=True),
    neck=dict(
        in_channels=[width * 2**i for i in out_indices],
        out_channels=fpn_channels,
        num_outs=len(strides)),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        # anchors of 8, 16 and 32 px on the three levels
        anchor_generator=dict(scales=[4], strides=strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=fpn_channels,
            featmap_strides=strides,
            # RoIs under 16 px to stride 2, 16-32 px to 4, larger to 8
            finest_scale=8),
        bbox_head=dict(
            in_channels=fpn_channels,
            fc_out_channels=256,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)),
    # the checkpoint named by SIMSIAM_CKPT (../_base_/simsiam_pretrained.py)
    init_cfg=_base_.simsiam_init)

dataset_type = 'CocoDataset'
data_root = 'data/digits_det/'
metainfo = dict(classes=tuple(str(c) for c in range(num_classes)))
canvas = 64  # px, as written; a larger value upsamples the canvases
backend_args = None

# no flip: a mirrored digit is another glyph
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(canvas, canvas), keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(canvas, canvas), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator

# iteration-based: the same number of updates whatever the labelled-set
# size; AP every `val_interval` iterations draws the curve
max_iters = 200
val_interval = 50
warmup_iters = 50
lr = 0.02
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        T_max=max_iters)
]
auto_scale_lr = dict(base_batch_size=batch_size)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
