"""Training at scale, proven on a 2-core CPU: the shipped CIFAR and demo
configs train, two gloo processes agree with each other and with one
process, a run killed with SIGKILL mid-save resumes to the same losses, a
NaN stops the run without touching the last checkpoint, config typos are
named, and ``--amp`` trains on CPU in bfloat16.

Models are the shipped ones shrunk (ResNet_CIFAR-18 at 16 px with 16 base
channels, 32-d heads) so that every run takes seconds.
"""
import importlib.util
import os
import os.path as osp
import pickle
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

import simsiam_mm  # noqa: F401
from simsiam_mm.engine import amp, runtime
from simsiam_mm.engine.config_check import ConfigError
from simsiam_mm.engine.resume import (checkpoint_is_complete,
                                      find_resumable_checkpoint)

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


# --- the shipped CIFAR and demo configs train ------------------------------


def test_demo_config_trains_two_iterations(tmp_path):
    data = write_images(tmp_path / 'digits', 8)
    cfg = in_process_cfg(
        DEMO,
        tmp_path / 'wd',
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)),
        train_cfg=dict(max_epochs=1),
        **{'train_dataloader.dataset.pipeline.1.size': 16})
    runtime.apply_train_args(cfg, str(DEMO), work_dir=str(tmp_path / 'wd'))
    before = None

    def snapshot(runner):
        nonlocal before
        before = param_vector(runner.model).clone()

    runner = runtime.build_runner(cfg)
    runner.register_hook(_CallHook(snapshot), 'LOWEST')
    runner.train()
    assert runner.iter == 2
    assert torch.isfinite(param_vector(runner.model)).all()
    assert not torch.equal(before, param_vector(runner.model))
    # the predictor keeps its lr, the encoder follows the schedule
    groups = runner.optim_wrapper.optimizer.param_groups
    assert [g.get('fixed_lr', False) for g in groups] == [False, True]


class _CallHook(Hook):
    """Calls ``fn(runner)`` in before_train (after weight init)."""

    def __init__(self, fn):
        self.fn = fn

    def before_train(self, runner):
        self.fn(runner)


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


# --- processes, resume, NaN: spied subprocess runs -------------------------

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


def test_two_gloo_processes_match_each_other_and_one_process(tmp_path):
    """2 CPU processes (tools/dist_train.sh, gloo), GroupNorm model, global
    batch 8 for 3 steps: identical parameters on both ranks, every
    checkpoint written once and by rank 0, and the parameters of one
    process on the same global batch to 1e-5."""
    data = write_images(tmp_path / 'digits', 24)
    config = write_config(
        tmp_path / 'gn.py',
        data,
        batch=4,
        epochs=1,
        views=FIXED_VIEWS,
        norm=GN)
    work = tmp_path / 'ddp'
    writes = tmp_path / 'writes.log'
    proc = subprocess.run([
        'bash',
        str(REPO / 'tools' / 'dist_train.sh'), config, '2', '--work-dir',
        str(work)
    ],
                          env=env(
                              PYTHON=sys.executable,
                              PORT=str(free_port()),
                              SPY_WRITES=str(writes)),
                          capture_output=True,
                          text=True,
                          timeout=240)
    check(proc)
    assert 'replaced by gloo' in proc.stdout + proc.stderr
    rank0 = torch.load(work / 'params_rank0.pt')
    rank1 = torch.load(work / 'params_rank1.pt')
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # latest.pth after iterations 1 and 2, epoch_1.pth after 3: rank 0 only
    assert writes.read_text().split('\n')[:-1] == [
        '0 .latest.pth.tmp', '0 .latest.pth.tmp', '0 .epoch_1.pth.tmp'
    ]
    assert (work / 'epoch_1.pth').is_file()
    assert not (work / 'latest.pth').exists()
    assert not [n for n in os.listdir(work) if n.endswith('.tmp')]
    assert sorted(losses(work, 0)) == [1, 2, 3]
    # the same global batch of 8 in one process
    cfg = runtime.load_config(config)
    cfg.merge_from_dict(
        dict(
            train_dataloader=dict(batch_size=8),
            experiment_name=f'test_{uuid.uuid4().hex[:8]}',
            custom_hooks=[dict(type='FixedLRHook')]))
    runtime.apply_train_args(cfg, config, work_dir=str(tmp_path / 'single'))
    runner = runtime.run(cfg)
    single = runner.model.state_dict()
    for key in rank0:
        diff = (single[key] - rank0[key]).abs().max().item()
        assert diff <= 1e-5, (key, diff)
    assert runner.iter == 3


