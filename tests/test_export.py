"""Backbone export: mmpretrain, torchvision and detectron2 formats."""
import os.path as osp
import pickle
import re
import sys

import numpy as np
import pytest
import torch
import torchvision
from mmpretrain.models import ResNet, ResNetV1d

import simsiam_mm  # noqa: F401
from simsiam_mm.checkpoint import safe_load
from simsiam_mm.evaluation.export import (NoBackboneError, detectron2_name,
                                          export_backbone, torchvision_name)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import extract_backbone  # noqa: E402

sys.path.pop(0)

pytestmark = pytest.mark.usefixtures('one_thread')


def _randomise(module):
    """Distinct values in every tensor, BN statistics included."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.fill_(7)  # num_batches_tracked


@pytest.fixture(scope='module')
def r50_checkpoint(tmp_path_factory):
    """A SimSiam-style mmengine checkpoint: backbone + neck + head keys."""
    backbone = ResNet(depth=50, zero_init_residual=True)
    _randomise(backbone)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.mlp.0.weight'] = torch.randn(2048, 2048)
    state['head.mlp.0.weight'] = torch.randn(512, 2048)
    path = str(tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth')
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return path, backbone.state_dict()


def test_mmpretrain_format_loads_strictly(r50_checkpoint, tmp_path):
    path, reference = r50_checkpoint
    out = str(tmp_path / 'backbone.pth')
    info = extract_backbone.main([path, out])
    assert info['num_tensors'] == len(reference)
    saved = safe_load(out)  # plain tensors: loads without trust
    assert set(saved['state_dict']) == set(reference)
    # the consumer's path: init_cfg Pretrained into mmpretrain's ResNet
    fresh = ResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=out))
    fresh.init_weights()
    for key, value in reference.items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_torchvision_format(r50_checkpoint, tmp_path):
    path, reference = r50_checkpoint
    out = str(tmp_path / 'r50_tv.pth')
    extract_backbone.main([path, out, '--format', 'torchvision'])
    tv = torchvision.models.resnet50()
    result = tv.load_state_dict(
        torch.load(out, weights_only=True), strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight']
    assert result.unexpected_keys == []
    tv_state = tv.state_dict()
    for key, value in reference.items():
        assert torch.equal(tv_state[key], value), key
    # same function: pooled features of both networks agree
    mm = ResNet(depth=50)
    mm.load_state_dict(reference)
    mm.eval()
    tv.fc = torch.nn.Identity()
    tv.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = mm(x)[-1].mean(dim=(2, 3))
        got = tv(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)


def test_detectron2_format(r50_checkpoint, tmp_path):
    path, reference = r50_checkpoint
    out = str(tmp_path / 'r50_d2.pkl')
    extract_backbone.main([path, out, '--format', 'detectron2'])
    with open(out, 'rb') as f:
        payload = pickle.load(f)
    assert payload['matching_heuristics'] is True
    assert payload['__author__'] == 'simsiam_mm'
    model = payload['model']
    assert all(isinstance(v, np.ndarray) for v in model.values())
    # detectron2's names, spot-checked against its ResNet
    for name in ('stem.conv1.weight', 'stem.conv1.norm.weight',
                 'stem.conv1.norm.bias', 'stem.conv1.norm.running_mean',
                 'stem.conv1.norm.running_var', 'res2.0.conv1.weight',
                 'res2.0.conv1.norm.running_var', 'res2.0.shortcut.weight',
                 'res2.0.shortcut.norm.bias', 'res3.3.conv3.norm.weight',
                 'res4.5.conv2.weight', 'res5.2.conv3.norm.running_mean',
                 'res5.0.shortcut.norm.running_var'):
        assert name in model, name
    pattern = re.compile(r'^(stem\.conv1|res[2-5]\.\d+\.(conv[1-3]|shortcut))'
                         r'(\.norm)?\.(weight|bias|running_mean|running_var)$')
    assert all(pattern.match(k)
               for k in model), [k for k in model if not pattern.match(k)]
    # R50: 3, 4, 6, 3 blocks in res2..res5
    for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
        found = {
            int(k.split('.')[1])
            for k in model if k.startswith(f'res{stage}.')
        }
        assert found == set(range(blocks))
    # every tensor but num_batches_tracked, values round trip
    kept = {k for k in reference if not k.endswith('num_batches_tracked')}
    assert len(model) == len(kept)
    back = {torchvision_name(k): v for k, v in model.items()}
    assert set(back) == kept
    for key in kept:
        assert np.array_equal(back[key], reference[key].numpy()), key


def test_name_mapping_closed_form():
    assert detectron2_name('conv1.weight') == 'stem.conv1.weight'
    assert detectron2_name('bn1.running_var') == 'stem.conv1.norm.running_var'
    assert detectron2_name('layer1.0.downsample.0.weight') == (
        'res2.0.shortcut.weight')
    assert detectron2_name('layer4.2.bn3.bias') == 'res5.2.conv3.norm.bias'
    assert detectron2_name('layer3.1.conv2.weight') == 'res4.1.conv2.weight'


def test_clear_errors(tmp_path):
    no_backbone = str(tmp_path / 'neck_only.pth')
    torch.save(
        dict(state_dict={'neck.mlp.0.weight': torch.ones(2)}), no_backbone)
    with pytest.raises(NoBackboneError, match="no 'backbone.' weights"):
        export_backbone(no_backbone, str(tmp_path / 'x.pth'))
    with pytest.raises(FileNotFoundError):
        export_backbone(str(tmp_path / 'missing.pth'), str(tmp_path / 'x'))
    # a deep-stem ResNet has no torchvision / detectron2 names
    deep = ResNetV1d(depth=50)
    path = str(tmp_path / 'v1d.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in deep.state_dict().items()
        }), path)
    for fmt in ('torchvision', 'detectron2'):
        with pytest.raises(ValueError, match='not a torchvision-style'):
            export_backbone(path, str(tmp_path / 'x'), fmt)
