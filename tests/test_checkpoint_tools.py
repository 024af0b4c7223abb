"""Our tools never run code from a checkpoint: ``tools/train.py`` with
``--resume PATH``, ``--resume auto``, ``load_from``, ``init_cfg``
``Pretrained``, ``--trust-checkpoint``; ``tools/test.py``;
``tools/extract_backbone.py``.

The three attacks of issue 14 run as real commands in fresh processes; the
other paths call the tools' ``main`` in this process (same code, without
the interpreter start).
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import torch
from _checkpoint_payloads import (REPO, marker_in, poisoned_copy, train_tiny,
                                  write_tiny_config)
from _digits import write_digits
from _tools import load_tool

from simsiam_mm import checkpoint as ck

LINEAR = (
    REPO / 'configs' / 'benchmarks' / 'linear' /
    'r18-cifar_1xb128-linear-sgd-coslr-10e_digits.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A SimSiam run of one epoch: ``epoch_1.pth`` as our tools write it."""
    return train_tiny(tmp_path_factory.mktemp('trained'), epochs=1)


def _tool(name):
    return load_tool(name)


def _unique():
    return f'experiment_name=t_{uuid.uuid4().hex[:8]}'


def _command(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(REPO),
                                         env.get('PYTHONPATH',
                                                 '')]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, *map(str, args)],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=600)


@pytest.mark.slow
def test_train_resume_path_ignores_a_config_payload(trained, tmp_path):
    """Issue 14, attack 1: ``meta['config']`` went to Config.fromstring."""
    marker = marker_in(tmp_path)
    bad = poisoned_copy(trained / 'epoch_1.pth', tmp_path / 'bad.pth', marker,
                        'config')
    config = write_tiny_config(tmp_path, epochs=2)
    work_dir = tmp_path / 'work'
    proc = _command(REPO / 'tools' / 'train.py', config, '--work-dir',
                    work_dir, '--resume', bad)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists()
    assert f"Ignored ['meta']['config'] of checkpoint {bad}" in proc.stdout
    assert 'resumed epoch: 1, iter: 2' in proc.stdout
    assert (work_dir / 'epoch_2.pth').is_file()


@pytest.mark.slow
def test_train_resume_auto_refuses_a_poisoned_checkpoint_in_the_work_dir(
        trained, tmp_path):
    marker = marker_in(tmp_path)
    work_dir = tmp_path / 'work'
    bad = poisoned_copy(trained / 'epoch_1.pth', work_dir / 'epoch_1.pth',
                        marker, 'os.system')
    config = write_tiny_config(tmp_path, epochs=2)
    proc = _command(REPO / 'tools' / 'train.py', config, '--work-dir',
                    work_dir, '--resume')
    assert proc.returncode != 0
    assert not marker.exists()
    assert f'UnsafeCheckpointError: Refusing to load checkpoint {bad}: it ' \
        'asks to unpickle posix.system' in proc.stderr
    assert not (work_dir / 'epoch_2.pth').exists()


@pytest.mark.slow
def test_a_json_config_cannot_trust_its_checkpoint(trained, tmp_path):
    """Issue 14, attack 3: ``trusted_checkpoints`` in a config."""
    marker = marker_in(tmp_path)
    bad = poisoned_copy(trained / 'epoch_1.pth', tmp_path / 'bad.pth', marker,
                        'os.system')
    config = tmp_path / 'trusting.json'
    config.write_text(
        json.dumps(
            dict(
                _base_=[write_tiny_config(tmp_path)],
                trusted_checkpoints=[str(bad)],
                load_from=str(bad))))
    proc = _command(REPO / 'tools' / 'train.py', config, '--work-dir',
                    tmp_path / 'work')
    assert proc.returncode != 0
    assert not marker.exists()
    assert f"config error in {config}: Config key 'trusted_checkpoints' is " \
        'refused: a config file cannot grant trust' in proc.stderr


