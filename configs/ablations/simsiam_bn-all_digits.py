# Table 3d: BN on every layer, the predictor's output too. The paper:
# unstable.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(head=dict(out_norm=True))
