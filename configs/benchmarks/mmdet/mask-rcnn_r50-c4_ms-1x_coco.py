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
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py',
    '_base_/simsiam_r50-c4.py'
]

# SimSiam's changes to the caffe-C4 model (RGB statistics, SyncBN, nothing
# frozen, res5 + extra BN, the SimSiamPretrained initializer, SIMSIAM_CKPT)
model = {{_base_.simsiam_c4_model}}

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
