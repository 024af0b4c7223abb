# The SimSiam schedule (Sec. 3 and Appendix D of arXiv 2011.10566): SGD,
# momentum 0.9, weight decay on every parameter, cosine decay per epoch to
# the end of training, no warmup; the predictor's lr stays at its initial
# value (SimSiamOptimWrapperConstructor + FixedLRHook, Table 1c).
#
# The recipe that uses it sets its numbers:
#     optim_wrapper = dict(optimizer=dict(lr=..., weight_decay=...))
#     train_cfg = dict(max_epochs=...)
#     auto_scale_lr = dict(base_batch_size=...)  # the batch lr was set for
# The cosine has no T_max and no end: mmengine's Runner ends a scheduler at
# train_cfg.max_epochs when it names no end, and T_max is end - begin, so
# the schedule follows any max_epochs, --cfg-options ones included.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SimSiamOptimWrapperConstructor',
    paramwise_cfg=dict(fix_predictor_lr=True),
    optimizer=dict(type='SGD', momentum=0.9))

param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0)]

# mmengine's epoch loop, resumable mid-epoch
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
