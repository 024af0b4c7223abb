# Table 1a: no prediction MLP (h = identity). The paper: collapses, 0.1%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(head=None)
