"""A non-finite loss stops the run without touching the last checkpoint."""
import pytest
import torch
from _train_utils import DEMO, in_process_cfg, write_images
from mmengine.hooks import Hook

from simsiam_mm.engine import runtime


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
