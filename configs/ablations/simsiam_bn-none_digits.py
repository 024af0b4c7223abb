# Table 3a: no BN in either MLP head. The paper: 34.6%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(
    neck=dict(hidden_norm=False, out_norm=False),
    head=dict(hidden_norm=False))
