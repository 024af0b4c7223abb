# Table 1c: the predictor's lr follows the cosine schedule like the rest
# (67.7%) instead of staying constant (68.1%).
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

optim_wrapper = dict(paramwise_cfg=dict(fix_predictor_lr=False))
