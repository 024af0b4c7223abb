"""SimSiam model, heads and loss against the paper and mmpretrain."""
import copy
import functools
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

from simsiam_mm.models import (SimSiam, SimSiamPredictor, SimSiamProjector,
                               negative_similarity, simsiam_loss)

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@functools.lru_cache()
def _cifar_model() -> dict:
    path = osp.join(ROOT, 'configs', '_base_', 'models',
                    'simsiam_r18_cifar.py')
    return Config.fromfile(path).model.to_dict()


def tiny_cfg(dim=64, **kwargs):
    """The shipped CIFAR SimSiam (ResNet-18, 2-layer projector) at d = 64,
    the predictor's bottleneck d/4; ``kwargs`` replace its entries."""
    cfg = copy.deepcopy(_cifar_model())
    del cfg['type'], cfg['data_preprocessor']
    cfg['neck'].update(hid_channels=dim, out_channels=dim)
    cfg['head'].update(
        in_channels=dim, hid_channels=dim // 4, out_channels=dim)
    cfg.update(kwargs)
    return cfg


def views(n=8, size=16, k=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(k)]


# ---------------------------------------------------------------- the loss
def test_negative_cosine_closed_form():
    p = torch.tensor([[1., 2., 3.], [1., 0., 0.], [0., 3., 0.]])
    assert negative_similarity(p, 5 * p).item() == pytest.approx(-1.0)
    assert negative_similarity(p, -p).item() == pytest.approx(1.0)
    orth = torch.tensor([[3., 0., -1.], [0., 1., 0.], [1., 0., 0.]])
    assert negative_similarity(p, orth).item() == pytest.approx(0.0)
    # mixed batch: mean of -1, 0 and -cos(45 deg)
    z = torch.tensor([[2., 4., 6.], [0., 0., 1.], [3., 3., 0.]])
    assert negative_similarity(p, z).item() == pytest.approx(
        (-1 + 0 - 2**-0.5) / 3, abs=1e-6)


def test_cross_entropy_similarity_closed_form():
    p = torch.tensor([[0., 0.]])
    z = torch.tensor([[0., 0.]])
    # -softmax(z) . log softmax(p) = -(0.5 log 0.5 + 0.5 log 0.5) = log 2
    got = negative_similarity(p, z, similarity='cross_entropy')
    assert got.item() == pytest.approx(torch.log(torch.tensor(2.)).item())


def test_stop_gradient_lives_in_the_loss():
    p = torch.randn(4, 8, requires_grad=True)
    z = torch.randn(4, 8, requires_grad=True)
    negative_similarity(p, z).backward()
    assert z.grad is None
    assert p.grad.abs().sum() > 0
    z.grad = None
    negative_similarity(p, z, stop_gradient=False).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_symmetries():
    ps = [torch.randn(4, 8) for _ in range(4)]
    zs = [torch.randn(4, 8) for _ in range(4)]
    d = negative_similarity
    assert torch.allclose(
        simsiam_loss(ps[:2], zs[:2]), (d(ps[0], zs[1]) + d(ps[1], zs[0])) / 2)
    assert torch.allclose(
        simsiam_loss(ps[:2], zs[:2], 'asymmetric'), d(ps[0], zs[1]))
    assert torch.allclose(
        simsiam_loss(ps, zs, 'asymmetric_2x'),
        (d(ps[0], zs[1]) + d(ps[2], zs[3])) / 2)
    with pytest.raises(ValueError, match='needs 4 views'):
        simsiam_loss(ps[:2], zs[:2], 'asymmetric_2x')


# --------------------------------------------------------------- the heads
def test_projector_structure_matches_paper():
    proj = SimSiamProjector(in_channels=2048)
    layers = list(proj.mlp)
    kinds = [type(m).__name__ for m in layers]
    assert kinds == [
        'Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d', 'ReLU',
        'Linear', 'BatchNorm1d'
    ]
    fcs = [m for m in layers if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(2048, 2048)] * 3
    assert all(f.bias is None for f in fcs)  # every fc is followed by BN
    bns = [m for m in layers if isinstance(m, nn.BatchNorm1d)]
    assert [bn.affine for bn in bns] == [True, True, False]
    # CIFAR recipe: 2 layers
    kinds2 = [
        type(m).__name__ for m in SimSiamProjector(512, num_layers=2).mlp
    ]
    assert kinds2 == ['Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d']


def test_predictor_structure_matches_paper():
    layers = list(SimSiamPredictor().mlp)
    assert [type(m).__name__
            for m in layers] == ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    fc1, bn, _, fc2 = layers
    assert (fc1.in_features, fc1.out_features, fc1.bias) == (2048, 512, None)
    assert bn.affine and bn.num_features == 512
    assert (fc2.in_features, fc2.out_features) == (512, 2048)
    assert fc2.bias is not None


def test_table3_bn_switches():
    none_p = SimSiamProjector(8, 8, 8, hidden_norm=False, out_norm=False)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in none_p.mlp)
    assert all(
        m.bias is not None for m in none_p.mlp if isinstance(m, nn.Linear))
    hidden_only = SimSiamProjector(8, 8, 8, out_norm=False)
    assert isinstance(hidden_only.mlp[-1], nn.Linear)
    all_bn = SimSiamPredictor(8, 2, 8, out_norm=True)
    assert isinstance(all_bn.mlp[-1], nn.BatchNorm1d)


