# Fine-tuning the whole SimSiam backbone for classification on the UCI
# digits of tools/prepare_demo_data.py, from the CPU demo's pretraining
# (configs/simsiam_r18-cifar_1xb64_digits-demo.py): the digits linear
# evaluation with every backbone layer trained, BN statistics included, on
# RandomResizedCrop 32 + flip, weight decay 5e-4, lr 0.1 (docs/configs.md),
# cosine per iteration over 10 epochs. Runs on CPU.
#
#   SIMSIAM_CKPT=work_dirs/demo/epoch_5.pth python tools/train.py \
#   configs/benchmarks/finetune/r18-cifar_1xb128-ft-coslr-10e_digits.py
_base_ = '../linear/r18-cifar_1xb128-linear-sgd-coslr-10e_digits.py'

model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline))
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True)
]
train_cfg = dict(val_interval=1)
# the backbone trains: no LinearEvalHook
custom_hooks = [dict(type='NaNGuardHook')]