def test_sigkill_during_a_mid_epoch_save_then_resume_auto(tmp_path):
    """8 iterations (2 epochs x 4), a checkpoint after every one. The run
    is killed while writing the checkpoint of iteration 6 (epoch 2, batch
    2); ``--resume auto`` continues from iteration 5 and its losses and
    final weights equal those of an uninterrupted run exactly."""
    data = write_images(tmp_path / 'digits', 16)
    config = write_config(tmp_path / 'cfg.py', data, batch=4, epochs=2)
    killed, full = tmp_path / 'killed', tmp_path / 'full'
    # latest.pth writes: iterations 1 2 3 5 6 -> the 5th is iteration 6
    victim = subprocess.Popen(
        train_cmd(config, killed),
        env=env(SPY_KILL_DURING='.latest.pth.tmp@5'),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    reference = subprocess.run(
        train_cmd(config, full),
        env=env(),
        capture_output=True,
        text=True,
        timeout=240)
    out, _ = victim.communicate(timeout=240)
    check(reference)
    assert victim.returncode == -signal.SIGKILL, out[-3000:]
    # the crash left a half-written temp file, never a truncated checkpoint
    assert (killed / '.latest.pth.tmp').is_file()
    assert not checkpoint_is_complete(str(killed / '.latest.pth.tmp'))
    assert find_resumable_checkpoint(str(killed)) == str(killed / 'latest.pth')
    meta = torch.load(killed / 'latest.pth', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 5)
    assert sorted(losses(killed)) == [1, 2, 3, 4, 5]

    resumed = subprocess.run(
        train_cmd(config, killed, '--resume'),
        env=env(),
        capture_output=True,
        text=True,
        timeout=240)
    check(resumed)
    assert 'Resuming epoch 2 at batch 2 of 4' in resumed.stdout + \
        resumed.stderr
    after, ref = losses(killed), losses(full)
    assert sorted(after) == sorted(ref) == list(range(1, 9))
    for it in range(6, 9):
        assert after[it] == ref[it], (it, after[it], ref[it])
    final = torch.load(killed / 'params_rank0.pt')
    expected = torch.load(full / 'params_rank0.pt')
    for key in expected:
        assert torch.equal(final[key], expected[key]), key
    assert not (killed / '.latest.pth.tmp').exists()  # cleaned on resume


def test_resume_auto_skips_a_corrupt_newest_checkpoint(tmp_path, caplog):
    good = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict={}), good)
    data = (tmp_path / 'x.bin')
    torch.save(
        dict(meta=dict(epoch=2), state_dict=dict(w=torch.ones(1000))), data)
    blob = data.read_bytes()
    bad = tmp_path / 'epoch_2.pth'
    bad.write_bytes(blob[:len(blob) // 2])  # truncated
    os.utime(good, (1, 1))  # good is older
    (tmp_path / 'last_checkpoint').write_text(str(bad))
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF  # same length, corrupt record
    newest = tmp_path / 'iter_9.pth'
    newest.write_bytes(bytes(flipped))
    assert checkpoint_is_complete(str(good))
    assert not checkpoint_is_complete(str(bad))
    assert not checkpoint_is_complete(str(newest))
    assert find_resumable_checkpoint(str(tmp_path)) == str(good)
    assert find_resumable_checkpoint(str(tmp_path / 'empty')) is None


class _PoisonHook(Hook):
    """Sets a weight to NaN before iteration ``at`` (0-based)."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.backbone.conv1.weight.fill_(float('nan'))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = write_images(tmp_path / 'digits', 12)
    work = tmp_path / 'wd'
    cfg = in_process_cfg(
        DEMO,
        work,
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)),
        **{'train_dataloader.dataset.pipeline.1.size': 16},
        default_hooks=dict(checkpoint=dict(latest_interval=1)),
        train_cfg=dict(max_epochs=1))
    runtime.apply_train_args(cfg, str(DEMO), work_dir=str(work))
    runner = runtime.build_runner(cfg)
    runner.register_hook(_PoisonHook(at=2))
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert 'Non-finite loss at iteration 3 (epoch 1, batch 3/3)' in message
    assert str(work / 'latest.pth') in message
    ckpt = torch.load(work / 'latest.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())
    assert (work / 'last_checkpoint').read_text() == str(work / 'latest.pth')
    assert not (work / 'epoch_1.pth').exists()


def test_cpu_processes_get_bn_for_syncbn_and_ddp_without_device_ids(capsys):
    """PortableRunner.wrap_model in a (1-process) gloo group."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from torch import distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{free_port()}',
        rank=0,
        world_size=1)
    try:
        runner = runtime.PortableRunner.__new__(runtime.PortableRunner)
        runner._distributed = True
        runner.cfg = Config(dict(train_dataloader=dict(batch_size=32)))
        runner.logger = MMLogger.get_instance(f'test_{uuid.uuid4().hex}')
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.SyncBatchNorm(4), nn.Flatten(),
            nn.Linear(4 * 6 * 6, 2), nn.SyncBatchNorm(2))
        model[1].running_mean.fill_(0.5)
        wrapped = runtime.PortableRunner.wrap_model(runner, None, model)
        assert isinstance(wrapped, DistributedDataParallel)
        assert wrapped.device_ids is None
        logged = capsys.readouterr()
        assert 'every SyncBN layer is replaced by BN' in \
            logged.out + logged.err
        assert 'per-process batch 32' in logged.out + logged.err
        norms = [
            type(m).__name__ for m in wrapped.module.modules()
            if 'Norm' in type(m).__name__
        ]
        assert norms == ['_BatchNormXd', '_BatchNormXd']
        assert wrapped.module[1].running_mean.eq(0.5).all()  # kept
        out = wrapped(torch.randn(4, 3, 8, 8))  # SyncBN would raise on CPU
        out.sum().backward()
        assert wrapped.module[0].weight.grad is not None
    finally:
        dist.destroy_process_group()