def test_train_resume_auto_ignores_a_config_payload(trained, tmp_path):
    marker = marker_in(tmp_path)
    work_dir = tmp_path / 'work'
    poisoned_copy(trained / 'epoch_1.pth', work_dir / 'epoch_1.pth', marker,
                  'config')
    config = write_tiny_config(tmp_path, epochs=2)
    _tool('train').main([
        config, '--work-dir',
        str(work_dir), '--resume', '--cfg-options',
        _unique()
    ])
    assert not marker.exists()
    assert (work_dir / 'epoch_2.pth').is_file()


@pytest.mark.parametrize(
    'options', [
        ['load_from={bad}'],
        [
            'model.backbone.init_cfg.type=Pretrained',
            'model.backbone.init_cfg.checkpoint={bad}',
            'model.backbone.init_cfg.prefix=backbone.'
        ],
        [
            'model.init_cfg.type=simsiam_mm.SimSiamPretrained',
            'model.init_cfg.checkpoint={bad}'
        ],
    ],
    ids=['load_from', 'Pretrained', 'SimSiamPretrained'])
def test_train_refuses_a_poisoned_load_from_or_init_cfg(
        trained, tmp_path, options):
    marker = marker_in(tmp_path)
    bad = poisoned_copy(trained / 'epoch_1.pth', tmp_path / 'bad.pth', marker,
                        'os.system')
    config = write_tiny_config(tmp_path)
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        _tool('train').main([
            config, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            _unique(), *[o.format(bad=bad) for o in options]
        ])
    assert str(bad) in str(err.value) and 'posix.system' in str(err.value)
    assert not marker.exists()


def test_trust_checkpoint_flag_lets_a_legacy_file_load(trained, tmp_path):
    legacy = ck.safe_load(str(trained / 'epoch_1.pth'))
    legacy['meta']['day'] = datetime.date(2020, 1, 2)  # outside the list
    path = tmp_path / 'legacy.pth'
    torch.save(legacy, path)
    config = write_tiny_config(tmp_path)
    argv = [config, '--cfg-options', f'load_from={path}']
    with pytest.raises(ck.UnsafeCheckpointError, match='datetime.date'):
        _tool('train').main(argv + [_unique(), '--work-dir', str(tmp_path)])
    try:
        _tool('train').main(argv + [
            _unique(), '--work-dir',
            str(tmp_path / 'trusted'), '--trust-checkpoint',
            str(path)
        ])
    finally:
        ck._TRUSTED.clear()
    assert (tmp_path / 'trusted' / 'epoch_1.pth').is_file()


def test_test_tool_refuses_a_poisoned_checkpoint(trained, tmp_path):
    marker = marker_in(tmp_path)
    bad = poisoned_copy(trained / 'epoch_1.pth', tmp_path / 'bad.pth', marker,
                        'subprocess.call')
    digits = write_digits(str(tmp_path / 'digits'), 2, 2)
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        _tool('test').main([
            str(LINEAR),
            str(bad), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            _unique(), f'test_dataloader.dataset.data_root={digits}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False'
        ])
    assert str(bad) in str(err.value) and 'commands.call' in str(err.value)
    assert not marker.exists()


def test_extract_backbone_refuses_a_poisoned_checkpoint(trained, tmp_path):
    tool = _tool('extract_backbone')
    marker = marker_in(tmp_path)
    bad = poisoned_copy(trained / 'epoch_1.pth', tmp_path / 'bad.pth', marker,
                        'eval')
    with pytest.raises(ck.UnsafeCheckpointError, match='builtins.eval'):
        tool.main([str(bad), str(tmp_path / 'out.pth')])
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()
    good = shutil.copy(trained / 'epoch_1.pth', tmp_path / 'good.pth')
    tool.main([str(good), str(tmp_path / 'out.pth')])
    assert (tmp_path / 'out.pth').is_file()
