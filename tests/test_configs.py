"""Every config under configs/ loads and builds its model, and the shipped
recipes and protocols resolve to the paper's numbers.

The list is globbed at collection time, so configs added later are covered.
Models are built in the config's own default scope (``simsiam_mm``,
``mmpretrain`` or ``mmdet``) with SyncBN converted to BN for the CPU, and
each distinct model is built once (the R50 recipes share one).
"""
import re
from pathlib import Path

import pytest
import torch
from _digits import write_digits
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner

import simsiam_mm  # noqa: F401
from simsiam_mm.engine.config_check import check_top_level_keys
from simsiam_mm.engine.pretrained_init import UNSET

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    p for p in (REPO / 'configs').rglob('*.py')
    if '_base_' not in p.relative_to(REPO / 'configs').parts)
# the configs that start from a SimSiam checkpoint
DOWNSTREAM = [p for p in CONFIGS if 'benchmarks' in p.parts]
MMDET = REPO / 'configs' / 'benchmarks' / 'mmdet'
LINEAR = REPO / 'configs' / 'benchmarks' / 'linear'
_BUILT = {}


def _build(cfg: Config) -> torch.nn.Module:
    scope = cfg.get('default_scope', 'mmengine')
    key = (scope, Config(dict(model=cfg.model)).pretty_text)
    if key not in _BUILT:
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(cfg.model)
        _BUILT[key] = revert_sync_batchnorm(model)
    return _BUILT[key]


def _ids(paths):
    return [str(p.relative_to(REPO / 'configs')) for p in paths]


def test_configs_are_found():
    names = {p.name for p in CONFIGS}
    assert 'simsiam_r50_8xb32.py' in names
    assert 'simsiam_r18-cifar_1xb64_digits-demo.py' in names
    assert {p.parent.name
            for p in DOWNSTREAM} == {'linear', 'finetune', 'mmdet'}


def test_one_naming_scheme():
    """OpenMMLab names with the r50 / r18-cifar backbone tags."""
    for path in CONFIGS:
        assert 'resnet' not in path.name, path
        if 'ablations' not in path.parts:
            assert re.search(r'_(r50|r18-cifar)[-_]', '_' + path.name), path


@pytest.mark.parametrize('path', CONFIGS, ids=_ids(CONFIGS))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('default_scope'), 'every config names its default_scope'
    # the host tools (mmpretrain's and mmdet's tools/train.py) build it
    assert cfg.runner_type == 'simsiam_mm.PortableRunner'
    assert 'simsiam_mm' in cfg.custom_imports.imports
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
        # the cosine ends where training ends, whatever max_epochs says
        (cosine, ) = cfg.param_scheduler
        assert 'T_max' not in cosine and 'end' not in cosine


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
    assert (cosine.type, cosine.by_epoch) == ('CosineAnnealingLR', True)
    assert cfg.optim_wrapper.paramwise_cfg == dict(fix_predictor_lr=True)
    assert cfg.model.backbone.zero_init_residual
    views = cfg.train_dataloader.dataset.pipeline[-2]
    assert (views.type, views.scale, views.jitter_prob,
            views.gray_prob) == ('SimSiamViews', (0.2, 1.0), 0.8, 0.2)
    if 'r50' in name:
        assert cfg.model.backbone.norm_cfg == dict(type='SyncBN')
        assert (views.size, views.blur_prob) == (224, 0.5)
    else:  # Appendix D: CIFAR ResNet-18, 32 px, no blur
        assert cfg.model.backbone.type == 'ResNet_CIFAR'
        assert (views.size, views.blur_prob) == (32, 0)


