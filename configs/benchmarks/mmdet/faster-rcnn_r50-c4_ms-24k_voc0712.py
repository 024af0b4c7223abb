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
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py',
    '_base_/simsiam_r50-c4.py'
]

# SimSiam's changes to the caffe-C4 model (RGB statistics, SyncBN, nothing
# frozen, res5 + extra BN, the SimSiamPretrained initializer, SIMSIAM_CKPT)
model = {{_base_.simsiam_c4_model}}

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
