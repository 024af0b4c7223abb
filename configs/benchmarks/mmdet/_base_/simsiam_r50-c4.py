# What the two R50-C4 transfer configs (Table 5 of arXiv 2011.10566, MoCo's
# detectron2 setting) change in mmdet's caffe-C4 models, in one place. A
# config uses it as the second base and merges `simsiam_c4_model` into its
# model:
#
#   _base_ = ['mmdet::<a caffe-c4 config>.py', '_base_/simsiam_r50-c4.py']
#   model = {{_base_.simsiam_c4_model}}
#
# (names that mmdet's bases also define, such as `norm_cfg`, `model` or
# `optim_wrapper`, are avoided: mmengine refuses a key two bases both set)

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
simsiam_norm_cfg = dict(type='SyncBN', requires_grad=True)

simsiam_c4_model = dict(
    # torchvision RGB statistics, as the SimSiam views were normalised
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=simsiam_norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    roi_head=dict(
        # res5 + the extra BN after it (detectron2's Res5ROIHeadsExtraNorm);
        # mmpretrain registers ResLayerExtraNorm into mmdet's registry
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=simsiam_norm_cfg,
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
