# The pretraining of `make transfer-demo` (tools/transfer_demo.py): the CPU
# demo recipe (simsiam_r18-cifar_1xb64_digits-demo.py: half-width CIFAR
# ResNet-18, 2-layer projector, 2048 -> 512 -> 2048 predictor, 32 px views
# without blur, batch 64) trained 20 epochs instead of 5 on the unlabelled
# pool, the train side of data/digits (no validation digit). Its backbone.*
# starts the digits detector
# (configs/benchmarks/mmdet/faster-rcnn_r18-cifar-fpn_1xb8-200i_digits-det.py).
#
#   python tools/prepare_demo_data.py
#   python tools/train.py configs/simsiam_r18-cifar_1xb64-coslr-20e_digits.py
_base_ = ['./simsiam_r18-cifar_1xb64_digits-demo.py']

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the demo's hooks, the kNN monitor every 5 epochs
custom_hooks = _base_.custom_hooks[:-1] + [
    dict(type='KNNMonitorHook', interval=5, k=(20, 200))
]
