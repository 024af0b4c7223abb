# Table 1b: predictor fixed at random initialisation. The paper: does not
# converge, 1.5%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(freeze_head=True)