# --- config errors ---------------------------------------------------------


def _load_train_tool():
    spec = importlib.util.spec_from_file_location('train_tool',
                                                  REPO / 'tools/train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrong_top_level_key_is_named_with_the_closest_key(tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f'_base_ = [{str(DEMO)!r}]\n'
                      'param_schedulers = []\n')
    with pytest.raises(SystemExit) as exit_:
        _load_train_tool().main([str(config), '--work-dir', str(tmp_path)])
    assert "'param_schedulers'" in str(exit_.value)
    assert "did you mean 'param_scheduler'" in str(exit_.value)


@pytest.mark.parametrize('options, expected', [
    (dict(model=dict(backbone=dict(type='ResNet_CIFARR'))),
     "model.backbone.type = 'ResNet_CIFARR' is not a registered model type "
     "in scope 'simsiam_mm'; did you mean 'ResNet_CIFAR'"),
    (dict(optim_wrapper=dict(optimizer=dict(momentom=0.9))),
     "optim_wrapper.optimizer.momentom: SGD has no argument 'momentom'; "
     "did you mean 'momentum'"),
])
def test_wrong_type_or_argument_is_named_with_the_closest(
        tmp_path, options, expected):
    data = write_images(tmp_path / 'digits', 8)
    cfg = in_process_cfg(
        DEMO,
        tmp_path,
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)))
    cfg.merge_from_dict(options)
    runtime.apply_train_args(cfg, str(DEMO), work_dir=str(tmp_path))
    with pytest.raises(ConfigError) as err:
        runtime.run(cfg)
    assert expected in str(err.value)


# --- AMP -------------------------------------------------------------------


def test_amp_choice_per_device():
    assert amp.amp_optim_wrapper_cfg('cpu')['type'] == 'CPUAmpOptimWrapper'
    bf16 = amp.amp_optim_wrapper_cfg('cuda', bf16_supported=True)
    assert (bf16['dtype'], bf16['loss_scale']) == ('bfloat16',
                                                   dict(enabled=False))
    fp16 = amp.amp_optim_wrapper_cfg('cuda', bf16_supported=False)
    assert (fp16['dtype'], fp16['loss_scale']) == ('float16', 'dynamic')
    with pytest.raises(ValueError, match='bfloat16'):
        amp.CPUAmpOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                      lr=0.1))


def test_amp_on_cpu_trains_in_bfloat16(tmp_path):
    data = write_images(tmp_path / 'digits', 8)
    cfg = in_process_cfg(
        DEMO,
        tmp_path / 'wd',
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)),
        train_cfg=dict(max_epochs=1),
        **{'train_dataloader.dataset.pipeline.1.size': 16})
    runtime.apply_train_args(
        cfg, str(DEMO), work_dir=str(tmp_path / 'wd'), amp=True)
    runner = runtime.build_runner(cfg)
    seen = []
    model = runner.model
    handle = model.backbone.conv1.register_forward_hook(
        lambda mod, inp, out: seen.append(out.dtype))
    runner.train()
    handle.remove()
    assert isinstance(runner.optim_wrapper, amp.CPUAmpOptimWrapper)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.isfinite(param_vector(model)).all()
    assert runner.iter == 2


# --- options and other packages' configs ----------------------------------


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
    ('mask-rcnn_r50-c4_ms-1x_coco.py', 'ResumableEpochBasedTrainLoop'),
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


# --- launch scripts ----------------------------------------------------------


def test_slurm_train_script_builds_the_srun_command(tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/bin/sh\necho "$@"\n')
    (fake / 'srun').chmod(0o755)
    proc = subprocess.run([
        'bash',
        str(REPO / 'tools' / 'slurm_train.sh'), 'gpu', 'job',
        'configs/simsiam_r50_8xb32.py', 'work_dirs/x', '--amp'
    ],
                          env=dict(
                              env(GPUS='16',
                                  GPUS_PER_NODE='8',
                                  CPUS_PER_TASK='4',
                                  SRUN_ARGS='--qos=high'),
                              PATH=f'{fake}{os.pathsep}{os.environ["PATH"]}'),
                          capture_output=True,
                          text=True,
                          timeout=30)
    check(proc)
    words = proc.stdout.split()
    for word in ('-p', 'gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
                 '--ntasks-per-node=8', '--cpus-per-task=4', '--qos=high',
                 'configs/simsiam_r50_8xb32.py', '--work-dir=work_dirs/x',
                 '--launcher=slurm', '--amp'):
        assert word in words, word
    assert words[words.index('-u') + 1].endswith(osp.join('tools', 'train.py'))
