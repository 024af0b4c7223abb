# Table 3b: BN on the hidden layers only (no BN on the projector output).
# The paper: 67.4%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(neck=dict(out_norm=False))
