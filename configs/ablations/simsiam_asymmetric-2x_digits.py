# Sec. 4.6: asymmetric loss on two pairs per image (four views). The paper:
# 67.3%.
_base_ = '../simsiam_r18-cifar_1xb64_digits-demo.py'

model = dict(symmetry='asymmetric_2x')
train_pipeline = _base_.train_pipeline
train_pipeline[1]['num_views'] = 4
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
