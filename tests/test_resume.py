"""Resume that loses nothing: a run killed with SIGKILL in the middle of a
save resumes with ``--resume auto`` to the same losses and weights; a
corrupt newest checkpoint is passed over."""
import os
import signal
import subprocess
import zipfile

import pytest
import torch
from _train_utils import (check, env, losses, train_cmd, write_config,
                          write_images)

from simsiam_mm.engine.resume import (checkpoint_is_complete,
                                      find_resumable_checkpoint)


@pytest.mark.slow
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


def test_resume_auto_does_not_inflate_a_compressed_checkpoint(tmp_path):
    """torch.save never compresses: a deflated record (a possible deflate
    bomb) is passed over without reading its records."""
    stored = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(4096))), stored)
    deflated = tmp_path / 'epoch_2.pth'
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(
            deflated, 'w', zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert deflated.stat().st_size < stored.stat().st_size
    os.utime(stored, (1, 1))  # the deflated one is the newest
    assert checkpoint_is_complete(str(stored))
    assert not checkpoint_is_complete(str(deflated))
    assert find_resumable_checkpoint(str(tmp_path)) == str(stored)
