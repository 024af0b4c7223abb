# Faster R-CNN R50-FPN on VOC07+12 from a SimSiam backbone. The paper has no
# FPN result (Table 5 is C4); this follows the C4 protocol where it can:
# RGB torchvision statistics, nothing frozen, SyncBN with trained statistics
# in the backbone, and SyncBN in the FPN and the 4conv1fc box head (new
# layers on self-supervised features, as in MoCo's FPN setting), multi-scale
# 480-800 train / 800 test, AP over IoU 0.5:0.95. Schedule: mmdet's VOC 1x
# (4 epochs over VOC07+12 repeated 3 times, lr 0.01, step after epoch 3).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50/epoch_200.pth \
#       tools/dist_train.sh configs/benchmarks/mmdet/<this file> 8
#
# Data: data/VOCdevkit/VOC2007 (trainval + test) and data/VOCdevkit/VOC2012
# (trainval).
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'

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
            norm_cfg=norm_cfg)),
    init_cfg=dict(
        type='simsiam_mm.SimSiamPretrained',
        checkpoint=simsiam_checkpoint,
        prefix='backbone.',
        modules=['backbone']))

data_root = 'data/VOCdevkit/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 480), (1333, 512), (1333, 544), (1333, 576),
                (1333, 608), (1333, 640), (1333, 672), (1333, 704),
                (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=3,
        dataset=dict(
            type='ConcatDataset',
            # the two VOC years carry different ``dataset_type`` metainfo
            ignore_keys=['dataset_type'],
            datasets=[
                dict(
                    type='VOCDataset',
                    data_root=data_root,
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32),
                    pipeline=train_pipeline),
                dict(
                    type='VOCDataset',
                    data_root=data_root,
                    ann_file='VOC2012/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2012/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32),
                    pipeline=train_pipeline)
            ])))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AP50 and AP75 as APxx, AP (mean over IoU 0.5:0.95) as mAP
val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator
