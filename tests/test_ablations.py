"""Every ablation config of configs/ablations builds and trains 2 iters."""
import glob
import json
import os
import os.path as osp
import sys

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


@pytest.mark.slow
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


def _run_ablations_module():
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import run_ablations
    finally:
        sys.path.pop(0)
    return run_ablations


def test_ablation_report_merges_saved_runs_and_keeps_notes(tmp_path):
    """The report of `make ablations`: rows from every saved run in the
    sweep's order, the numbers as measured, hand-written notes kept."""
    tool = _run_ablations_module()
    root, out = tmp_path / 'runs', tmp_path / 'docs' / 'ablations.md'
    measured = {
        'no-stopgrad':
        dict(
            loss=-0.7,
            std_sqrt_d=0.69,
            rank=0.0312,
            knn_top1=54.25,
            knn={
                '20': 67.7,
                '200': 54.25
            },
            minutes=2.0,
            iters=110),
        'default':
        dict(
            loss=-0.111,
            std_sqrt_d=1.0,
            rank=0.5,
            knn_top1=57.94,
            minutes=1.5,
            iters=110),
    }
    for name, res in measured.items():
        os.makedirs(root / name)
        res['curve'] = [[1, 1.0, 0.9], [110, res['std_sqrt_d'], res['rank']]]
        with open(root / name / tool.RESULT, 'w') as f:
            json.dump(res, f)
    argv = ['--report-only', '--work-root', str(root), '--out', str(out)]
    assert list(tool.main(argv)) == ['default', 'no-stopgrad']
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith('| ')]
    assert rows[1] == ('| default | -0.111 | 1.00 | 0.500 | nan | 57.9 | 1.5 '
                       '| 68.1 (with stop-grad, Fig. 2) |')
    assert rows[2].startswith('| no-stopgrad | -0.700 | 0.69 | 0.031 | '
                              '67.7 | 54.2 | 2.0 |')
    assert '(110 iterations of batch 64)' in text
    assert (tmp_path / 'docs' / 'ablations_std.png').stat().st_size > 1000
    # notes written under the marker survive a rewrite of the table
    out.write_text(text + 'The no-predictor run did not collapse.\n')
    with open(root / 'default' / tool.RESULT) as f:
        res = json.load(f)
    res['knn_top1'] = 60.0
    with open(root / 'default' / tool.RESULT, 'w') as f:
        json.dump(res, f)
    tool.main(argv)
    text = out.read_text()
    assert '| default | -0.111 | 1.00 | 0.500 | nan | 60.0 |' in text
    assert text.endswith(tool.NOTES +
                         '\nThe no-predictor run did not collapse.\n')
    with pytest.raises(SystemExit, match='no saved runs'):
        tool.main([
            '--report-only', '--work-root',
            str(tmp_path / 'none'), '--out',
            str(out)
        ])
