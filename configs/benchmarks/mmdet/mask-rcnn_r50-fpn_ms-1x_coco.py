# Mask R-CNN R50-FPN on COCO, 1x schedule, from a SimSiam backbone. The
# paper has no FPN result (Table 5 is C4); this follows the C4 protocol
# where it can: RGB torchvision statistics, nothing frozen, SyncBN with
# trained statistics in the backbone, and SyncBN in the FPN, the 4conv1fc
# box head and the mask head (new layers on self-supervised features, as in
# MoCo's FPN setting), multi-scale 640-800 train / 800 test, 12 epochs.
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50/epoch_200.pth \
#       tools/dist_train.sh configs/benchmarks/mmdet/<this file> 8
#
# Data: data/coco/{train2017,val2017} and
# data/coco/annotations/instances_{train,val}2017.json.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

default_scope = 'mmdet'
# simsiam_mm: SimSiamPretrained and the safe checkpoint loader
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)

# The one place that names the pretrained weights: the environment variable
# SIMSIAM_CKPT, or --cfg-options model.init_cfg.checkpoint=PATH.
simsiam_checkpoint = '{{$SIMSIAM_CKPT:SIMSIAM_CKPT-unset}}'

norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    backbone=dict(
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)),
    init_cfg=dict(
        type='simsiam_mm.SimSiamPretrained',
        checkpoint=simsiam_checkpoint,
        prefix='backbone.',
        modules=['backbone']))

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
# and 11, 500 iterations of warmup (the base's)
lr = 0.02
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)
