# What the mmdet transfer configs change in mmdet's models and runtime, in
# one place: MoCo's detectron2 protocol, which Table 5 of arXiv 2011.10566
# follows. A config takes this file as a base next to mmdet's own and
# merges `simsiam_c4_model` or `simsiam_fpn_model` into its model:
#
#   _base_ = ['mmdet::<a config>.py', '_base_/simsiam_transfer.py']
#   model = _base_.simsiam_c4_model
#
# Names that mmdet's bases also define (norm_cfg, model, optim_wrapper ...)
# are avoided: mmengine refuses a key two bases both set. Each config sets
# detectron2's WEIGHT_DECAY_NORM = 0 itself:
#   optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
_base_ = '../../_base_/simsiam_pretrained.py'

# simsiam_mm: the runner, hooks, SimSiamPretrained, the safe checkpoint
# loader; simsiam_mm.datasets.voc: VOCDatasetWithDifficult (needs mmdet);
# mmpretrain.models: registers ResLayerExtraNorm into mmdet's MODELS
custom_imports = dict(
    imports=['simsiam_mm', 'simsiam_mm.datasets.voc', 'mmpretrain.models'],
    allow_failed_imports=False)
# mmengine's Runner, also on CPU processes (gloo, plain BN for SyncBN),
# under tools/train.py and mmdet's own tools/train.py alike
runner_type = 'simsiam_mm.PortableRunner'

# detectron2's TEST.PRECISE_BN (on in MoCo's C4-BN base config and in
# detectron2's SyncBN configs): the BN statistics are recomputed over
# NUM_ITER = 200 training batches with the weights fixed, after the last
# iteration and before every evaluation during training
custom_hooks = [dict(type='simsiam_mm.PreciseBNHook', num_iters=200)]

# SyncBN everywhere with trained statistics, nothing frozen, the torchvision
# ResNet layout (stride in the 3x3 conv). One process: SyncBN becomes BN.
simsiam_norm_cfg = dict(type='SyncBN', requires_grad=True)
simsiam_backbone = dict(
    frozen_stages=-1,
    norm_cfg=simsiam_norm_cfg,
    norm_eval=False,
    style='pytorch',
    init_cfg=None)

# C4 (Table 5): res1-4 in the backbone, res5 (``layer4``) in the RoI head
# followed by an extra BN (detectron2's Res5ROIHeadsExtraNorm); both take
# the checkpoint's backbone, only the extra BN starts fresh. RGB input with
# the torchvision statistics the SimSiam views were normalised with.
simsiam_c4_model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=simsiam_backbone,
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=simsiam_norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=None)),
    init_cfg=dict(
        _base_.simsiam_init,
        modules=['backbone', 'roi_head.shared_head'],
        allow_missing=['roi_head.shared_head.norm.']))

# FPN (no paper number): the same backbone, and SyncBN in the new layers on
# the self-supervised features too: the FPN and the 4conv1fc box head (as
# detectron2's SyncBN FPN configs)
simsiam_fpn_model = dict(
    backbone=simsiam_backbone,
    neck=dict(norm_cfg=simsiam_norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=simsiam_norm_cfg)),
    init_cfg=_base_.simsiam_init)

# VOC07 test: AP50, AP75 and AP (the mean over IoU 0.5:0.95), the three
# numbers of Table 5, with the 11-point VOC07 AP of detectron2's evaluator
simsiam_voc_metric = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
