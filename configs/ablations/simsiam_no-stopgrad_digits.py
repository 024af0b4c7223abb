# Fig. 2: no stop-gradient. The paper: the loss reaches -1 at once, the
# std of z/||z|| goes to 0 and linear accuracy to 0.1% (collapse).
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(stop_gradient=False)
