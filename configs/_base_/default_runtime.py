# Runtime shared by every simsiam_mm config: scope, runner, hooks, logging,
# environment. Works unchanged on GPUs, one CPU process and several CPU
# processes, under tools/train.py and under mmpretrain's own tools/train.py.
default_scope = 'simsiam_mm'
# imported by Config.fromfile, whatever tool reads the config: registers the
# simsiam_mm types and the safe checkpoint loader before anything is built
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
# PortableRunner: mmengine's Runner, also on CPU processes (gloo, plain BN
# for SyncBN); the host tools build a config's runner_type
runner_type = 'simsiam_mm.PortableRunner'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),  # ETA in every log line
    # loss, z_std, z_cos, lr (encoder) and lr_predictor every `interval`
    # iterations, to the console, work_dir/<time>/<time>.log and
    # work_dir/<time>/vis_data/scalars.json
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # crash-safe checkpoints: epoch_N.pth every `interval` epochs (the last
    # `max_keep_ckpts` kept) and latest.pth every `latest_interval`
    # iterations, so that a killed run loses at most that many iterations
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        latest_interval=1000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # bad image files skipped (skip_bad_images=True), summed over processes
    # and logged at every epoch end
    bad_images=dict(type='BadImageCountHook'),
)

# Hooks of every run: the predictor's constant lr (a no-op for models
# without a predictor) and the stop on a non-finite loss. Pretraining configs
# extend the list with the monitors, e.g.
#     custom_hooks = _base_.custom_hooks + [dict(type='CollapseMonitorHook')]
# FixedLRHook: the predictor's constant lr (simsiam_mm/engine/predictor_lr.py)
# NaNGuardHook: stop on a non-finite loss, keep the last good checkpoint
# CollapseMonitorHook: log std(z/||z||) x sqrt(d), warn when it nears 0
# KNNMonitorHook: weighted kNN on the config's knn_*_dataloader (every
#   pretraining config includes a configs/_base_/datasets/*_knn.py base)
custom_hooks = [
    dict(type='FixedLRHook'),
    dict(type='NaNGuardHook'),
    dict(type='CollapseMonitorHook'),
    dict(type='KNNMonitorHook', interval=10, max_samples=50000),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; PortableRunner switches to gloo when there is no GPU
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(window_size=10)
log_level = 'INFO'

# LocalVisBackend writes the metrics JSON of the run; tools/train.py
# --tensorboard adds TensorboardVisBackend
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
