"""kNN and collapse monitors on real (tiny) SimSiam runs.

The runs use the project's own digits pipelines (configs/_base_/datasets/
digits_simsiam.py and digits_knn.py) on a small image folder written from
scikit-learn's bundled digits, a narrow CIFAR ResNet-18 (base width 8,
d = 64) and one thread, so that each run takes seconds.
"""
import glob
import json
import math
import os.path as osp
import sys

import pytest
import torch
from _digits import write_digits
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.utils import register_all_modules

import simsiam_mm  # noqa: F401
from simsiam_mm.engine import (CollapseError, CollapseMonitorHook,
                               KNNMonitorHook)
from simsiam_mm.evaluation import extract_features, knn_evaluate

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE = osp.join(ROOT, 'configs', '_base_')
DIM = 64
PER_CLASS = 32  # 320 train images: 10 iterations per epoch at batch 32

# Measured on these runs (z_std x sqrt(d) per iteration): with stop-gradient
# it stays above 0.95; without, it falls below 0.75 from about iteration 12
# and stays near 0.4-0.7 while the loss goes to about -0.9. The output BN of
# the projector keeps every channel's batch variance at 1, so at this scale
# the collapse is partial rather than the paper's std -> 0.
LR = 2.0
THRESHOLD = 0.75

register_all_modules(init_default_scope=False)  # mmpretrain's types


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return write_digits(
        str(tmp_path_factory.mktemp('digits')),
        train_per_class=PER_CLASS,
        val_per_class=10)


pytestmark = pytest.mark.usefixtures('one_thread')


def _loader(cfg, root, **kwargs):
    cfg = dict(cfg, num_workers=0, persistent_workers=False, **kwargs)
    cfg['dataset'] = dict(cfg['dataset'], data_root=root)
    return cfg


