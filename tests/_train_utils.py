"""Shared set-up of the training tests (test_train_smoke, test_resume,
test_distributed, test_nan_guard, test_amp, test_config_errors,
test_atomic_checkpoints, test_train_options).

Models are the shipped ones shrunk (ResNet_CIFAR-18 at 16 px with 16 base
channels, 32-d heads) so that every run takes seconds. Subprocess runs go
through ``tools/train.py`` with the spies of ``_train_spies.py``.
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
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

import simsiam_mm  # noqa: F401
from simsiam_mm.engine import runtime
from simsiam_mm.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'
CIFAR = REPO / 'configs' / 'simsiam_r18-cifar_1xb512-coslr-800e_cifar10.py'
TINY = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, hid_channels=32, out_channels=32),
    head=dict(in_channels=32, hid_channels=8, out_channels=32))


def write_images(root: Path, num: int = 8, size: int = 16) -> str:
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


def tiny_demo_cfg(tmp_path: Path):
    """The demo config on 8 written digits, batch 4, one epoch, 16 px
    views, in process: two iterations."""
    data = write_images(tmp_path / 'digits', 8)
    return in_process_cfg(
        DEMO,
        tmp_path / 'wd',
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)),
        train_cfg=dict(max_epochs=1),
        **{'train_dataloader.dataset.pipeline.1.size': 16})


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
custom_imports = dict(imports=['_train_spies'], allow_failed_imports=False)
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
    dict(type='_train_spies.RecordHook'),
    dict(type='_train_spies.FaultHook'),
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


def jittered_simsiam_checkpoint(config: str, path: str) -> dict:
    """The SimSiam of ``config`` (BN for SyncBN, as one process runs it),
    its state_dict saved to ``path`` as mmengine saves checkpoints.

    Every float tensor is moved off its init (weights jittered, BN
    statistics drawn), so equality below can only come from loading. (A
    real SGD step of ResNet-50 costs ~10 s of the test budget on 2 cores.)
    """
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    state = model.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            if k.endswith('running_var'):
                v.uniform_(0.5, 1.5)
            elif v.is_floating_point():
                v.add_(0.01 * torch.randn_like(v))
    torch.save(
        dict(
            meta=dict(epoch=1, iter=1, mmengine_version='0.10.7'),
            state_dict=state), path)
    return {k: v.clone() for k, v in state.items()}
