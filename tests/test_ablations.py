"""Every ablation config of configs/ablations changes what it names, and
builds and trains 2 iterations."""
import functools
import glob
import json
import os
import os.path as osp
import re
import sys

import pytest
import torch
from _digits import write_digits
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn

import simsiam_mm  # noqa: F401
from simsiam_mm.models import negative_similarity
from simsiam_mm.registry import DATASETS, MODELS

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ABLATIONS = sorted(glob.glob(osp.join(ROOT, 'configs/ablations/*.py')))
DEMO = osp.join(ROOT, 'configs', 'simsiam_r18-cifar_1xb64_digits-demo.py')


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


def switch_of(path: str) -> str:
    """``configs/ablations/simsiam_<switch>_digits.py`` -> ``<switch>``."""
    return re.fullmatch(r'simsiam_(.+)_digits\.py', osp.basename(path))[1]


# ------------------------------------------------ what each switch changes
def build(path):
    """The config's model at a narrow width (the switches are in the heads
    and the loss), seeded."""
    cfg = Config.fromfile(path)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.neck.in_channels = 64
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model)


def batch(k=2):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(8, 3, 16, 16, generator=g) for _ in range(k)]


def backward(model, xs):
    """Loss and the gradient of every parameter and input view."""
    xs = [x.clone().requires_grad_() for x in xs]
    loss = model(xs, mode='loss')['loss']
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    return loss.detach(), grads, [x.grad for x in xs]


def graded_views(model, k):
    _, _, grads = backward(model, batch(k))
    return [i for i, g in enumerate(grads) if g is not None and g.any()]


def norms(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]


def check_no_stopgrad(base, model, cfg, digits):
    assert model.stop_gradient is False
    model.load_state_dict(base.state_dict())
    loss_base, grads_base, _ = backward(base, batch())
    loss, grads, _ = backward(model, batch())
    torch.testing.assert_close(loss, loss_base)
    for k in grads:  # the encoder's gradient changes, the predictor's not
        if k.startswith('head.'):
            torch.testing.assert_close(grads[k], grads_base[k])
    assert not torch.allclose(grads['neck.mlp.0.weight'],
                              grads_base['neck.mlp.0.weight'])


def check_no_predictor(base, model, cfg, digits):
    assert isinstance(model.head, nn.Identity)
    xs = batch()
    z1, z2 = (model.encode(x) for x in xs)
    expected = (negative_similarity(z1, z2) + negative_similarity(z2, z1)) / 2
    torch.testing.assert_close(model(xs, mode='loss')['loss'], expected)


def check_predictor_frozen(base, model, cfg, digits):
    assert not any(p.requires_grad for p in model.head.parameters())
    _, grads, _ = backward(model, batch())
    assert all(grads[k] is None for k in grads if k.startswith('head.'))
    assert grads['backbone.conv1.weight'] is not None


def check_predictor_lr_decayed(base, model, cfg, digits):
    """The predictor's group is not marked fixed; the 2-iteration run below
    records the lr each step uses."""
    from mmengine.optim import build_optim_wrapper
    groups = {
        name: build_optim_wrapper(m, c.optim_wrapper).optimizer.param_groups
        for name, m, c in (('base', base, Config.fromfile(DEMO)), ('ablation',
                                                                   model, cfg))
    }
    assert [g.get('fixed_lr') for g in groups['base']] == [None, True]
    assert [g.get('fixed_lr') for g in groups['ablation']] == [None, False]


def check_bn_none(base, model, cfg, digits):
    assert len(norms(base.neck)) == 2 and len(norms(base.head)) == 1
    assert norms(model.neck) == norms(model.head) == []


def check_bn_hidden(base, model, cfg, digits):
    assert isinstance(base.neck.mlp[-1], nn.BatchNorm1d)
    assert isinstance(model.neck.mlp[-1], nn.Linear)  # no output BN
    assert len(norms(model.neck)) == 1
    assert len(norms(model.head)) == 1 and isinstance(model.head.mlp[-1],
                                                      nn.Linear)


def check_bn_all(base, model, cfg, digits):
    assert isinstance(base.head.mlp[-1], nn.Linear)
    assert isinstance(model.head.mlp[-1], nn.BatchNorm1d)
    assert len(norms(model.neck)) == 2 and len(norms(model.head)) == 2