# ------------------------------------------------------------ the algorithm
def test_loss_dict_and_gradients_reach_every_part():
    model = SimSiam(**tiny_cfg())
    out = model(views(), mode='loss')
    assert set(out) == {'loss', 'z_std', 'z_cos', 'z_rank'}
    assert -1.0 <= out['loss'].item() <= 1.0
    assert not out['z_std'].requires_grad
    assert 0.0 < out['z_rank'].item() <= 1.0
    out['loss'].backward()
    for part in ('backbone', 'neck', 'head'):
        grads = [
            p.grad for p in getattr(model, part).parameters()
            if p.requires_grad
        ]
        assert grads and all(g is not None for g in grads), part
        assert sum(g.abs().sum() for g in grads) > 0, part


def manual_loss(model, xs, stop_gradient=True):
    """Algorithm 1, written out from the model's own modules."""
    zs = [model.encode(x) for x in xs]
    ps = [model.head(z) for z in zs]

    def dist(p, z):
        z = z.detach() if stop_gradient else z
        return -(F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(1).mean()

    return 0.5 * dist(ps[0], zs[1]) + 0.5 * dist(ps[1], zs[0])


@pytest.mark.slow
@pytest.mark.parametrize('stop_gradient', [True, False])
def test_model_equals_algorithm_1(stop_gradient):
    torch.manual_seed(0)
    model = SimSiam(**tiny_cfg(stop_gradient=stop_gradient))
    ref = copy.deepcopy(model)
    xs = views()
    model(xs, mode='loss')['loss'].backward()
    manual_loss(ref, xs, stop_gradient).backward()
    for (name, a), b in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def _twin(**switch):
    """The tiny model and a copy built with ``switch``, same weights."""
    torch.manual_seed(0)
    base = SimSiam(**tiny_cfg())
    other = SimSiam(**tiny_cfg(**switch))
    other.load_state_dict(base.state_dict())
    return base, other


@pytest.mark.slow
def test_stop_gradient_switch_changes_encoder_gradients():
    with_sg, without = _twin(stop_gradient=False)  # through the constructor
    xs = views()
    loss_sg = with_sg(xs, mode='loss')['loss']
    loss = without(xs, mode='loss')['loss']
    torch.testing.assert_close(loss_sg, loss)  # the same value ...
    loss_sg.backward()
    loss.backward()
    g1 = with_sg.neck.mlp[0].weight.grad
    g2 = without.neck.mlp[0].weight.grad
    assert not torch.allclose(g1, g2, atol=1e-7)  # ... another gradient
    # the predictor sees the same gradient either way
    torch.testing.assert_close(with_sg.head.mlp[0].weight.grad,
                               without.head.mlp[0].weight.grad)


def _reference_ce(model, xs, pairs):
    """-softmax(z_j) . log softmax(p_i), averaged over the pairs (Sec. 4.6),
    from the model's own encoder and predictor."""
    zs = [model.encode(x) for x in xs]
    ps = [model.head(z) for z in zs]
    terms = [
        -(zs[j].softmax(1) * ps[i].log_softmax(1)).sum(1).mean()
        for i, j in pairs
    ]
    return sum(terms) / len(terms)


def test_similarity_switch_sets_the_loss_value():
    cosine, ce = _twin(similarity='cross_entropy')
    xs = views()
    got = ce(xs, mode='loss')['loss']
    expected = _reference_ce(copy.deepcopy(cosine), xs, [(0, 1), (1, 0)])
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(
        cosine(xs, mode='loss')['loss'], manual_loss(cosine, xs))
    assert abs(got.item() - cosine(xs, mode='loss')['loss'].item()) > 0.1


@pytest.mark.parametrize('symmetry, graded', [('symmetric', [0, 1]),
                                              ('asymmetric', [0]),
                                              ('asymmetric_2x', [0, 2])])
def test_symmetry_switch_decides_which_views_get_gradient(symmetry, graded):
    """With the stop-gradient only the views behind a prediction p_i get
    a gradient: D(p1, z2) reaches x1, not x2 (Sec. 4.6)."""
    _, model = _twin(symmetry=symmetry)
    xs = [x.requires_grad_() for x in views(k=4)]
    model(xs, mode='loss')['loss'].backward()
    reached = [
        i for i, x in enumerate(xs)
        if x.grad is not None and x.grad.abs().sum() > 0
    ]
    assert reached == graded
    # and the value is the mean of D over exactly those pairs
    pairs = {
        'symmetric': [(0, 1), (1, 0)],
        'asymmetric': [(0, 1)],
        'asymmetric_2x': [(0, 1), (2, 3)]
    }[symmetry]
    ref = copy.deepcopy(model)
    zs = [ref.encode(x) for x in xs]
    expected = sum(
        negative_similarity(ref.head(zs[i]), zs[j])
        for i, j in pairs) / len(pairs)
    torch.testing.assert_close(model(xs, mode='loss')['loss'], expected)


def test_bn_statistics_per_view_unless_opted_in():
    torch.manual_seed(0)
    per_view = SimSiam(**tiny_cfg())
    one_pass = copy.deepcopy(per_view)
    one_pass.views_in_one_pass = True
    xs = views()
    xs[1] = xs[1] * 3 + 1  # views with different statistics
    a = per_view(xs, mode='loss')['loss']
    b = one_pass(xs, mode='loss')['loss']
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, manual_loss(copy.deepcopy(per_view), xs))


