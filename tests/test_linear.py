"""Linear evaluation through mmpretrain, from a SimSiam checkpoint, with the
bit-for-bit backbone check (hook and tool).

The digits linear config runs on a small image folder with a narrow CIFAR
ResNet-18 (base width 16: same layers, fewer channels) so that it trains in
seconds; the SimSiam checkpoint is built by the test from the project's
model config with the same widths.
"""
import itertools
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch
from _digits import write_digits
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.utils import register_all_modules

import simsiam_mm  # noqa: F401
from simsiam_mm.checkpoint import safe_load
from simsiam_mm.evaluation import BackboneChangedError, LinearEvalHook
from simsiam_mm.models import SimSiam

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'benchmarks', 'linear',
                  'r18-cifar_1xb128-linear-sgd-coslr-10e_digits.py')
CKPT = 'model.init_cfg.checkpoint'  # where SIMSIAM_CKPT goes
WIDTH = dict(stem_channels=16, base_channels=16)  # pooled feature: 128
register_all_modules(init_default_scope=False)  # mmpretrain's types
_RUN = itertools.count()
sys.path.insert(0, osp.join(ROOT, 'tools'))
import check_linear  # noqa: E402

sys.path.pop(0)

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    return write_digits(
        str(tmp_path_factory.mktemp('digits')),
        train_per_class=16,
        val_per_class=4)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """A SimSiam checkpoint of the demo architecture (narrowed), with
    non-trivial BN statistics so that a load that did not happen shows."""
    model_cfg = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'models',
                 'simsiam_r18_cifar.py')).model
    model_cfg.backbone.update(WIDTH)
    model_cfg.neck.update(in_channels=128)
    model_cfg.pop('type')
    torch.manual_seed(0)
    model = SimSiam(**model_cfg)
    with torch.no_grad():
        for name, t in model.backbone.state_dict().items():
            if 'running' in name:
                t.uniform_(0.5, 1.5)
            elif 'num_batches' in name:
                t.fill_(100)
            elif 'bn' in name or 'downsample.1' in name:
                t.normal_(1.0, 0.1)  # zero-init residual BN weights too
    path = str(tmp_path_factory.mktemp('pretrain') / 'epoch_10.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=10)), path)
    return path


def linear_cfg(root, work_dir, **options):
    """The digits linear config, shrunk to seconds like --cfg-options."""
    cfg = Config.fromfile(CONFIG)
    cfg.experiment_name = f'linear_{next(_RUN)}'  # one logger per runner
    small = dict(num_workers=0, persistent_workers=False, batch_size=32)
    cfg.merge_from_dict({
        'work_dir':
        work_dir,
        'model.backbone':
        WIDTH,
        'model.head.in_channels':
        128,
        'train_dataloader':
        dict(small, dataset=dict(data_root=root)),
        'val_dataloader':
        dict(small, dataset=dict(data_root=root)),
        'test_dataloader':
        dict(small, dataset=dict(data_root=root)),
        'train_cfg.max_epochs':
        1,
        'train_cfg.val_interval':
        1,
        'default_hooks.checkpoint.interval':
        1,
        'default_hooks.logger.interval':
        1,
        'log_level':
        'WARNING',
        **options
    })
    return cfg


class RecordHead(Hook):

    def before_train(self, runner):
        self.init = {
            k: v.clone()
            for k, v in runner.model.head.state_dict().items()
        }


def backbone_of(state):
    return {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }


def test_linear_demo_trains_and_backbone_is_bit_identical(
        digits, pretrained, tmp_path):
    work_dir = str(tmp_path / 'linear')
    # the checkpoint is named in the one place every downstream config has
    cfg = linear_cfg(digits, work_dir, **{CKPT: pretrained})
    runner = Runner.from_cfg(cfg)
    record = RecordHead()
    runner.register_hook(record, 'LOWEST')  # after the weights are loaded
    runner.train()  # LinearEvalHook checks after loading and after training

    # the head started at N(0, 0.01), zero bias, and then trained
    assert torch.count_nonzero(record.init['fc.bias']) == 0
    assert abs(record.init['fc.weight'].std().item() - 0.01) < 0.002
    assert not torch.equal(record.init['fc.weight'],
                           runner.model.head.fc.weight)
    acc = runner.message_hub.get_scalar('val/accuracy/top1').current()
    assert 0 <= acc <= 100

    # every backbone tensor equals the SimSiam checkpoint's, bit for bit
    reference = backbone_of(safe_load(pretrained)['state_dict'])
    state = runner.model.backbone.state_dict()
    assert set(state) == set(reference)
    assert all(torch.equal(state[k], reference[k]) for k in reference)

    # tool-side check: OK on the linear checkpoint ...
    linear_ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert check_linear.main([linear_ckpt, pretrained]) == 0
    # ... and a failure once one backbone weight differs
    ckpt = safe_load(linear_ckpt)
    ckpt['state_dict']['backbone.layer3.0.conv1.weight'][0, 0, 0, 0] += 1e-6
    tampered = str(tmp_path / 'tampered.pth')
    torch.save(dict(state_dict=ckpt['state_dict']), tampered)
    assert check_linear.main([tampered, pretrained]) == 1

    # the hook's own check fails loudly on a changed weight
    hook, = [h for h in runner.hooks if isinstance(h, LinearEvalHook)]
    with torch.no_grad():
        runner.model.backbone.layer1[0].bn1.running_mean[3] += 1e-3
    with pytest.raises(
            BackboneChangedError, match=r'layer1\.0\.bn1\.running_mean'):
        hook.after_train(runner)


def test_trainable_stage_is_caught(digits, pretrained, tmp_path):
    """Stage 4 left trainable (frozen_stages=3) with BN in train mode: its
    weights and running statistics move, and the hook stops the run."""
    cfg = linear_cfg(
        digits,
        str(tmp_path / 'linear'),
        **{
            CKPT: pretrained,
            'model.backbone.frozen_stages': 3,
            'model.backbone.norm_eval': False,
            'train_dataloader.dataset.indices': 64,  # 2 iterations
            'train_cfg.val_interval': 100
        })
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            BackboneChangedError,
            match=r'(?s)after linear training.*: 30 backbone '
            r'tensors differ.*layer4\.0\.bn1\.running_mean'):
        # 30 = every tensor of stage 4 (18 + 12), nothing of stages 1-3
        runner.train()


