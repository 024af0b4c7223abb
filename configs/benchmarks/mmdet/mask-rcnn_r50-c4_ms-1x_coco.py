# Mask R-CNN R50-C4 on COCO, 1x schedule, from a SimSiam backbone: the
# protocol of Table 5 of arXiv 2011.10566 in mmdet 3.3 terms. Paper, 200-ep
# SimSiam: box AP50 57.5 / AP 37.9 / AP75 40.9, mask AP50 54.2 / AP 33.2 /
# AP75 35.2 (ImageNet supervised: box 58.2 / 38.2 / 41.2, mask 54.7 / 33.3 /
# 35.2).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50/epoch_200.pth \
#       tools/dist_train.sh configs/benchmarks/mmdet/<this file> 8
#
# Data: data/coco/{train2017,val2017} and
# data/coco/annotations/instances_{train,val}2017.json.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'

default_scope = 'mmdet'
# simsiam_mm: SimSiamPretrained and the safe checkpoint loader;
# mmpretrain.models: registers ResLayerExtraNorm into mmdet's MODELS
custom_imports = dict(
    imports=['simsiam_mm', 'mmpretrain.models'], allow_failed_imports=False)

# The one place that names the pretrained weights: the environment variable
# SIMSIAM_CKPT, or --cfg-options model.init_cfg.checkpoint=PATH. Empty,
# missing or not a SimSiam ResNet-50 checkpoint: an error at init.
simsiam_checkpoint = '{{$SIMSIAM_CKPT:SIMSIAM_CKPT-unset}}'

# SyncBN everywhere, statistics trained, nothing frozen. Single process:
# mmengine's Runner turns SyncBN into BN.
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    # torchvision RGB statistics, as the SimSiam views were normalised
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    roi_head=dict(
        # res5 + the extra BN after it (detectron2's Res5ROIHeadsExtraNorm);
        # mmpretrain registers ResLayerExtraNorm into mmdet's registry
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=None)),
    # res1-4 into the backbone, res5 (``layer4``) into the RoI head; only
    # the extra BN starts fresh
    init_cfg=dict(
        type='simsiam_mm.SimSiamPretrained',
        checkpoint=simsiam_checkpoint,
        prefix='backbone.',
        modules=['backbone', 'roi_head.shared_head'],
        allow_missing=['roi_head.shared_head.norm.']))

# multi-scale training, shorter side 640-800; test at 800 (the base's)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# 1x: 12 epochs at batch 16 (8 GPUs x 2), lr 0.02, steps after epochs 8
# and 11, 500 iterations of warmup (the base's schedule_1x)
lr = 0.02
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# bbox and segm COCO metrics (AP, AP50, AP75 ...): the base's CocoMetric