@pytest.mark.slow
def test_ablation_switches():
    xs = views(k=4)
    no_pred = SimSiam(**tiny_cfg(head=None))
    assert isinstance(no_pred.head, nn.Identity)
    frozen = SimSiam(**tiny_cfg(freeze_head=True))
    frozen(xs[:2], mode='loss')['loss'].backward()
    assert all(p.grad is None for p in frozen.head.parameters())
    assert frozen.backbone.conv1.weight.grad is not None
    with pytest.raises(ValueError, match='needs 4 views'):
        SimSiam(**tiny_cfg(symmetry='asymmetric_2x'))(xs[:2], mode='loss')
    with pytest.raises(ValueError, match='symmetry'):
        SimSiam(**tiny_cfg(symmetry='both'))
    with pytest.raises(ValueError, match='at least two views'):
        SimSiam(**tiny_cfg())(xs[:1], mode='loss')


def test_collapse_monitor_values():
    z = torch.randn(4096, 512)
    std = F.normalize(z, dim=1).std(0).mean()
    # Gaussian z: per-channel std of z/||z|| is 1/sqrt(d)
    assert std.item() == pytest.approx(512**-0.5, rel=0.05)
    model = SimSiam(**tiny_cfg(dim=512))
    out = model(views(n=16), mode='loss')
    assert 0 < out['z_std'].item() <= 1


