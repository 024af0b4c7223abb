"""Every config under configs/ loads and builds its model.

The list is globbed at collection time, so configs added later are covered.
Models are built in the config's own default scope (``simsiam_mm``,
``mmpretrain`` or ``mmdet``) with SyncBN converted to BN for the CPU, and
each distinct model is built once (the R50 recipes share one).
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

import simsiam_mm  # noqa: F401
from simsiam_mm.engine.config_check import check_top_level_keys

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    p for p in (REPO / 'configs').rglob('*.py')
    if '_base_' not in p.relative_to(REPO / 'configs').parts)
_BUILT = {}


def _build(cfg: Config) -> torch.nn.Module:
    scope = cfg.get('default_scope', 'mmengine')
    key = (scope, Config(dict(model=cfg.model)).pretty_text)
    if key not in _BUILT:
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(cfg.model)
        _BUILT[key] = revert_sync_batchnorm(model)
    return _BUILT[key]


def test_configs_are_found():
    names = {p.name for p in CONFIGS}
    assert 'simsiam_r50_8xb32.py' in names
    assert 'simsiam_r18-cifar_1xb64_digits-demo.py' in names


@pytest.mark.parametrize(
    'path',
    CONFIGS,
    ids=[str(p.relative_to(REPO / 'configs')) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('default_scope'), 'every config names its default_scope'
    check_top_level_keys(cfg)
    model = _build(cfg)
    assert not any('SyncBatchNorm' in type(m).__name__
                   for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) > 0
    if cfg.model.get('type', '').split('.')[-1] == 'SimSiam':
        # every pretraining config keeps the predictor's lr constant
        wrapper = cfg.optim_wrapper
        assert wrapper.constructor == 'SimSiamOptimWrapperConstructor'
        hooks = [h['type'] for h in cfg.custom_hooks]
        assert 'FixedLRHook' in hooks and 'NaNGuardHook' in hooks
        assert cfg.default_scope == 'simsiam_mm'
        loader = cfg.train_dataloader
        assert loader.collate_fn == dict(type='default_collate')


# the paper's numbers (PAPER.md), one line per shipped recipe:
# (lr, weight decay, total batch, epochs, batch per process)
RECIPES = {
    'simsiam_r50_8xb32.py': (0.05, 1e-4, 256, 100, 32),
    'simsiam_r50_8xb64-coslr-100e_in1k.py': (0.1, 1e-4, 512, 100, 64),
    'simsiam_r50_8xb32-coslr-200e_in1k.py': (0.05, 1e-4, 256, 200, 32),
    'simsiam_r50_8xb32-coslr-400e_in1k.py': (0.05, 1e-4, 256, 400, 32),
    'simsiam_r50_8xb32-coslr-800e_in1k.py': (0.05, 1e-4, 256, 800, 32),
    'simsiam_r50_8xb32-coslr-200e-optimal_in1k.py': (0.5, 1e-5, 256, 200, 32),
    'simsiam_r18-cifar_1xb512-coslr-800e_cifar10.py':
    (0.06, 5e-4, 512, 800, 512),
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_numbers(name):
    lr, wd, batch, epochs, per_process = RECIPES[name]
    cfg = Config.fromfile(str(REPO / 'configs' / name))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.momentum) == ('SGD', 0.9)
    assert opt.lr == pytest.approx(lr)
    assert opt.weight_decay == pytest.approx(wd)
    assert cfg.auto_scale_lr == dict(base_batch_size=batch)
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.batch_size == per_process
    (cosine, ) = cfg.param_scheduler
    assert (cosine.type, cosine.T_max,
            cosine.by_epoch) == ('CosineAnnealingLR', epochs, True)
    assert cfg.optim_wrapper.paramwise_cfg == dict(fix_predictor_lr=True)
    assert cfg.model.backbone.zero_init_residual
    if 'r50' in name:
        assert cfg.model.backbone.norm_cfg == dict(type='SyncBN')
    else:  # Appendix D: CIFAR ResNet-18, no blur
        assert cfg.model.backbone.type == 'ResNet_CIFAR'
        views = cfg.train_dataloader.dataset.pipeline[0]
        assert views.blur_prob == 0


@pytest.mark.parametrize('path', [
    'benchmarks/linear/resnet18-cifar_1xb128-linear-sgd-coslr-10e_digits.py',
    'benchmarks/finetune/resnet18-cifar_1xb128-ft-coslr-10e_digits.py',
])
def test_digits_downstream_configs_take_the_demo_backbone(path):
    """`make demo`'s checkpoint loads into the digits linear and fine-tune
    configs: same backbone tensors (names and shapes), and the classifier
    reads the width the backbone pools to."""
    demo = Config.fromfile(REPO / 'configs' /
                           'simsiam_r18-cifar_1xb64_digits-demo.py')
    demo_backbone = _build(demo).backbone.state_dict()
    cfg = Config.fromfile(REPO / 'configs' / path)
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.pop('init_cfg', None)
    model = _build(cfg)
    assert {
        k: v.shape
        for k, v in model.backbone.state_dict().items()
    } == {
        k: v.shape
        for k, v in demo_backbone.items()
    }
    pooled = model.neck(model.backbone(torch.zeros(2, 3, 32, 32)))
    assert pooled[-1].shape[1] == cfg.model.head.in_channels
