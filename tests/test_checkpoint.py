"""Safe, compatible checkpoint loading: local files, the allow-list, numpy,
trust.

The other paths: tests/test_checkpoint_remote.py (URL schemes),
test_checkpoint_limits.py (sizes), test_checkpoint_config.py (config text
inside checkpoints, inferencers), test_checkpoint_tools.py (tools/*.py).
"""
import datetime
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from _checkpoint_payloads import (PICKLE_PAYLOADS, Tiny, assert_same,
                                  config_payload, make_runner, marker_in,
                                  poisoned_copy)
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mme
from mmengine.runner import load_checkpoint

from simsiam_mm import checkpoint as ck
from simsiam_mm.checkpoint import config_text
from simsiam_mm.engine import runtime
from simsiam_mm.engine.config_check import ConfigError


@pytest.fixture(scope='module')
def benign(tmp_path_factory):
    """A checkpoint written by mmengine's CheckpointHook after 2 epochs:
    HistoryBuffers, numpy arrays and scalars, optimizer and scheduler."""
    work_dir = tmp_path_factory.mktemp('benign')
    make_runner(work_dir, 2).train()
    return work_dir / 'epoch_2.pth'


def test_runner_checkpoint_round_trips_through_resume(tmp_path):
    first = make_runner(tmp_path, 2)
    first.train()
    weights = first.model.backbone.weight.detach().clone()
    saved = ck.safe_load(str(tmp_path / 'epoch_2.pth'))
    assert saved['meta']['epoch'] == 2
    assert 'train/loss' in saved['message_hub']['log_scalars']

    second = make_runner(tmp_path, 3, resume=True)
    second.load_or_resume()
    assert second.epoch == 2 and second.iter == 4
    torch.testing.assert_close(second.model.backbone.weight, weights)
    momentum = second.optim_wrapper.optimizer.state
    assert len(momentum) == 2  # SGD buffers came back
    hub = second.message_hub.get_scalar('train/loss')
    assert len(hub.data[0]) == 4  # the loss history came back
    second.train()
    assert second.epoch == 3


def test_benign_checkpoint_loads_as_full_unpickling_does(benign):
    """Same values, and real numpy types (not the stand-ins)."""
    loaded = ck.safe_load(str(benign))
    reference = torch.load(str(benign), weights_only=False)  # ours: trusted
    assert_same(loaded, reference)
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert type(history) is HistoryBuffer
    assert type(history._log_history) is np.ndarray
    assert history._log_history.dtype == np.float64


def test_numpy_values_round_trip_with_exact_types(tmp_path):
    values = dict(
        f8=np.arange(6.).reshape(2, 3),
        fortran=np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        big_endian=np.arange(3, dtype='>f4'),
        strings=np.array(['ab', 'c']),
        empty=np.zeros((0, 3)),
        zero_d=np.array(1.5),
        scalar=np.float64(2.5),
        integer=np.int64(7),
        boolean=np.bool_(True),
        dtype=np.dtype('<u2'))
    torch.save(values, tmp_path / 'np.pth')
    loaded = ck.safe_load(str(tmp_path / 'np.pth'))
    for key, value in values.items():
        got = loaded[key]
        assert type(got) is type(value), key
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value)
            assert got.dtype == value.dtype
            assert got.flags.f_contiguous == value.flags.f_contiguous
            assert got.flags.writeable
        else:
            assert got == value
    assert loaded['fortran'].flags.f_contiguous


def test_the_payloads_are_live(tmp_path):
    """Without protection each payload writes its marker: the tests that
    assert the marker never appears can fail."""
    for name, payload in PICKLE_PAYLOADS.items():
        marker = marker_in(tmp_path)
        pickle.loads(pickle.dumps(payload(marker)))
        assert marker.exists(), name
    marker = marker_in(tmp_path)
    config_text._original_fromstring(config_payload(marker), '.py')
    assert marker.exists()


@pytest.mark.parametrize('kind, named', [('os.system', 'posix.system'),
                                         ('subprocess.call', 'commands.call'),
                                         ('eval', 'eval')])
def test_local_pickle_payloads_are_refused_everywhere(benign, tmp_path, kind,
                                                      named):
    marker = marker_in(tmp_path)
    bad = poisoned_copy(benign, tmp_path / 'bad.pth', marker, kind)
    entry_points = [
        lambda: ck.safe_load(str(bad)),
        lambda: load_checkpoint(Tiny(), str(bad)),  # mmengine's API
        lambda: mme.CheckpointLoader.load_checkpoint(str(bad)),
        lambda: mme.load_from_local(str(bad), 'cpu'),
        lambda: make_runner(tmp_path / 'w').resume(str(bad)),
        lambda: make_runner(tmp_path / 'w', load_from=str(bad)).load_or_resume(
        ),
    ]
    for load in entry_points:
        with pytest.raises(ck.UnsafeCheckpointError) as err:
            load()
        assert str(bad) in str(err.value) and named in str(err.value)
        assert '--trust-checkpoint' in str(err.value)
        assert not marker.exists()


