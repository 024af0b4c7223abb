"""Checkpoints that are never half-written, and a run that stops cleanly when
one cannot be written.

* Every checkpoint and the ``last_checkpoint`` pointer: the temp file is
  fsynced, then renamed onto the final name, then its folder fsynced.
* A full disk (ENOSPC), a work_dir made read-only (EACCES) or a file size
  limit (EFBIG) in the middle of a run, through ``tools/train.py``: the run
  stops, and the last line of its output names the file, the reason and
  the checkpoint that was kept; no temp file is left; the pointer still
  names the previous checkpoint, which loads, and ``--resume auto``
  continues from it.
"""
import ctypes
import os
import os.path as osp
import subprocess
from pathlib import Path

import pytest
import torch
from _train_utils import check, env, train_cmd, write_config, write_images
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import simsiam_mm  # noqa: F401
from simsiam_mm.engine.resume import (checkpoint_is_complete,
                                      find_resumable_checkpoint)

ERROR = 'simsiam_mm.engine.hooks.WorkDirError: '


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.layer(inputs).pow(2).mean())


class ToyData(Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.full((4, ), float(i)))


def test_temp_file_is_fsynced_before_the_rename_and_the_folder_after(
        tmp_path, monkeypatch):
    """One epoch of 4 iterations, ``latest.pth`` after each of the first 3,
    ``epoch_1.pth`` after the 4th, each followed by the pointer."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def identity(stat):
        return stat.st_dev, stat.st_ino

    def fsync(fd):
        events.append(('fsync', identity(os.fstat(fd))))
        real_fsync(fd)

    def replace(src, dst, **kwargs):
        events.append(('replace', identity(os.stat(src)), str(dst)))
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(os, 'replace', replace)
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=ToyData(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook', interval=1, latest_interval=1),
            logger=None),
        default_scope='simsiam_mm')
    runner.train()
    renames = [e for e in events if e[0] == 'replace']
    assert [osp.basename(e[2]) for e in renames] == \
        ['latest.pth', 'last_checkpoint'] * 3 + \
        ['epoch_1.pth', 'last_checkpoint']
    for i, event in enumerate(events):
        if event[0] != 'replace':
            continue
        _, temp_file, final = event
        folder = identity(os.stat(osp.dirname(final)))
        assert events[i - 1] == ('fsync', temp_file), (i, final)
        assert events[i + 1] == ('fsync', folder), (i, final)
    left = [n for n in os.listdir(tmp_path) if n[0] == '.' or 'pth' in n]
    assert left == ['epoch_1.pth']  # latest.pth removed, no temp file


def _loss_lines(work: Path) -> list:
    lines = (work / 'losses_rank0.txt').read_text().split('\n')
    return [(int(i), float(v)) for i, v in (ln.split() for ln in lines if ln)]


def _last_line(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr).strip().split('\n')[-1]


def _kept(work: Path, name: str, iteration: int) -> None:
    """Nothing half-written is left, and ``name`` is the resume point."""
    assert not [n for n in os.listdir(work) if n.endswith('.tmp')]
    assert (work / 'last_checkpoint').read_text() == str(work / name)
    assert find_resumable_checkpoint(str(work)) == str(work / name)
    assert checkpoint_is_complete(str(work / name))
    ckpt = torch.load(work / name, weights_only=False)
    assert ckpt['meta']['iter'] == iteration


@pytest.mark.slow
def test_full_disk_during_a_save_stops_and_resume_auto_continues(tmp_path):
    """2 epochs x 4 iterations; the write of ``epoch_2.pth`` (iteration 8)
    stops after half its bytes with ENOSPC. ``latest.pth`` (iteration 7)
    stays; the resumed run retrains iteration 8 to the same loss."""
    data = write_images(tmp_path / 'digits', 16)
    config = write_config(tmp_path / 'cfg.py', data, batch=4, epochs=2)
    work = tmp_path / 'wd'
    proc = subprocess.run(
        train_cmd(config, work),
        env=env(SPY_FAIL_WRITE='ENOSPC@.epoch_2.pth.tmp@1'),
        capture_output=True,
        text=True,
        timeout=240)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert _last_line(proc) == (
        f'{ERROR}Could not write checkpoint {work}/epoch_2.pth '
        f'({work}/.epoch_2.pth.tmp): No space left on device [ENOSPC]. '
        f'Training stopped. The last complete checkpoint, '
        f'{work}/latest.pth, is unchanged; --resume auto continues from '
        f'it. Free disk space or make {work} writable, then run the same '
        'command with --resume auto.')
    _kept(work, 'latest.pth', 7)
    assert (work / 'epoch_1.pth').is_file()
    assert not (work / 'epoch_2.pth').exists()
    first = _loss_lines(work)
    assert [i for i, _ in first] == list(range(1, 9))

    resumed = subprocess.run(
        train_cmd(config, work, '--resume', 'auto'),
        env=env(),
        capture_output=True,
        text=True,
        timeout=240)
    check(resumed)
    out = resumed.stdout + resumed.stderr
    assert f'--resume auto: resuming from {work}/latest.pth' in out
    assert 'Resuming epoch 2 at batch 4 of 4' in out
    again = _loss_lines(work)[8:]
    assert again == [first[7]]  # iteration 8, bit for bit
    assert checkpoint_is_complete(str(work / 'epoch_2.pth'))
    assert not (work / 'latest.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert not [n for n in os.listdir(work) if n.endswith('.tmp')]


def _without_permission_override() -> None:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this process and
    what it executes: root then obeys file modes like any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), 'prctl(PR_CAPBSET_DROP)')


@pytest.mark.slow
def test_work_dir_made_read_only_mid_run(tmp_path):
    """After iteration 5 the work_dir becomes read-only (mode 0o555); the
    ``latest.pth`` of iteration 6 cannot be created. Root ignores file
    modes, so as root the run drops the capabilities that let it."""
    data = write_images(tmp_path / 'digits', 16)
    config = write_config(tmp_path / 'cfg.py', data, batch=4, epochs=2)
    work = tmp_path / 'wd'
    as_root = os.geteuid() == 0
    try:
        proc = subprocess.run(
            train_cmd(config, work),
            env=env(SPY_READONLY_AFTER='5'),
            capture_output=True,
            text=True,
            timeout=240,
            preexec_fn=_without_permission_override if as_root else None)
    except subprocess.SubprocessError as err:  # no CAP_SETPCAP
        pytest.skip(f'root cannot give up its permission override: {err}')
    work.chmod(0o755)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert _last_line(proc) == (
        f'{ERROR}Could not write checkpoint {work}/latest.pth '
        f'({work}/.latest.pth.tmp): Permission denied [EACCES]. Training '
        f'stopped. The last complete checkpoint, {work}/latest.pth, is '
        f'unchanged; --resume auto continues from it. Free disk space or '
        f'make {work} writable, then run the same command with --resume '
        'auto.')
    _kept(work, 'latest.pth', 5)
    assert (work / 'epoch_1.pth').is_file()


@pytest.mark.slow
@pytest.mark.parametrize('target', ['checkpoint', 'scalars'])
def test_file_size_limit_mid_run(tmp_path, target):
    """After iteration 2 the kernel refuses to grow a file past a limit
    (RLIMIT_FSIZE): half a checkpoint, so that ``latest.pth`` of iteration
    3 fails; or the size of ``vis_data/scalars.json``, so that the logger's
    next write fails first."""
    data = write_images(tmp_path / 'digits', 16)
    config = write_config(tmp_path / 'cfg.py', data, batch=4, epochs=2)
    work = tmp_path / 'wd'
    proc = subprocess.run(
        train_cmd(config, work),
        env=env(SPY_FSIZE_AFTER=f'2:{target}'),
        capture_output=True,
        text=True,
        timeout=240)
    assert proc.returncode == 1, proc.stderr[-3000:]
    what = f'checkpoint {work}/latest.pth' if target == 'checkpoint' else \
        f'into {work}'
    assert _last_line(proc) == (
        f'{ERROR}Could not write {what}: File too large [EFBIG]. Training '
        f'stopped. The last complete checkpoint, {work}/latest.pth, is '
        f'unchanged; --resume auto continues from it. Free disk space or '
        f'make {work} writable, then run the same command with --resume '
        'auto.')
    _kept(work, 'latest.pth', 2)
