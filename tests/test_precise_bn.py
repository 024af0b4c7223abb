"""PreciseBNHook: detectron2's precise BN statistics in mmengine's runner.

The statistics are checked against their closed form (the mean over the
batches of each batch's mean and unbiased variance), on a toy model whose
BN sees the raw inputs; the hook's timing against the loops' validations.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from simsiam_mm.engine.precise_bn import PreciseBNHook, update_bn_stats
from simsiam_mm.registry import DATASETS, METRICS, MODELS

FEATURES = 3


@DATASETS.register_module(name='_PreciseBNPoints', force=True)
class Points(Dataset):
    """8 fixed 3-d points, 4 per batch: two distinct batches in order."""

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.data = torch.randn(
            8, FEATURES, generator=gen) * torch.tensor(
                [1., 2., 3.]) + torch.tensor([5., -1., 0.5])

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return dict(inputs=self.data[index])


@MODELS.register_module(name='_PreciseBNModel', force=True)
class BNModel(BaseModel):
    """BN on the raw inputs, then a linear layer; records forward modes."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(FEATURES)
        self.fc = nn.Linear(FEATURES, 1)
        self.modes = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.modes.append(mode)
        out = self.fc(self.bn(inputs))
        if mode == 'loss':
            return dict(loss=out.square().mean())
        return [dict(score=o) for o in out]


@METRICS.register_module(name='_PreciseBNCount', force=True)
class Count(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        return dict(count=sum(results))


def batch_stats(batches):
    """Closed form: mean of the batch means and of the unbiased variances."""
    means = torch.stack([b.mean(0) for b in batches]).mean(0)
    variances = torch.stack([b.var(0, unbiased=True) for b in batches])
    return means, variances.mean(0)


def test_statistics_are_the_mean_of_the_batch_statistics():
    model = BNModel().train()
    model.bn.momentum = 0.3
    data = Points().data
    batches = [data[:4], data[4:], data[:4]]
    num = update_bn_stats(model, iter([dict(inputs=b) for b in batches]), 3)
    assert num == 1
    mean, var = batch_stats(batches)
    assert torch.allclose(model.bn.running_mean, mean, atol=1e-6)
    assert torch.allclose(model.bn.running_var, var, atol=1e-5)
    assert model.bn.momentum == 0.3  # restored
    assert model.modes == ['loss'] * 3  # the training forward
    # too few batches: an error, statistics unchanged
    before = model.bn.running_mean.clone()
    with pytest.raises(ValueError, match='gave 1 batches, 2 wanted'):
        update_bn_stats(model, iter([dict(inputs=data[:4])]), 2)
    assert torch.equal(model.bn.running_mean, before)
    assert model.bn.momentum == 0.3
    # eval-mode BN is left alone
    model.eval()
    assert update_bn_stats(model, iter([dict(inputs=data[:4])]), 1) == 0


class Events(Hook):
    """Records each precise-BN run and each validation, in order."""

    priority = 'LOWEST'

    def __init__(self, log):
        self.log = log

    def before_val_epoch(self, runner):
        self.log.append(('val', runner.iter if self.by_iter else runner.epoch,
                         runner.model.bn.running_mean.clone()))


def _runner(tmp_path, train_cfg, log):
    loader = dict(
        dataset=dict(type='_PreciseBNPoints'),
        batch_size=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        num_workers=0)
    cfg = Config(
        dict(
            model=dict(type='_PreciseBNModel'),
            work_dir=str(tmp_path),
            experiment_name=f'precise_bn_{train_cfg["type"]}',
            train_dataloader=loader,
            val_dataloader=loader,
            val_evaluator=dict(type='_PreciseBNCount'),
            train_cfg=train_cfg,
            val_cfg=dict(type='ValLoop'),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.01, momentum=0.)),
            default_hooks=dict(checkpoint=None, logger=None),
            custom_hooks=[dict(type='PreciseBNHook', num_iters=3)],
            default_scope='simsiam_mm'))
    runner = Runner.from_cfg(cfg)
    hook, = [h for h in runner.hooks if isinstance(h, PreciseBNHook)]
    run = hook._run
    by_iter = train_cfg['type'] == 'IterBasedTrainLoop'

    def spy(runner):
        step = runner.iter + 1 if by_iter else runner.epoch + 1
        log.append(('precise', step, None))
        run(runner)

    hook._run = spy
    events = Events(log)
    events.by_iter = by_iter
    runner.register_hook(events)
    return runner


@pytest.mark.parametrize('train_cfg', [
    dict(type='IterBasedTrainLoop', max_iters=4, val_interval=2),
    dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=2),
])
def test_runs_before_every_validation_and_at_the_end(tmp_path, train_cfg):
    log = []
    runner = _runner(tmp_path, train_cfg, log)
    runner.train()
    last = train_cfg.get('max_iters', train_cfg.get('max_epochs'))
    assert [e[:2] for e in log] == [('precise', 2), ('val', 2),
                                    ('precise', last), ('val', last)]
    # the hook's own loader cycles over the data in order (4 + 2 batches
    # so far): b0 b1 b0 | b1 b0 b1; the last validation saw the mean
    data = Points().data
    b0, b1 = data[:4], data[4:]
    means = [batch_stats(run)[0] for run in ([b0, b1, b0], [b1, b0, b1])]
    for (_, _, seen), mean in zip([e for e in log if e[0] == 'val'], means):
        assert torch.allclose(seen, mean, atol=1e-6)
    # the training forward only (no test-time 'tensor' forward)
    assert set(runner.model.modes) == {'loss', 'predict'}


def test_num_iters_must_be_positive():
    with pytest.raises(ValueError, match='num_iters'):
        PreciseBNHook(num_iters=0)
