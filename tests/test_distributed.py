"""Several CPU processes: two gloo processes agree with each other and with
one process; PortableRunner wraps CPU modules for DDP; the slurm script
builds its srun command."""
import os
import os.path as osp
import subprocess
import sys
import uuid

import pytest
import torch
from _train_utils import (FIXED_VIEWS, GN, REPO, check, env, free_port, losses,
                          write_config, write_images)

from simsiam_mm.engine import runtime


@pytest.mark.slow
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
