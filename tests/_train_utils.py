"""Shared set-up of the training tests (test_train_smoke, test_resume,
test_distributed, test_nan_guard, test_amp, test_config_errors,
test_atomic_checkpoints, test_train_options).

Models are the shipped ones shrunk (ResNet_CIFAR-18 at 16 px with 16 base
channels, 32-d heads) so that every run takes seconds. Subprocess runs go
through ``tools/train.py`` with the spies of ``_train_helpers.py``.
"""
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook

import simsiam_mm  # noqa: F401
from simsiam_mm.engine import runtime

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'
CIFAR = REPO / 'configs' / 'simsiam_r18-cifar_1xb512-coslr-800e_cifar10.py'
TINY = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, hid_channels=32, out_channels=32),
    head=dict(in_channels=32, hid_channels=8, out_channels=32))


def write_images(root: Path, num: int, size: int = 16) -> str:
    """``num`` random grey PNGs under ``root/train/<class>/``."""
    rng = np.random.default_rng(0)
    for i in range(num):
        folder = root / 'train' / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        img = (rng.random((size, size)) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f'{i}.png'), img)
    return str(root)


def in_process_cfg(config: Path, work_dir: Path, **options):
    """A shipped config with the tiny model and fast hooks."""
    cfg = runtime.load_config(str(config))
    cfg.merge_from_dict(
        dict(
            model=TINY,
            experiment_name=f'test_{uuid.uuid4().hex[:8]}',
            work_dir=str(work_dir),
            default_hooks=dict(
                logger=dict(interval=1),
                checkpoint=dict(interval=1, save_last=False)),
            randomness=dict(seed=0, deterministic=True)))
    cfg.merge_from_dict(options)
    # no kNN monitor: it reads labelled data the tests do not write (and its
    # float32 feature pass would mix with the bf16 checks)
    cfg.custom_hooks = [
        h for h in cfg.custom_hooks if h['type'] != 'KNNMonitorHook'
    ]
    return cfg


def param_vector(model) -> torch.Tensor:
    model = getattr(model, 'module', model)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class CallHook(Hook):
    """Calls ``fn(runner)`` in before_train (after weight init)."""

    def __init__(self, fn):
        self.fn = fn

    def before_train(self, runner):
        self.fn(runner)


# --- spied subprocess runs of tools/train.py ------------------------------

SUBPROCESS_CFG = '''
_base_ = [{demo!r}]
custom_imports = dict(imports=['_train_helpers'], allow_failed_imports=False)
norm = {norm!r}
model = dict(
    backbone=dict(stem_channels=16, base_channels=16, **norm),
    neck=dict(in_channels=128, hid_channels=32, out_channels=32, **norm),
    head=dict(in_channels=32, hid_channels=8, out_channels=32, **norm))
views = {views!r}
train_dataloader = dict(
    batch_size={batch},
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root={data!r},
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=[1] * len(views),
                 transforms=views),
            dict(type='PackInputs'),
        ]))
train_cfg = dict(max_epochs={epochs})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=2, latest_interval=1))
custom_hooks = [
    dict(type='FixedLRHook'),
    dict(type='NaNGuardHook'),
    dict(type='CollapseMonitorHook'),
    dict(type='_train_helpers.RecordHook'),
    dict(type='_train_helpers.FaultHook'),
]
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=True)
'''
# random crops and flips from the global numpy generator (mmpretrain/mmcv)
RANDOM_VIEWS = [[
    dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.2, 1.0)),
    dict(type='RandomFlip', prob=0.5)
]] * 2
# the same views whatever the process: image, and image flipped
FIXED_VIEWS = [[], [dict(type='RandomFlip', prob=1.0)]]
# GroupNorm does not depend on how the batch is split. One group: groups of
# a few channels (2 in the 8-wide predictor bottleneck) make the network so
# ill-conditioned that float32 rounding differences grow to 1e-4 in 3 steps.
GN = dict(norm_cfg=dict(type='GN', num_groups=1))


def write_config(path: Path,
                 data: str,
                 batch: int,
                 epochs: int,
                 views=RANDOM_VIEWS,
                 norm=None) -> str:
    path.write_text(
        SUBPROCESS_CFG.format(
            demo=str(DEMO),
            norm=norm or {},
            views=views,
            batch=batch,
            data=data,
            epochs=epochs))
    return str(path)


def env(**extra) -> dict:
    out = dict(os.environ)
    out['PYTHONPATH'] = os.pathsep.join(
        [str(REPO / 'tests'),
         str(REPO), out.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    out['OMP_NUM_THREADS'] = '1'
    out.update(extra)
    return out


def train_cmd(config: str, work_dir: Path, *args: str) -> list:
    return [
        sys.executable,
        str(REPO / 'tools' / 'train.py'), config, '--work-dir',
        str(work_dir), *args
    ]


def losses(work_dir: Path, rank: int = 0) -> dict:
    """iteration -> loss; a resumed run's lines override the killed one's.
    """
    out = {}
    for line in (work_dir / f'losses_rank{rank}.txt').read_text().split('\n'):
        if line:
            it, value = line.split()
            out[int(it)] = float(value)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def check(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
