# An alternative pretraining for `make transfer-demo` (its search, in
# docs/transfer_demo.md): SimSiam on an unlabelled pool of digit canvases
# (data/digits_det/pool/, written by tools/prepare_demo_data.py
# --detection from the train side of the digits only): the recipe of
# simsiam_r18-cifar_1xb64-coslr-20e_digits.py (half-width CIFAR ResNet-18,
# 2-layer projector, 2048 -> 512 -> 2048 predictor, batch 64, 20 epochs),
# with the 32 px views cropped from the 64 px canvases the detector sees
# (RandomResizedCrop scale 0.2-1 of a canvas: one to a few digits, partly
# cut, on the black background) instead of from single digits.
#
#   python tools/prepare_demo_data.py --detection --pool-images 1500
#   python tools/train.py \
#       configs/simsiam_r18-cifar_1xb64-coslr-20e_digits-canvas.py
_base_ = ['./simsiam_r18-cifar_1xb64-coslr-20e_digits.py']

train_dataloader = dict(
    dataset=dict(data_root='data/digits_det/', data_prefix='pool'))