def run_cfg(root, work_dir, stop_gradient, max_epochs, lr, hooks):
    data = Config.fromfile(osp.join(BASE, 'datasets', 'digits_simsiam.py'))
    knn = Config.fromfile(osp.join(BASE, 'datasets', 'digits_knn.py'))
    model = Config.fromfile(osp.join(BASE, 'models',
                                     'simsiam_r18_cifar.py')).model
    model.backbone.update(stem_channels=8, base_channels=8)
    model.neck.update(in_channels=64, hid_channels=DIM, out_channels=DIM)
    model.head.update(in_channels=DIM, hid_channels=DIM // 4, out_channels=DIM)
    model.update(
        data_preprocessor=data.data_preprocessor, stop_gradient=stop_gradient)
    return Config(
        dict(
            default_scope='simsiam_mm',
            work_dir=work_dir,
            model=model,
            train_dataloader=_loader(
                data.train_dataloader, root, batch_size=32),
            knn_train_dataloader=_loader(knn.knn_train_dataloader, root),
            knn_val_dataloader=_loader(knn.knn_val_dataloader, root),
            optim_wrapper=dict(
                optimizer=dict(
                    type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4),
                constructor='SimSiamOptimWrapperConstructor'),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(
                logger=dict(type='LoggerHook', interval=1), checkpoint=None),
            custom_hooks=[dict(type='FixedLRHook')] + hooks,
            visualizer=dict(
                type='Visualizer',
                vis_backends=[dict(type='LocalVisBackend')]),
            randomness=dict(seed=0),
            log_level='WARNING'))


def scalars(work_dir):
    path = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[0]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_hooks_fire_and_log_on_a_2_epoch_run(digits, tmp_path):
    work_dir = str(tmp_path / 'run')
    knn_hook = dict(
        type='KNNMonitorHook',
        interval=1,
        k=(5, 500),  # 500 > the 200 subsampled train images: clamped
        max_samples=200,
        before_train=True)
    collapse_hook = dict(
        type='CollapseMonitorHook', threshold=THRESHOLD, patience=5)
    cfg = run_cfg(digits, work_dir, True, 2, LR, [knn_hook, collapse_hook])
    runner = Runner.from_cfg(cfg)
    runner.train()
    knn, = [h for h in runner.hooks if isinstance(h, KNNMonitorHook)]
    collapse, = [h for h in runner.hooks if isinstance(h, CollapseMonitorHook)]

    # kNN: before training, after epoch 1 and after epoch 2
    assert [(h['epoch'], h['iter']) for h in knn.history] == [(0, 0), (1, 10),
                                                              (2, 20)]
    last = knn.history[-1]
    assert (last['num_train'], last['num_val']) == (200, 100)
    hub = runner.message_hub
    for name in ('top1_k5', 'top5_k5', 'top1_k500', 'top5_k500'):
        assert hub.get_scalar(f'knn/{name}').current() == last[name]
    # the logged number is the kNN accuracy of the final backbone
    feats = [
        extract_features(runner.model, knn.loaders[s])
        for s in ('train', 'val')
    ]
    direct = knn_evaluate(*feats[0], *feats[1], ks=(5, 500))
    assert {k: last[k] for k in direct} == direct
    assert last['top1_k5'] > 30  # digits: far above chance (10 %)

    # collapse monitor: logged every iteration, healthy run, no alarm
    rows = scalars(work_dir)
    train_rows = [r for r in rows if 'z_std' in r]
    assert len(train_rows) == 20
    for row in train_rows:
        assert row['z_std_x_sqrt_d'] == pytest.approx(
            row['z_std'] * math.sqrt(DIM), rel=1e-5)
    assert min(r['z_std_x_sqrt_d'] for r in train_rows) > 0.9
    assert collapse.collapsed_at is None
    knn_rows = [r for r in rows if 'knn/top1_k5' in r]
    assert [r['step'] for r in knn_rows] == [0, 10, 20]

    # the curves of this run
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import plot_run
    finally:
        sys.path.pop(0)
    written = plot_run.main([work_dir])
    assert set(written) == {'loss', 'collapse', 'knn', 'lr', 'curves'}
    assert all(osp.getsize(p) > 1000 for p in written.values())
    series = plot_run.read_series(work_dir)
    assert plot_run.infer_dim(series) == DIM
    assert {'lr', 'lr_predictor'} <= set(series)


def test_collapse_detected_without_stop_gradient(digits, tmp_path):
    hook = dict(
        type='CollapseMonitorHook', threshold=THRESHOLD, patience=5, stop=True)
    cfg = run_cfg(digits, str(tmp_path / 'run'), False, 3, LR, [hook])
    runner = Runner.from_cfg(cfg)
    with pytest.raises(CollapseError, match='stop-gradient') as err:
        runner.train()
    collapse, = [h for h in runner.hooks if isinstance(h, CollapseMonitorHook)]
    assert collapse.collapsed_at is not None
    assert collapse.collapsed_at < 30  # within tens of iterations
    assert 'what to try' in str(err.value).lower()
    ratio = runner.message_hub.get_scalar('train/z_std_x_sqrt_d')
    assert all(v < THRESHOLD for v in ratio.data[0][-5:])
    assert runner.message_hub.get_scalar('train/loss').current() < -0.5


class _Hub:

    def __init__(self):
        self.scalars = {}
        self.log_scalars = {}

    def update_scalar(self, name, value):
        self.scalars[name] = value


class _Runner:

    def __init__(self):
        self.message_hub = _Hub()
        self.iter = 0
        self.warnings = []
        self.logger = type('L', (), {'warning': self.warnings.append})()


def test_collapse_patience_warn_once_and_reset():
    """The counting logic on given values (the detection itself is tested
    on real iterations above)."""
    hook = CollapseMonitorHook(threshold=0.5, patience=3, dim=16)
    runner = _Runner()
    per_iter = [0.1, 0.1, 0.9, 0.1, 0.1, float('nan'), 0.1, 0.1, 0.6]
    for i, ratio in enumerate(per_iter):
        runner.iter = i
        hook.after_train_iter(
            runner, i, outputs=dict(z_std=torch.tensor(ratio / 4)))
        assert runner.message_hub.scalars['train/z_std_x_sqrt_d'] == (
            pytest.approx(ratio, nan_ok=True))
    # 2 below, reset by 0.9; then 3 below (NaN counts) -> one warning at
    # iteration 6 (1-based), not repeated while it stays below
    assert hook.collapsed_at == 6
    assert len(runner.warnings) == 1
    assert 'below 0.5 for 3 iterations' in runner.warnings[0]
    assert 'stop_gradient=True' in runner.warnings[0]


def test_collapse_to_plus_minus_v_is_caught_by_the_rank():
    """A collapse that keeps z_std at the healthy level (z = +-v under the
    output BN) is flagged through z_rank; without a z_rank (mmpretrain's
    model) or with rank_threshold=None only z_std counts."""
    healthy_std = 1 / 4  # d = 16: z_std x sqrt(d) = 1
    hook = CollapseMonitorHook(threshold=0.5, patience=3, dim=16, stop=True)
    runner = _Runner()
    ranks = [0.8, 0.05, 0.05, 0.7, 0.05, 0.05]
    for i, rank in enumerate(ranks):
        runner.iter = i
        hook.after_train_iter(
            runner,
            i,
            outputs=dict(
                z_std=torch.tensor(healthy_std), z_rank=torch.tensor(rank)))
    assert hook.collapsed_at is None  # reset by 0.7
    runner.iter = 6
    with pytest.raises(CollapseError, match='z_rank.*below 0.1 for 3') as err:
        hook.after_train_iter(
            runner,
            6,
            outputs=dict(
                z_std=torch.tensor(healthy_std), z_rank=torch.tensor(0.02)))
    assert hook.collapsed_at == 7
    assert 'z_std x sqrt(d) 1.0000, z_rank 0.0200' in str(err.value)
    assert '+-v' in str(err.value)
    for hook in (CollapseMonitorHook(threshold=0.5, patience=1, dim=16),
                 CollapseMonitorHook(
                     threshold=0.5, patience=1, dim=16, rank_threshold=None)):
        outputs = [dict(z_std=torch.tensor(healthy_std))]
        if hook.rank_threshold is None:
            outputs.append(dict(outputs[0], z_rank=torch.tensor(0.01)))
        for out in outputs:
            hook.after_train_iter(_Runner(), 0, outputs=out)
        assert hook.collapsed_at is None
    with pytest.raises(ValueError, match='rank_threshold'):
        CollapseMonitorHook(rank_threshold=0.0)
