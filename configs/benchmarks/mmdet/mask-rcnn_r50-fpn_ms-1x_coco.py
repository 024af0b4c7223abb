# Mask R-CNN R50-FPN on COCO, 1x schedule, from a SimSiam backbone. The
# paper has no FPN result (Table 5 is C4); this follows the C4 protocol
# where it can (_base_/simsiam_transfer.py): RGB torchvision statistics,
# nothing frozen, SyncBN with trained statistics in the backbone and in the
# new layers (FPN, 4conv1fc box head, mask head), precise BN, detectron2's
# 1x (90k iterations, multi-scale 640-800 train / 800 test).
#
#   SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32-coslr-200e_in1k/epoch_200.pth \
#   tools/dist_train.sh \
#       configs/benchmarks/mmdet/mask-rcnn_r50-fpn_ms-1x_coco.py 8
#
# Data: data/coco/{train2017,val2017} and
# data/coco/annotations/instances_{train,val}2017.json.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/ms-poly-90k_coco-instance.py', '_base_/simsiam_transfer.py'
]

model = dict(
    _base_.simsiam_fpn_model,
    roi_head=dict(
        _base_.simsiam_fpn_model.roi_head,
        mask_head=dict(norm_cfg=_base_.simsiam_norm_cfg)))

train_cfg = dict(val_interval=_base_.max_iter)
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