def _monitors(zs):
    """The model's monitors when its encoder outputs ``zs``."""
    model = SimSiam(**tiny_cfg(dim=zs[0].shape[1]))
    outputs = iter(zs)
    model.encode = lambda x: next(outputs)
    return model(views(n=zs[0].shape[0]), mode='loss')


def test_monitors_of_known_projections():
    # collapsed: every sample has the same (non-constant) z. The std over
    # the batch is 0 in every channel; over the channels it is not
    v = torch.tensor([1., 2., 3., 4., 5., 6.])
    out = _monitors([v.repeat(5, 1), -2 * v.repeat(5, 1)])
    assert out['z_std'].item() == 0
    assert out['z_cos'].item() == pytest.approx(-1.0)
    assert out['z_rank'].item() == pytest.approx(1 / 5, rel=1e-4)
    # any z: per channel over the batch (dim 0), averaged over channels
    # and views, written out
    g = torch.Generator().manual_seed(0)
    zs = [
        torch.randn(7, 6, generator=g) * torch.arange(1., 7.) for _ in range(2)
    ]
    expected = []
    for z in zs:
        u = z / z.norm(dim=1, keepdim=True)
        var = ((u - u.mean(0))**2).sum(0) / (len(u) - 1)  # 6 channels
        expected.append(var.sqrt().mean())
    out = _monitors(zs)
    assert out['z_std'].item() == pytest.approx(
        (expected[0] + expected[1]).item() / 2, rel=1e-5)
    cos = (F.normalize(zs[0], dim=1) * F.normalize(zs[1], dim=1)).sum(1)
    assert out['z_cos'].item() == pytest.approx(cos.mean().item(), rel=1e-5)


def test_modes_and_channels_last():
    torch.manual_seed(0)
    model = SimSiam(**tiny_cfg()).eval()
    x = views(n=2)[0]
    feats = model(x, mode='tensor')
    assert feats[-1].shape == (2, 512, 2, 2)
    pooled = model.extract_feat([x, x])
    torch.testing.assert_close(pooled, feats[-1].mean((2, 3)))
    assert model(x, mode='predict').shape == (2, 512)
    cl = copy.deepcopy(model)
    cl.channels_last = True
    cl.backbone.to(memory_format=torch.channels_last)
    torch.testing.assert_close(
        cl.extract_feat(x), pooled, rtol=1e-4, atol=1e-5)


def _build_theirs(registry, backbone, dim, hid):
    """mmpretrain's SimSiam with the paper's heads (its own config)."""
    return registry.build(
        dict(
            type='SimSiam',
            backbone=backbone,
            neck=dict(
                type='NonLinearNeck',
                in_channels=512,
                hid_channels=dim,
                out_channels=dim,
                num_layers=3,
                with_last_bn_affine=False,
                with_avg_pool=True,
                norm_cfg=dict(type='BN1d')),
            head=dict(
                type='LatentPredictHead',
                loss=dict(type='CosineSimilarityLoss'),
                predictor=dict(
                    type='NonLinearNeck',
                    in_channels=dim,
                    hid_channels=hid,
                    out_channels=dim,
                    with_avg_pool=False,
                    with_last_bn=False,
                    with_last_bias=True,
                    norm_cfg=dict(type='BN1d')))))