def test_cosine_follows_an_overridden_max_epochs(tmp_path):
    """mmengine ends a scheduler without `end` at train_cfg.max_epochs and
    sets T_max = end - begin: --cfg-options train_cfg.max_epochs=3 is a
    3-epoch cosine."""
    root = write_digits(str(tmp_path / 'digits'), 2, 1)
    cfg = Config.fromfile(
        str(REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'))
    cfg.merge_from_dict({
        'train_cfg.max_epochs': 3,
        'train_dataloader.dataset.data_root': root,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'work_dir': str(tmp_path / 'work'),
        'experiment_name': 'cosine_follows',
    })
    runner = Runner.from_cfg(cfg)
    runner.train_loop  # built first, as Runner.train does
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    (cosine, ) = runner.build_param_scheduler(runner.param_schedulers)
    assert (cosine.begin, cosine.end, cosine.T_max) == (0, 3, 3)


# ------------------------------------------------------ pretrained weights
@pytest.mark.parametrize('path', DOWNSTREAM, ids=_ids(DOWNSTREAM))
def test_downstream_configs_name_the_checkpoint_one_way(path, monkeypatch):
    """SIMSIAM_CKPT, read into model.init_cfg; SimSiamPretrained loads it;
    unset, the config holds UNSET (an error at init)."""
    monkeypatch.delenv('SIMSIAM_CKPT', raising=False)
    unset = Config.fromfile(str(path)).model.init_cfg
    assert (unset.type, unset.checkpoint) == ('simsiam_mm.SimSiamPretrained',
                                              UNSET)
    monkeypatch.setenv('SIMSIAM_CKPT', '/ckpt/epoch_7.pth')
    cfg = Config.fromfile(str(path))
    assert cfg.model.init_cfg.checkpoint == '/ckpt/epoch_7.pth'
    assert cfg.model.init_cfg.prefix == 'backbone.'
    assert 'checkpoint' not in cfg and 'simsiam_checkpoint' not in cfg
    assert cfg.model.backbone.get('init_cfg') is None


def _pretraining_runs():
    """work_dirs/<name> -> the last epoch its pretraining config saves
    (tools/train.py's default work_dir; tools/demo.py's work_dirs/demo)."""
    runs = {}
    for path in CONFIGS:
        cfg = Config.fromfile(str(path))
        if cfg.model.get('type') == 'SimSiam':
            runs[path.stem] = cfg.train_cfg.max_epochs
    demo = (REPO / 'tools' / 'demo.py').read_text()
    assert "default='work_dirs/demo'" in demo
    runs['demo'] = runs['simsiam_r18-cifar_1xb64_digits-demo']
    return runs


def test_example_checkpoint_paths_are_what_pretraining_writes():
    """Every work_dirs/<name>/epoch_N.pth in a config comment (and in
    docs/configs.md) names a pretraining config's work_dir and its last
    (always saved) epoch."""
    runs = _pretraining_runs()
    seen = 0
    texts = sorted((REPO / 'configs').rglob('*.py'))
    for path in texts + [REPO / 'docs' / 'configs.md']:
        text = path.read_text()
        variables = dict(re.findall(r'#\s+(\w+)=(\S+)\n', text))
        for found in re.findall(r'([\w./$=-]*epoch_\d+\.pth)', text):
            resolved = re.sub(r'\$(\w+)', lambda m: variables[m.group(1)],
                              found.split('=')[-1])
            match = re.fullmatch(r'work_dirs/([^/]+)/epoch_(\d+)\.pth',
                                 resolved)
            assert match, (path.name, found)
            name, epoch = match.group(1), int(match.group(2))
            assert runs.get(name) == epoch, (path.name, resolved)
            seen += 1
    assert seen >= 12


# ------------------------------------------------------- linear protocol
def test_linear_lars_adapts_every_parameter_bias_included():
    """The official LARC wrapper scales the step of every parameter it
    optimises, fc.bias included, by trust * ||p|| / ||g||."""
    cfg = Config.fromfile(
        str(LINEAR / 'r50_8xb512-linear-lars-coslr-90e_in1k.py'))
    wrapper_cfg = cfg.optim_wrapper
    assert 'paramwise_cfg' not in wrapper_cfg
    assert 'lars_exclude' not in str(cfg.optim_wrapper)
    opt = wrapper_cfg.optimizer
    assert (opt.type, opt.eta, opt.momentum,
            opt.weight_decay) == ('LARS', 0.001, 0.9, 0.)
    assert opt.lr == pytest.approx(0.1 * 4096 / 256)
    assert cfg.train_dataloader.batch_size == 512
    assert cfg.train_cfg.max_epochs == 90

    torch.manual_seed(0)
    fc = torch.nn.Linear(4, 3)
    torch.nn.init.normal_(fc.bias)  # non-zero: LARS leaves a zero p alone
    model = torch.nn.Module()
    model.fc = fc
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        wrapper = build_optim_wrapper(model, wrapper_cfg)
    before = {k: v.detach().clone() for k, v in fc.named_parameters()}
    fc(torch.randn(5, 4)).square().sum().backward()
    grads = {k: v.grad.clone() for k, v in fc.named_parameters()}
    wrapper.step()
    for name in ('weight', 'bias'):
        trust = 0.001 * before[name].norm() / grads[name].norm()
        expected = before[name] - opt.lr * trust * grads[name]
        assert torch.allclose(
            getattr(fc, name), expected, rtol=1e-5, atol=1e-7), name


def test_linear_configs_freeze_the_backbone_and_check_it():
    for path in LINEAR.glob('*.py'):
        cfg = Config.fromfile(str(path))
        assert (cfg.model.backbone.frozen_stages,
                cfg.model.backbone.norm_eval) == (4, True), path.name
        assert cfg.optim_wrapper.optimizer.weight_decay == 0, path.name
        assert [h.type for h in cfg.custom_hooks
                ] == ['LinearEvalHook', 'NaNGuardHook'], path.name
        head = cfg.model.head
        assert head.init_cfg == dict(
            type='Normal', layer='Linear', std=0.01, bias=0.)


# --------------------------------------------------- detection protocol
def _hooks(cfg, name):
    return [h for h in cfg.custom_hooks if h.type.endswith(name)]


@pytest.mark.parametrize('name, lr', [
    ('faster-rcnn_r50-c4_ms-24k_voc0712.py', 0.02),
    ('mask-rcnn_r50-c4_ms-1x_coco.py', 0.02),
    ('faster-rcnn_r50-fpn_ms-1x_voc0712.py', 0.01),
    ('mask-rcnn_r50-fpn_ms-1x_coco.py', 0.02),
])
def test_mmdet_configs_follow_detectron2(name, lr):
    cfg = Config.fromfile(str(MMDET / name))
    # WEIGHT_DECAY_NORM = 0
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.)
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    # TEST.PRECISE_BN with NUM_ITER 200
    (precise, ) = _hooks(cfg, 'PreciseBNHook')
    assert (precise.type, precise.num_iters) == ('simsiam_mm.PreciseBNHook',
                                                 200)
    backbone = cfg.model.backbone
    assert (backbone.frozen_stages, backbone.norm_eval, backbone.style,
            backbone.norm_cfg.type) == (-1, False, 'pytorch', 'SyncBN')
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs
    assert cfg.optim_wrapper.optimizer.lr == lr


# detectron2's iteration schedules, evaluated at the end (MoCo's configs
# leave TEST.EVAL_PERIOD at 0): (max_iters, warmup iterations, lr steps)
C4_SCHEDULES = {
    # COCO 1x as detectron2 counts it
    'mask-rcnn_r50-c4_ms-1x_coco.py': (90000, 1000, [60000, 80000]),
    # MoCo's pascal_voc_R_50_C4_24k
    'faster-rcnn_r50-c4_ms-24k_voc0712.py': (24000, 100, [18000, 22000]),
}


@pytest.mark.parametrize('name', sorted(C4_SCHEDULES))
def test_c4_schedules_are_detectron2s(name):
    max_iters, warmup_iters, steps = C4_SCHEDULES[name]
    cfg = Config.fromfile(str(MMDET / name))
    assert (cfg.train_cfg.type, cfg.train_cfg.max_iters,
            cfg.train_cfg.val_interval) == ('IterBasedTrainLoop', max_iters,
                                            max_iters)
    warmup, multistep = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch, warmup.begin,
            warmup.end) == ('LinearLR', 0.001, False, 0, warmup_iters)
    assert (multistep.type, multistep.by_epoch, multistep.milestones,
            multistep.gamma, multistep.end) == ('MultiStepLR', False, steps,
                                                0.1, max_iters)
    assert not cfg.default_hooks.checkpoint.by_epoch
    assert not cfg.log_processor.by_epoch
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'