def test_missing_checkpoint_is_an_error(digits, tmp_path, monkeypatch):
    # the path SIMSIAM_CKPT names does not exist
    missing = str(tmp_path / 'no_run' / 'epoch_5.pth')
    monkeypatch.setenv('SIMSIAM_CKPT', missing)
    runner = Runner.from_cfg(linear_cfg(digits, str(tmp_path / 'a')))
    with pytest.raises(FileNotFoundError, match="epoch_5.pth' not found"):
        runner.train()
    # unset: the config holds a placeholder, refused by name
    monkeypatch.delenv('SIMSIAM_CKPT')
    runner = Runner.from_cfg(linear_cfg(digits, str(tmp_path / 'b')))
    with pytest.raises(ValueError, match='SIMSIAM_CKPT=PATH'):
        runner.train()


def test_checkpoint_named_by_env_or_cfg_options(digits, pretrained, tmp_path,
                                                monkeypatch):
    """The hook checks against what the model loaded: the merged config's
    model.init_cfg, whether SIMSIAM_CKPT or --cfg-options named it."""
    other = str(tmp_path / 'other.pth')
    monkeypatch.setenv('SIMSIAM_CKPT', other)
    env = linear_cfg(digits, str(tmp_path))
    assert env.model.init_cfg.checkpoint == other
    cfg = linear_cfg(digits, str(tmp_path), **{CKPT: pretrained})
    runner = SimpleNamespace(cfg=cfg)
    assert LinearEvalHook.pretrained(runner) == (pretrained, 'backbone.')
    cfg.model.init_cfg = None
    with pytest.raises(ValueError, match='model.init_cfg names none'):
        LinearEvalHook.pretrained(runner)


def test_checkpoint_of_another_architecture_is_refused(digits, pretrained,
                                                       tmp_path):
    """mmengine's Pretrained init would load it with strict=False and a
    warning; SimSiamPretrained names the missing tensor."""
    ckpt = safe_load(pretrained)
    del ckpt['state_dict']['backbone.layer4.1.bn2.running_var']
    partial = str(tmp_path / 'partial.pth')
    torch.save(ckpt, partial)
    runner = Runner.from_cfg(
        linear_cfg(digits, str(tmp_path / 'run'), **{CKPT: partial}))
    with pytest.raises(
            KeyError, match=r'backbone\.layer4\.1\.bn2\.running_var'):
        runner.train()


def test_backbone_overwritten_after_loading_is_caught(digits, pretrained,
                                                      tmp_path):
    """A load_from of another checkpoint replaces the SimSiam backbone after
    initialisation; the check right after loading stops the run."""
    ckpt = safe_load(pretrained)
    ckpt['state_dict']['backbone.conv1.weight'][0, 0, 0, 0] += 1e-3
    other = str(tmp_path / 'other.pth')
    torch.save(ckpt, other)
    cfg = linear_cfg(digits, str(tmp_path / 'run'), **{
        CKPT: pretrained,
        'load_from': other
    })
    with pytest.raises(
            BackboneChangedError,
            match=r'(?s)after loading.*: 1 backbone tensors differ.*'
            r'conv1\.weight: max abs difference 0\.001'):
        Runner.from_cfg(cfg).train()