def check_similarity_ce(base, model, cfg, digits):
    model.load_state_dict(base.state_dict())
    xs = batch()
    zs = [model.encode(x) for x in xs]
    ps = [model.head(z) for z in zs]
    expected = sum(-(zs[j].softmax(1) * ps[i].log_softmax(1)).sum(1).mean()
                   for i, j in ((0, 1), (1, 0))) / 2
    got = model(xs, mode='loss')['loss']
    torch.testing.assert_close(got, expected)
    assert abs(got - base(xs, mode='loss')['loss']) > 0.1


def check_asymmetric(base, model, cfg, digits):
    assert graded_views(base, 2) == [0, 1]
    assert graded_views(model, 2) == [0]  # D(p1, z2) only


def views_per_image(cfg, digits):
    dataset = dict(cfg.train_dataloader.dataset, data_root=digits)
    return len(DATASETS.build(dataset)[0]['inputs'])


def check_asymmetric_2x(base, model, cfg, digits):
    assert views_per_image(Config.fromfile(DEMO), digits) == 2
    assert views_per_image(cfg, digits) == 4
    assert graded_views(model, 4) == [0, 2]  # D(p1, z2) and D(p3, z4)


def check_dim(base, model, cfg, digits, dim):
    assert cfg.dim == dim
    z = model.encode(batch()[0])
    assert z.shape == (8, dim)
    assert model.head(z).shape == (8, dim)
    assert model.head.mlp[0].out_features == dim // 4  # the bottleneck


CHECKS = {
    'no-stopgrad': check_no_stopgrad,
    'no-predictor': check_no_predictor,
    'predictor-frozen': check_predictor_frozen,
    'predictor-lr-decayed': check_predictor_lr_decayed,
    'bn-none': check_bn_none,
    'bn-hidden': check_bn_hidden,
    'bn-all': check_bn_all,
    'similarity-ce': check_similarity_ce,
    'asymmetric': check_asymmetric,
    'asymmetric-2x': check_asymmetric_2x,
}


@pytest.mark.parametrize('path', ABLATIONS, ids=osp.basename)
def test_ablation_changes_what_it_names(path, digits):
    """Each switch, against the demo config it inherits, has the effect the
    paper gives it (a switch that is ignored fails here)."""
    switch = switch_of(path)
    dim = re.fullmatch(r'dim-(\d+)', switch)
    check = functools.partial(
        check_dim, dim=int(dim[1])) if dim else CHECKS.get(switch)
    assert check, f'no check for the ablation {switch!r}: add one to CHECKS'
    _, base = build(DEMO)
    cfg, model = build(path)
    check(base, model, cfg, digits)


class StepLRs(Hook):
    """The lr of every param group at each optimizer step: what the step
    uses, whatever the hooks do before or after it."""

    def before_train(self, runner):
        self.lrs = []
        optimizer = runner.optim_wrapper.optimizer
        step = optimizer.step

        @functools.wraps(step)
        def recording_step(*args, **kwargs):
            self.lrs.append([g['lr'] for g in optimizer.param_groups])
            return step(*args, **kwargs)

        optimizer.step = recording_step


@pytest.mark.slow
@pytest.mark.parametrize('path', ABLATIONS, ids=osp.basename)
def test_ablation_runs_two_iterations(path, digits, tmp_path):
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path)
    loader = cfg.train_dataloader
    loader.update(batch_size=8, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = digits
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    # a cosine over the 2 iterations: the second step at half the lr
    cfg.param_scheduler = [
        dict(
            type='CosineAnnealingLR', T_max=2, by_epoch=False, begin=0, end=2)
    ]
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] not in ('KNNMonitorHook', )
    ]
    runner = Runner.from_cfg(cfg)
    step_lrs = StepLRs()
    runner.register_hook(step_lrs)
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
    # the encoder's lr follows the schedule; the predictor's stays at its
    # initial value, unless the ablation decays it
    encoder, *predictor = zip(*step_lrs.lrs)
    assert encoder[1] == pytest.approx(encoder[0] / 2)
    switch = switch_of(path)
    if switch in ('no-predictor', 'predictor-frozen'):
        assert predictor == []  # no trainable predictor parameters
    else:
        lr, = predictor
        factor = 0.5 if switch == 'predictor-lr-decayed' else 1.0
        assert lr[1] == pytest.approx(lr[0] * factor)


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