def test_equal_to_mmpretrain_simsiam():
    """Same weights, same views, BN in train mode: same loss and grads."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    torch.manual_seed(0)
    dim, hid = 256, 64
    backbone = dict(type='ResNet', depth=18, zero_init_residual=True)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        theirs = _build_theirs(PRETRAIN_MODELS, backbone, dim, hid)
    assert type(theirs).__module__.startswith('mmpretrain.')
    cfg = tiny_cfg(dim, backbone=backbone)  # the bottleneck: hid = dim / 4
    cfg['neck']['num_layers'] = 3  # the ImageNet projector, as theirs
    ours = SimSiam(**cfg)
    theirs.init_weights()
    # perturb BN affine so that the copy is checked on non-trivial values
    for m in theirs.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)

    src = {
        'backbone': theirs.backbone.state_dict(),
        'neck': theirs.neck.state_dict(),
        'head': theirs.head.predictor.state_dict()
    }
    for part, their_sd in src.items():
        module = getattr(ours, part)
        our_keys = list(module.state_dict())
        assert len(our_keys) == len(their_sd), part
        mapped = {k: v for k, (_, v) in zip(our_keys, their_sd.items())}
        module.load_state_dict(mapped, strict=True)

    xs = views(n=6, size=32, seed=1)
    loss_theirs = theirs.loss([x.clone() for x in xs], None)['loss']
    loss_ours = ours.loss([x.clone() for x in xs], None)['loss']
    torch.testing.assert_close(loss_ours, loss_theirs, rtol=1e-5, atol=1e-6)
    loss_theirs.backward()
    loss_ours.backward()
    for part, their_mod in (('backbone', theirs.backbone),
                            ('neck', theirs.neck), ('head',
                                                    theirs.head.predictor)):
        ours_p = [p for p in getattr(ours, part).parameters()]
        theirs_p = [p for p in their_mod.parameters()]
        assert len(ours_p) == len(theirs_p)
        for a, b in zip(ours_p, theirs_p):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------ the monitors
def test_effective_rank_sees_the_collapse_z_std_cannot():
    from simsiam_mm.models.simsiam import effective_rank
    torch.manual_seed(0)
    n, d = 64, 128
    healthy = torch.randn(n, d)
    # collapse to +-v under the output BN: every channel keeps zero mean and
    # unit std over the batch, every sample is on one line
    signs = torch.tensor([1.0, -1.0]).repeat(n // 2)[:, None]
    v = torch.where(torch.rand(d) < 0.5, -1.0, 1.0)
    collapsed = signs * v
    assert torch.allclose(collapsed.mean(0), torch.zeros(d))
    assert torch.allclose(collapsed.std(0, unbiased=False), torch.ones(d))

    def std_sqrt_d(z):
        return F.normalize(z, dim=1).std(dim=0).mean().item() * d**0.5

    assert std_sqrt_d(collapsed) > std_sqrt_d(healthy) > 0.9  # z_std blind
    assert effective_rank(healthy).item() > 0.7
    assert effective_rank(collapsed).item() == pytest.approx(1 / n, rel=1e-3)
    constant = torch.ones(n, d)
    assert effective_rank(constant).item() == pytest.approx(1 / n, rel=1e-3)
    # k equal orthogonal directions give exactly k / min(n, d)
    k = 8
    onehots = torch.eye(d)[torch.arange(n) % k]
    assert effective_rank(onehots).item() == pytest.approx(k / n, rel=1e-4)
    assert effective_rank(healthy.bfloat16()).dtype == torch.float32
    # a diverged batch gives NaN (for the NaN guard), not a solver error
    for bad in (float('nan'), float('inf')):
        broken = healthy.clone()
        broken[3, 5] = bad
        assert torch.isnan(effective_rank(broken))
        assert torch.isnan(effective_rank(torch.full((n, d), bad)))
    # the Gram-matrix shortcut equals the definition through svdvals, for a
    # batch smaller and larger than d
    for shape in ((64, 128), (300, 32)):
        z = torch.randn(*shape) * torch.linspace(0.1, 5, shape[1])
        s = torch.linalg.svdvals(F.normalize(z, dim=1))
        p = s / s.sum()
        expected = (-(p * p.log()).sum()).exp() / min(shape)
        assert effective_rank(z).item() == pytest.approx(
            expected.item(), rel=1e-4)
