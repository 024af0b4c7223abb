"""Safe, compatible checkpoint loading."""
import os
import os.path as osp

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

from simsiam_mm import checkpoint as ck


class Tiny(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        return dict(loss=self.backbone(x).pow(2).mean())


class Data(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.arange(3.) + i)


def make_runner(work_dir, max_epochs, resume=False):
    return Runner(
        model=Tiny(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=Data(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=4)],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        resume=resume,
        default_scope='simsiam_mm')


class Evil:
    """A pickle that creates a file when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


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


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {}, 'x': Evil(marker)}, bad)
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        load_checkpoint(Tiny(), str(bad))  # mmengine's own entry point
    msg = str(err.value)
    assert str(bad) in msg and 'system' in msg
    assert '--trust-checkpoint' in msg
    assert not marker.exists()
    # the Runner's resume path is guarded too
    runner = make_runner(tmp_path / 'w', 1)
    with pytest.raises(ck.UnsafeCheckpointError):
        runner.resume(str(bad))
    assert not marker.exists()


def test_getattr_gadget_is_refused(tmp_path):
    from mmengine.logging import HistoryBuffer

    class Gadget:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    bad = tmp_path / 'gadget.pth'
    torch.save({'x': Gadget()}, bad)
    with pytest.raises(ck.UnsafeCheckpointError, match='__init__'):
        ck.safe_load(str(bad))


def test_trusted_opt_in(tmp_path, monkeypatch):
    legacy = tmp_path / 'legacy.pth'
    torch.save({'state_dict': {}, 'cls': Data}, legacy)  # a class global
    with pytest.raises(ck.UnsafeCheckpointError, match='Data'):
        ck.safe_load(str(legacy))
    monkeypatch.setenv(ck.ENV_TRUSTED, str(legacy))
    assert ck.safe_load(str(legacy))['cls'] is Data
    monkeypatch.delenv(ck.ENV_TRUSTED)
    ck.trust(str(legacy))
    try:
        assert ck.safe_load(str(legacy))['cls'] is Data
    finally:
        ck._TRUSTED.clear()


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        ck.safe_load(osp.join(tmp_path, 'nope.pth'))
