# Faster R-CNN R50-C4 on VOC07+12 from a SimSiam backbone: the transfer
# protocol of Table 5 of arXiv 2011.10566 (MoCo's detectron2 setting) in
# mmdet 3.3 terms. Paper, 200-ep SimSiam: AP50 82.0 / AP 56.4 / AP75 62.8
# (ImageNet supervised 81.3 / 53.5 / 58.8).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50/epoch_200.pth \
#       tools/dist_train.sh configs/benchmarks/mmdet/<this file> 8
#
# Data: data/VOCdevkit/VOC2007 (trainval + test) and data/VOCdevkit/VOC2012
# (trainval), the standard VOCdevkit layout.
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'

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

# VOC07 trainval + VOC12 trainval, multi-scale 480-800 (the base's
# pipelines); the two VOC years carry different ``dataset_type`` metainfo
train_dataloader = dict(dataset=dict(ignore_keys=['dataset_type']))

# 24k iterations at batch 16 (8 GPUs x 2), lr 0.02, steps at 18k and 22k,
# 100 iterations of linear warmup
lr = 0.02
max_iter = 24000
train_cfg = dict(max_iters=max_iter, val_interval=max_iter)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iter,
        by_epoch=False,
        milestones=[18000, 22000],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# AP50 and AP75 as APxx, AP (mean over IoU 0.5:0.95) as mAP; VOC07 test
# uses the 11-point metric, as detectron2's VOC evaluator does
val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator
