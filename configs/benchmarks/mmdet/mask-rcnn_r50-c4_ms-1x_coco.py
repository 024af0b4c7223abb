# Mask R-CNN R50-C4 on COCO, 1x schedule, from a SimSiam backbone: the
# protocol of Table 5 of arXiv 2011.10566 (MoCo's detectron2 setting,
# _base_/simsiam_transfer.py) in mmdet 3.3 terms. Paper, 200-ep SimSiam:
# box AP50 57.5 / AP 37.9 / AP75 40.9, mask AP50 54.2 / AP 33.2 / AP75 35.2
# (ImageNet supervised: box 58.2 / 38.2 / 41.2, mask 54.7 / 33.3 / 35.2).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32-coslr-200e_in1k/epoch_200.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/mmdet/mask-rcnn_r50-c4_ms-1x_coco.py 8
#
# Data: data/coco/{train2017,val2017} and
# data/coco/annotations/instances_{train,val}2017.json.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50-caffe-c4.py',
    'mmdet::common/ms-poly-90k_coco-instance.py', '_base_/simsiam_transfer.py'
]

model = _base_.simsiam_c4_model

# 1x as detectron2 counts it (mmdet's ms-poly-90k): 90k iterations at batch
# 16 (8 GPUs x 2), lr 0.02, steps at 60k and 80k, 1000 iterations of linear
# warmup, multi-scale training (shorter side 640-800, test 800) with PIL
# decoding and polygon masks; evaluation at the end
train_cfg = dict(val_interval=_base_.max_iter)
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))

# bbox and segm COCO metrics (AP, AP50, AP75 ...): the base's CocoMetric
