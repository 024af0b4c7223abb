"""Every ablation config of configs/ablations builds and trains 2 iters."""
import glob
import os.path as osp

import pytest
import torch
from _digits import write_digits
from mmengine.config import Config
from mmengine.runner import Runner

import simsiam_mm  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ABLATIONS = sorted(glob.glob(osp.join(ROOT, 'configs/ablations/*.py')))


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return write_digits(
        str(tmp_path_factory.mktemp('digits')),
        train_per_class=2,
        val_per_class=1)


def test_the_ablations_ship():
    names = {osp.basename(p) for p in ABLATIONS}
    for switch in ('no-stopgrad', 'no-predictor', 'predictor-frozen',
                   'predictor-lr-decayed', 'bn-none', 'bn-hidden', 'bn-all',
                   'similarity-ce', 'asymmetric', 'asymmetric-2x', 'dim-256'):
        assert f'simsiam_{switch}_digits.py' in names, switch


@pytest.mark.parametrize('path', ABLATIONS, ids=osp.basename)
def test_ablation_runs_two_iterations(path, digits, tmp_path):
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path)
    loader = cfg.train_dataloader
    loader.update(batch_size=8, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = digits
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] not in ('KNNMonitorHook', )
    ]
    runner = Runner.from_cfg(cfg)
    before = {
        k: v.detach().clone()
        for k, v in runner.model.named_parameters()
    }
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert -1.0 <= loss <= 10.0 and loss == loss
    model = runner.model
    changed = [
        k for k, v in model.named_parameters()
        if not torch.equal(v, before[k])
    ]
    assert any(k.startswith('backbone.') for k in changed)
    if model.freeze_head:
        assert not any(k.startswith('head.') for k in changed)
    else:
        assert any(k.startswith(('head.', 'neck.')) for k in changed)