def test_getattr_gadget_is_refused(tmp_path):

    class Gadget:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    bad = tmp_path / 'gadget.pth'
    torch.save({'x': Gadget()}, bad)
    with pytest.raises(ck.UnsafeCheckpointError, match='__init__'):
        ck.safe_load(str(bad))


class _Reduce:
    """Pickles as ``func(*args)`` plus an optional ``state`` (BUILD)."""

    def __init__(self, func, args, state=None):
        self.reduced = (func, args) if state is None else (func, args, state)

    def __reduce__(self):
        return self.reduced


def _numpy_gadget(kind):
    from numpy.core import multiarray
    if kind == 'object dtype':
        # with a short list numpy's __setstate__ reads past it: a crash
        return _Reduce(multiarray._reconstruct, (np.ndarray, (0, ), b'b'),
                       (1, (3, ), np.dtype(object), False, [1]))
    if kind == 'huge _reconstruct':  # allocates 2**40 bytes itself
        return _Reduce(multiarray._reconstruct, (np.ndarray, (2**40, ), b'b'))
    if kind == 'short data':
        return _Reduce(multiarray._reconstruct, (np.ndarray, (0, ), b'b'),
                       (1, (10**6, ), np.dtype('f8'), False, b'\0' * 8))
    if kind == 'void scalar':
        return _Reduce(multiarray.scalar, (np.dtype('V1000000'), b''))
    raise KeyError(kind)


@pytest.mark.parametrize('kind, named', [
    ('object dtype', "dtype 'O8'"),
    ('huge _reconstruct', 'shape (1099511627776,)'),
    ('short data', 'does not match its shape (1000000,)'),
    ('void scalar', "dtype 'V1000000'"),
])
def test_numpy_gadgets_are_refused(tmp_path, kind, named):
    bad = tmp_path / 'numpy.pth'
    torch.save({'x': _numpy_gadget(kind)}, bad)
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        ck.safe_load(str(bad))
    assert named in str(err.value) and str(bad) in str(err.value)


def test_a_dtype_cannot_be_given_the_object_flag(tmp_path):
    """numpy's dtype.__setstate__ takes flags from the file, and a float64
    with the object flag makes numpy read floats as pointers."""
    forged = _Reduce(np.dtype, ('f8', False, True),
                     (3, '<', None, None, None, -1, -1, 63))
    torch.save({'dtype': forged}, tmp_path / 'flags.pth')
    dtype = ck.safe_load(str(tmp_path / 'flags.pth'))['dtype']
    assert dtype == np.float64 and not dtype.hasobject


def test_deep_nesting_is_refused(tmp_path):
    nested = []
    for _ in range(300):
        nested = [nested]
    torch.save({'x': nested}, tmp_path / 'deep.pth')
    with pytest.raises(ck.UnsafeCheckpointError, match='nested more than'):
        ck.safe_load(str(tmp_path / 'deep.pth'))


def test_trust_comes_from_the_command_line_or_environment(
        tmp_path, monkeypatch):
    legacy = tmp_path / 'legacy.pth'
    day = datetime.date(2020, 1, 2)  # a harmless class outside the list
    torch.save({'state_dict': {}, 'day': day}, legacy)
    with pytest.raises(ck.UnsafeCheckpointError, match='datetime.date'):
        ck.safe_load(str(legacy))
    monkeypatch.setenv(ck.ENV_TRUSTED, f'/elsewhere.pth:{legacy}')
    assert ck.safe_load(str(legacy))['day'] == day
    monkeypatch.setenv(ck.ENV_TRUSTED, 'http://127.0.0.1:1/x.pth')
    assert ck.is_trusted('http://127.0.0.1:1/x.pth')  # a URL, whole
    monkeypatch.delenv(ck.ENV_TRUSTED)
    ck.trust(str(legacy))  # what --trust-checkpoint does
    try:
        assert ck.safe_load(str(legacy))['day'] == day
    finally:
        ck._TRUSTED.clear()
    with pytest.raises(ck.UnsafeCheckpointError):
        ck.safe_load(str(legacy))


def test_a_config_cannot_grant_trust(tmp_path):
    legacy = str(tmp_path / 'legacy.pth')
    config = tmp_path / 'trusting.json'
    config.write_text(f'{{"trusted_checkpoints": ["{legacy}"], '
                      f'"load_from": "{legacy}"}}')
    with pytest.raises(ConfigError) as err:
        runtime.load_config(str(config))
    assert "'trusted_checkpoints' is refused" in str(err.value)
    assert '--trust-checkpoint' in str(err.value)
    # nothing reads the key, even past the check
    cfg = runtime.load_config(str(config), check_keys=False)
    runtime.apply_train_args(cfg, str(config), work_dir=str(tmp_path))
    assert not ck.is_trusted(legacy)


def test_config_text_outside_checkpoints_still_runs_as_mmengine_does():
    cfg = Config.fromstring('a = 1 + 1\n', '.py')
    assert cfg.a == 2


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        ck.safe_load(osp.join(tmp_path, 'nope.pth'))
