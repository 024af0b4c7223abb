# Faster R-CNN R50-C4 on VOC07+12 from a SimSiam backbone: the transfer
# protocol of Table 5 of arXiv 2011.10566 (MoCo's detectron2 setting,
# _base_/simsiam_transfer.py) in mmdet 3.3 terms. Paper, 200-ep SimSiam:
# AP50 82.0 / AP 56.4 / AP75 62.8 (ImageNet supervised 81.3 / 53.5 / 58.8).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32-coslr-200e_in1k/epoch_200.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/mmdet/faster-rcnn_r50-c4_ms-24k_voc0712.py 8
#
# Data: data/VOCdevkit/VOC2007 (trainval + test) and data/VOCdevkit/VOC2012
# (trainval), the standard VOCdevkit layout.
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py',
    '_base_/simsiam_transfer.py'
]

model = _base_.simsiam_c4_model

# VOC07 trainval + VOC12 trainval, multi-scale 480-800 (the base's
# pipelines), the objects VOC marks difficult included as detectron2's VOC
# loader includes them (the VOC07 test metric still ignores them); the two
# years carry different ``dataset_type`` metainfo
train_dataloader = dict(
    dataset=dict(
        ignore_keys=['dataset_type'],
        datasets=[
            dict(voc, type='simsiam_mm.VOCDatasetWithDifficult')
            for voc in _base_.train_dataloader.dataset.datasets
        ]))

# 24k iterations at batch 16 (8 GPUs x 2), lr 0.02 (the base's), steps at
# 18k and 22k, 100 iterations of linear warmup, evaluation at the end
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
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))

val_evaluator = _base_.simsiam_voc_metric
test_evaluator = val_evaluator
