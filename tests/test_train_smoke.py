"""The shipped demo and CIFAR configs train (tiny model, two iterations,
in process)."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_utils import (CIFAR, DEMO, CallHook, in_process_cfg, param_vector,
                          tiny_demo_cfg)

from simsiam_mm.engine import runtime


def test_demo_config_trains_two_iterations(tmp_path):
    cfg = tiny_demo_cfg(tmp_path)
    runtime.apply_train_args(cfg, str(DEMO), work_dir=str(tmp_path / 'wd'))
    before = None

    def snapshot(runner):
        nonlocal before
        before = param_vector(runner.model).clone()

    runner = runtime.build_runner(cfg)
    runner.register_hook(CallHook(snapshot), 'LOWEST')
    runner.train()
    assert runner.iter == 2
    assert torch.isfinite(param_vector(runner.model)).all()
    assert not torch.equal(before, param_vector(runner.model))
    # the predictor keeps its lr, the encoder follows the schedule
    groups = runner.optim_wrapper.optimizer.param_groups
    assert [g.get('fixed_lr', False) for g in groups] == [False, True]


def _fake_cifar(root: Path, per_file: int = 2) -> str:
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        entry = dict(
            data=rng.integers(0, 255, (per_file, 3072), dtype=np.uint8),
            labels=[int(x) for x in rng.integers(0, 10, per_file)])
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = dict(label_names=[f'c{i}' for i in range(10)])
    (folder / 'batches.meta').write_bytes(pickle.dumps(meta))
    return str(root)


def test_cifar_config_trains_two_iterations(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR10

    # the fake pickles cannot match CIFAR-10's md5 sums
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    data = _fake_cifar(tmp_path / 'cifar10')  # 10 training images
    cfg = in_process_cfg(
        CIFAR,
        tmp_path / 'wd',
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            pin_memory=False,
            dataset=dict(data_root=data)),
        train_cfg=dict(max_epochs=1),
        **{'train_dataloader.dataset.pipeline.0.size': 16})
    runtime.apply_train_args(cfg, str(CIFAR), work_dir=str(tmp_path / 'wd'))
    runner = runtime.run(cfg)
    assert runner.iter == 2  # 10 images, batch 4, drop_last
    assert torch.isfinite(param_vector(runner.model)).all()
    assert runner.optim_wrapper.optimizer.param_groups[0]['weight_decay'] \
        == pytest.approx(5e-4)
