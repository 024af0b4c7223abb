"""Checkpoints that declare more memory than allowed are refused before
``torch.load`` runs: zip records that expand far beyond the file, legacy
and tar storages larger than the file or the limit."""
import io
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from _checkpoint_payloads import SystemPayload, marker_in

from simsiam_mm import checkpoint as ck
from simsiam_mm.checkpoint import limits


def _forbid_torch_load(monkeypatch):

    def forbidden(*args, **kwargs):
        raise AssertionError('torch.load was called')

    monkeypatch.setattr(torch, 'load', forbidden)


@pytest.fixture
def no_torch_load(monkeypatch):
    """Fails the test if ``torch.load`` is reached."""
    _forbid_torch_load(monkeypatch)


def _deflated_copy(src, dst):
    """Re-zip a torch checkpoint with every record deflated."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(
            dst, 'w', zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info.filename))
    return dst


def test_zip_records_that_expand_far_beyond_the_file_are_refused(
        tmp_path, monkeypatch):
    torch.save({'w': torch.zeros(4 * 2**20)}, tmp_path / 'plain.pth')  # 16M
    bomb = _deflated_copy(tmp_path / 'plain.pth', tmp_path / 'bomb.pth')
    size = bomb.stat().st_size
    assert size < 2**20  # 16 MiB of zeros deflate to a few KiB
    # torch itself would inflate it
    assert torch.load(bomb, weights_only=True)['w'].numel() == 4 * 2**20

    _forbid_torch_load(monkeypatch)
    with pytest.raises(ck.CheckpointSizeError) as err:
        ck.safe_load(str(bomb))
    message = str(err.value)
    assert str(bomb) in message
    assert f'from a file of {limits.human(size)}' in message
    assert f'more than {ck.MAX_EXPANSION}x the file' in message
    assert 'would expand to 16.0 MiB' in message


def test_a_zip_directory_of_too_many_records_is_refused(
        tmp_path, monkeypatch, no_torch_load):
    monkeypatch.setattr(limits, 'MAX_RECORDS', 10)
    torch.save({f'w{i}': torch.ones(1) for i in range(5)}, tmp_path / 'a.pth')
    assert len(zipfile.ZipFile(tmp_path / 'a.pth').namelist()) == 11
    with pytest.raises(ck.CheckpointSizeError) as err:
        ck.safe_load(str(tmp_path / 'a.pth'))
    assert 'declares 11 records, more than 10' in str(err.value)
    assert str(tmp_path / 'a.pth') in str(err.value)


def test_deflated_records_within_the_ratio_still_load(tmp_path):
    values = torch.randn(1000)
    torch.save({'w': values}, tmp_path / 'plain.pth')
    packed = _deflated_copy(tmp_path / 'plain.pth', tmp_path / 'packed.pth')
    assert torch.equal(ck.safe_load(str(packed))['w'], values)


def test_the_limit_is_named_and_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / 'w.pth'
    torch.save({'w': torch.ones(2**16)}, path)  # 256 KiB of float32
    monkeypatch.setenv(ck.ENV_MAX_BYTES, '100K')
    with pytest.raises(ck.CheckpointSizeError) as err:
        ck.safe_load(str(path))
    message = str(err.value)
    assert str(path) in message
    assert 'more than the limit of 100.0 KiB (102400 bytes)' in message
    assert f'raise the limit: {ck.ENV_MAX_BYTES}=257K' in message
    monkeypatch.setenv(ck.ENV_MAX_BYTES, '1M')
    assert ck.safe_load(str(path))['w'].sum() == 2**16
    # an argument beats the environment
    with pytest.raises(ck.CheckpointSizeError, match='limit of 1000 bytes'):
        ck.safe_load(str(path), max_bytes=1000)


@pytest.mark.parametrize('text, expected', [
    ('16G', 16 * 2**30),
    ('512MiB', 512 * 2**20),
    ('1.5k', 1536),
    ('123', 123),
])
def test_sizes_parse(text, expected):
    assert limits.parse_size(text) == expected


def test_a_bad_size_names_the_variable(monkeypatch):
    monkeypatch.setenv(ck.ENV_MAX_BYTES, 'lots')
    with pytest.raises(ValueError, match=f"{ck.ENV_MAX_BYTES}='lots'"):
        ck.max_bytes()
    monkeypatch.delenv(ck.ENV_MAX_BYTES)
    assert ck.max_bytes() == ck.DEFAULT_MAX_BYTES == 8 * 2**30


# --- the legacy (non-zip) format -------------------------------------------

NUMEL = 12345  # pickled as BININT2 b'M90' in the storage declaration


def _legacy(path, obj):
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    return path


def test_legacy_checkpoints_load(tmp_path):
    values = dict(w=torch.randn(NUMEL), n=np.arange(3.), step=3)
    loaded = ck.safe_load(str(_legacy(tmp_path / 'old.pth', values)))
    assert torch.equal(loaded['w'], values['w']) and loaded['step'] == 3
    np.testing.assert_array_equal(loaded['n'], values['n'])


def test_legacy_storage_larger_than_the_file_is_refused(
        tmp_path, no_torch_load):
    data = _legacy(tmp_path / 'old.pth', {'w': torch.ones(NUMEL)}).read_bytes()
    # the storage declaration, then the tensor's size
    assert data.count(b'M90') == 2
    # declare 2**30 floats (4 GiB) for a storage the file holds 12345 of
    forged = tmp_path / 'forged.pth'
    forged.write_bytes(
        data.replace(b'M90', b'J' + struct.pack('<i', 2**30), 1))
    with pytest.raises(ck.CheckpointSizeError) as err:
        ck.safe_load(str(forged), max_bytes=2**40)
    assert str(forged) in str(err.value)
    assert 'storages declare 4.0 GiB' in str(err.value)
    assert 'the file holds only' in str(err.value)


def test_legacy_storage_over_the_limit_is_refused(tmp_path, no_torch_load):
    path = _legacy(tmp_path / 'old.pth', {'w': torch.ones(NUMEL)})
    with pytest.raises(ck.CheckpointSizeError, match='limit of 40.0 KiB'):
        ck.safe_load(str(path), max_bytes=40 * 1024)  # holds 48 KiB


def test_legacy_pickle_payload_is_refused(tmp_path):
    marker = marker_in(tmp_path)
    path = _legacy(tmp_path / 'old.pth', {'x': SystemPayload(marker)})
    with pytest.raises(ck.UnsafeCheckpointError, match='posix.system'):
        ck.safe_load(str(path))
    assert not marker.exists()


# --- the legacy tar format (torch < 0.4) -----------------------------------


class _Tensor0:
    """Pickled as persistent id 0: the first tensor of the tar file."""


def _tar_checkpoint(path, obj, numel=4, declared=None):
    """A checkpoint in torch's tar format: ``storages`` (one float storage
    of ``numel`` elements, declaring ``declared``), ``tensors`` (one 1-d
    tensor on it) and ``pickle`` (``obj``, where :class:`_Tensor0` stands
    for the tensor)."""

    def pickled(*objects):
        out = io.BytesIO()
        for o in objects:
            pickle.dump(o, out, protocol=2)
        return out

    storages = pickled(1, ('0', 'cpu', torch.FloatStorage))
    storages.write(struct.pack('<q', numel if declared is None else declared))
    storages.write(np.arange(numel, dtype='<f4').tobytes())
    pickle.dump([], storages, protocol=2)  # storage views
    tensors = pickled(1, (0, '0', torch.FloatTensor))
    tensors.write(struct.pack('<ii', 1, 0) + struct.pack('<qqq', numel, 1, 0))

    class Pickler(pickle.Pickler):

        def persistent_id(self, o):
            return '0' if o is _Tensor0 else None

    main = io.BytesIO()
    Pickler(main, protocol=2).dump(obj)
    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tar:
        for name, member in (('storages', storages), ('tensors', tensors),
                             ('pickle', main)):
            info = tarfile.TarInfo(name)
            info.size = len(member.getvalue())
            member.seek(0)
            tar.addfile(info, member)
    return path


def test_tar_checkpoints_need_trust(tmp_path):
    path = str(_tar_checkpoint(tmp_path / 'old.tar', {'w': _Tensor0}))
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        ck.safe_load(path)
    assert path in str(err.value) and 'legacy tar format' in str(err.value)
    ck.trust(path)
    try:
        assert ck.safe_load(path)['w'].tolist() == [0., 1., 2., 3.]
    finally:
        ck._TRUSTED.clear()


def test_tar_payload_is_refused(tmp_path):
    marker = marker_in(tmp_path)
    path = str(_tar_checkpoint(tmp_path / 'old.tar', SystemPayload(marker)))
    with pytest.raises(ck.UnsafeCheckpointError, match='legacy tar format'):
        ck.safe_load(path)
    assert not marker.exists()


def test_tar_storage_sizes_are_checked_even_when_trusted(
        tmp_path, no_torch_load):
    path = str(
        _tar_checkpoint(tmp_path / 'old.tar', {'w': _Tensor0}, declared=2**40))
    ck.trust(path)
    try:
        with pytest.raises(ck.CheckpointSizeError) as err:
            ck.safe_load(path, max_bytes=2**50)
    finally:
        ck._TRUSTED.clear()
    assert path in str(err.value) and 'more than its tar member holds' in str(
        err.value)
