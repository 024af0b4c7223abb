# Output dimension sweep (the paper's supplement): d = 256 with the
# predictor's hidden layer d/4. The paper (ImageNet): 256 / 512 / 1024 /
# 2048 -> 65.3 / 67.2 / 67.5 / 68.1.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

dim = 256
model = dict(
    neck=dict(hid_channels=2048, out_channels=dim),
    head=dict(in_channels=dim, hid_channels=dim // 4, out_channels=dim))
