# The supervised init of `make transfer-demo`: the half-width CIFAR
# ResNet-18 trained from scratch as a digit classifier on the labelled
# split only, the digits of the labelled detection canvases
# (data/digits_det/labelled/<class>/, written by
# tools/prepare_demo_data.py --detection), validated on data/digits/val
# (never in a labelled canvas). Its checkpoint holds backbone.* like a
# SimSiam one, so the detector config takes it through SIMSIAM_CKPT: the
# paper's supervised row (Table 5), at demo scale.
#
#   python tools/train.py configs/benchmarks/finetune/<this file>
_base_ = ['./resnet18-cifar_1xb128-ft-coslr-10e_digits.py']

batch_size = 32
lr = 0.1
max_epochs = 30

model = dict(init_cfg=None)  # from scratch
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(data_root='data/digits_det/', data_prefix='labelled'))

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=batch_size)
default_hooks = dict(
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
