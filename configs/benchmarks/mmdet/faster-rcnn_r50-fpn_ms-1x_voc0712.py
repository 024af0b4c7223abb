# Faster R-CNN R50-FPN on VOC07+12 from a SimSiam backbone. The paper has no
# FPN result (Table 5 is C4); this follows the C4 protocol where it can
# (_base_/simsiam_transfer.py): RGB torchvision statistics, nothing frozen,
# SyncBN with trained statistics in the backbone and in the new layers (FPN,
# 4conv1fc box head), precise BN, the difficult objects trained on,
# multi-scale 480-800 train / 800 test, AP over IoU 0.5:0.95. Schedule:
# mmdet's VOC 1x (4 epochs over VOC07+12 repeated 3 times, lr 0.01, step
# after epoch 3).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32-coslr-200e_in1k/epoch_200.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/mmdet/faster-rcnn_r50-fpn_ms-1x_voc0712.py 8
#
# Data: data/VOCdevkit/VOC2007 (trainval + test) and data/VOCdevkit/VOC2012
# (trainval).
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    '_base_/simsiam_transfer.py'
]

model = _base_.simsiam_fpn_model

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

# VOC07 + VOC12 trainval, repeated 3 times (the base's), every object a
# target (no bbox_min_size, difficult ones included)
voc = dict(
    type='simsiam_mm.VOCDatasetWithDifficult',
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline)
train_dataloader = dict(
    dataset=dict(
        dataset=dict(datasets=[
            dict(year, **voc)
            for year in _base_.train_dataloader.dataset.dataset.datasets
        ])))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
val_evaluator = _base_.simsiam_voc_metric
test_evaluator = val_evaluator
