"""The command-line options of tools/train.py reach the config; mmdet's
configs get the atomic checkpoints, the resumable loop and the NaN guard."""
import os.path as osp

import pytest
from _train_utils import DEMO, REPO

from simsiam_mm.engine import runtime


def test_cli_options_reach_the_config(tmp_path):
    from simsiam_mm import checkpoint as ck
    cfg = runtime.load_config(str(DEMO))
    legacy = str(tmp_path / 'legacy.pth')
    runtime.apply_train_args(
        cfg, str(DEMO), trusted=[legacy], tensorboard=True, auto_scale_lr=True)
    assert cfg.work_dir == osp.join('work_dirs', DEMO.stem)
    assert ck.is_trusted(legacy)
    assert [b['type'] for b in cfg.visualizer.vis_backends
            ] == ['LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.auto_scale_lr == dict(base_batch_size=64, enable=True)
    assert cfg.resume is False
    runtime.apply_train_args(cfg, str(DEMO), resume=legacy)
    assert (cfg.resume, cfg.load_from) == (True, legacy)


@pytest.mark.parametrize('name, loop', [
    ('faster-rcnn_r50-fpn_ms-1x_voc0712.py', 'ResumableEpochBasedTrainLoop'),
    ('mask-rcnn_r50-c4_ms-1x_coco.py', 'IterBasedTrainLoop'),
    ('faster-rcnn_r50-c4_ms-24k_voc0712.py', 'IterBasedTrainLoop'),
])
def test_mmdet_configs_get_atomic_checkpoints_and_nan_guard(name, loop):
    from mmengine.registry import HOOKS, DefaultScope
    path = REPO / 'configs' / 'benchmarks' / 'mmdet' / name
    cfg = runtime.load_config(str(path))
    assert cfg.default_scope == 'mmdet'
    runtime.apply_train_args(cfg, str(path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        hook = HOOKS.build(dict(cfg.default_hooks.checkpoint))
        guard = HOOKS.build(dict(cfg.custom_hooks[-1]))
    assert type(hook).__name__ == 'AtomicCheckpointHook'
    assert type(guard).__name__ == 'NaNGuardHook'
    assert cfg.train_cfg.type == loop
    if loop.startswith('Resumable'):  # resolvable from the mmdet scope
        assert cfg.train_cfg._scope_ == 'simsiam_mm'