def test_coco_c4_data():
    """Multi-scale 640-800 training, box and mask metrics."""
    cfg = Config.fromfile(str(MMDET / 'mask-rcnn_r50-c4_ms-1x_coco.py'))
    resize = cfg.train_dataloader.dataset.pipeline[2]
    assert [s[1] for s in resize.scales] == list(range(640, 801, 32))
    assert cfg.model.roi_head.mask_head.type == 'FCNMaskHead'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']


def test_voc_c4_data_trains_on_difficult_objects():
    cfg = Config.fromfile(str(MMDET / 'faster-rcnn_r50-c4_ms-24k_voc0712.py'))
    datasets = cfg.train_dataloader.dataset.datasets
    assert [d.type
            for d in datasets] == ['simsiam_mm.VOCDatasetWithDifficult'] * 2
    assert [d.ann_file for d in datasets] == [
        'VOC2007/ImageSets/Main/trainval.txt',
        'VOC2012/ImageSets/Main/trainval.txt'
    ]
    assert all('bbox_min_size' not in d.filter_cfg for d in datasets)
    resize = datasets[0].pipeline[2]
    assert [s[1] for s in resize.scales] == list(range(480, 801, 32))
    # the VOC07 test set keeps mmdet's VOCDataset (difficult ignored)
    assert cfg.val_dataloader.dataset.type == 'VOCDataset'
    assert cfg.val_evaluator.iou_thrs == [
        pytest.approx(0.5 + 0.05 * i) for i in range(10)
    ]
    assert cfg.val_evaluator.eval_mode == '11points'


