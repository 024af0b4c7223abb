# The pretraining of `make transfer-demo` (tools/transfer_demo.py): the
# 20-epoch digits recipe (simsiam_r18-cifar_1xb64-coslr-20e_digits.py) with
# 16 px views instead of 32 px. A view then shows a digit at 16-36 px, the
# sizes it has on the 64 px detection canvases (12-28 px), instead of
# 32-72 px; and an iteration costs about a quarter. The kNN monitor reads
# the digits at 16 px too.
#
#   python tools/prepare_demo_data.py
#   python tools/train.py \
#       configs/simsiam_r18-cifar_1xb64-coslr-20e_digits-16px.py
_base_ = ['./simsiam_r18-cifar_1xb64-coslr-20e_digits.py']

size = 16
views = dict(_base_.views, size=size)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='SafeLoadImageFromFile', skip_bad_images=False),
        dict(type='SimSiamViews', **views),
        dict(type='PackInputs'),
    ]))

knn_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='Resize', scale=(size, size)),
    dict(type='PackInputs'),
]
knn_train_dataloader = dict(dataset=dict(pipeline=knn_pipeline))
knn_val_dataloader = dict(dataset=dict(pipeline=knn_pipeline))
