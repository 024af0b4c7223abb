# The one way a downstream config (linear, fine-tune, mmdet) names the
# SimSiam checkpoint its backbone starts from: the environment variable
# SIMSIAM_CKPT, read here into the model's init_cfg, or on the command
# line --cfg-options model.init_cfg.checkpoint=PATH (what the model reads;
# a later override of a config variable would not reach it). The path is
# the epoch_N.pth a pretraining config writes, e.g.
#     SIMSIAM_CKPT=work_dirs/simsiam_r50_8xb32/epoch_100.pth
# Unset, missing, or not fitting the model: an error at init, never a
# random start.
#
# SimSiamPretrained (simsiam_mm/engine/pretrained_init.py) loads the
# checkpoint's backbone.* tensors into the listed sub-modules and refuses
# any tensor it cannot fill or place; simsiam_mm.X resolves under any
# default scope (simsiam_mm, mmpretrain, mmdet). A config uses it as
#     model = dict(init_cfg=_base_.simsiam_init)
simsiam_init = dict(
    type='simsiam_mm.SimSiamPretrained',
    checkpoint='{{$SIMSIAM_CKPT:SIMSIAM_CKPT-unset}}',
    prefix='backbone.',
    modules=['backbone'])