def test_c4_model_is_moco_res5_extra_norm():
    for name in ('faster-rcnn_r50-c4_ms-24k_voc0712.py',
                 'mask-rcnn_r50-c4_ms-1x_coco.py'):
        cfg = Config.fromfile(str(MMDET / name))
        model = cfg.model
        assert model.data_preprocessor.bgr_to_rgb
        assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]
        head = model.roi_head.shared_head
        assert (head.type, head.norm_eval, head.style,
                head.norm_cfg.type) == ('ResLayerExtraNorm', False, 'pytorch',
                                        'SyncBN')
        assert model.init_cfg.modules == ['backbone', 'roi_head.shared_head']
        assert model.init_cfg.allow_missing == ['roi_head.shared_head.norm.']


@pytest.mark.parametrize('path', [
    'benchmarks/linear/r18-cifar_1xb128-linear-sgd-coslr-10e_digits.py',
    'benchmarks/finetune/r18-cifar_1xb128-ft-coslr-10e_digits.py',
])
def test_digits_downstream_configs_take_the_demo_backbone(path):
    """`make demo`'s checkpoint loads into the digits linear and fine-tune
    configs: same backbone tensors (names and shapes), and the classifier
    reads the width the backbone pools to."""
    demo = Config.fromfile(REPO / 'configs' /
                           'simsiam_r18-cifar_1xb64_digits-demo.py')
    demo_backbone = _build(demo).backbone.state_dict()
    cfg = Config.fromfile(REPO / 'configs' / path)
    cfg.model.pop('init_cfg')
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
