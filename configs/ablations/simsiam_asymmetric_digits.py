# Sec. 4.6: asymmetric loss D(p1, z2) only. The paper: 64.8%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(symmetry='asymmetric')
