# The CPU demo: SimSiam on the UCI digits that ship with scikit-learn
# (tools/prepare_demo_data.py writes them to data/digits), with the CIFAR
# recipe of Appendix D: CIFAR ResNet-18, 2-layer projector, 2048 -> 512 ->
# 2048 predictor, SGD with a constant predictor lr, cosine, 32 px views
# without blur. Batch 64, a few minutes on 2 CPU cores. The demo
# (tools/demo.py) and the ablation configs (configs/ablations/) inherit it.
#
#   python tools/prepare_demo_data.py
#   python tools/train.py configs/simsiam_r18-cifar_1xb64_digits-demo.py
_base_ = [
    '_base_/models/simsiam_r18_cifar.py',
    '_base_/datasets/digits_simsiam.py',
    '_base_/schedules/digits_sgd_coslr_demo.py',
    '_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=_base_.batch_size)
model = dict(data_preprocessor=_base_.data_preprocessor)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2, latest_interval=None))

randomness = dict(seed=0)
