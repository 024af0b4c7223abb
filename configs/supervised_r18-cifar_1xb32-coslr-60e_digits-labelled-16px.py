# The supervised init of `make transfer-demo`: the half-width CIFAR
# ResNet-18 trained from scratch as a digit classifier on the labelled
# split only, the digits of the labelled detection canvases
# (data/digits_det/labelled/<class>/, written by
# tools/prepare_demo_data.py --detection), validated on data/digits/val
# (never in a labelled canvas). Digits at 16 px, as the SimSiam views of
# simsiam_r18-cifar_1xb64-coslr-20e_digits-16px.py, near their 12-28 px on
# the canvases. Its checkpoint holds backbone.* like a SimSiam one, so the
# detector config takes it through SIMSIAM_CKPT: the paper's supervised
# row (Table 5), at demo scale.
#
#   python tools/prepare_demo_data.py && \
#       python tools/prepare_demo_data.py --detection
#   python tools/train.py configs/<this file>
_base_ = ['./benchmarks/finetune/r18-cifar_1xb128-ft-coslr-10e_digits.py']

size = 16
batch_size = 32
lr = 0.1
max_epochs = 60

model = dict(init_cfg=None)  # from scratch

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=size, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='Resize', scale=(size, size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(
        data_root='data/digits_det/',
        data_prefix='labelled',
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=lr))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
