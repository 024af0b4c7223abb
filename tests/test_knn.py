"""Weighted kNN (InstDisc protocol), feature extraction and the kNN and
t-SNE tools."""
import copy
import json
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from _digits import write_digits
from _tools import load_tool
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import nn

from simsiam_mm.evaluation import extract_features, knn
from simsiam_mm.evaluation.build import build_loader, build_model, load_config
from simsiam_mm.evaluation.knn import knn_evaluate, nearest_neighbours

pytestmark = pytest.mark.usefixtures('one_thread')


def reference_knn(train_feats, train_labels, val_feats, val_labels, k, t,
                  num_classes):
    """Dense InstDisc kNN, one query at a time: the textbook formula."""
    bank = F.normalize(train_feats, dim=1)
    top1 = top5 = 0
    for feat, label in zip(F.normalize(val_feats, dim=1), val_labels):
        sim = bank @ feat
        order = sorted(range(len(sim)), key=lambda i: -sim[i].item())[:k]
        votes = [0.0] * num_classes
        for i in order:
            votes[int(train_labels[i])] += math.exp(sim[i].item() / t)
        ranked = sorted((c for c in range(num_classes) if votes[c] > 0),
                        key=lambda c: -votes[c])
        top1 += ranked[0] == int(label)
        top5 += int(label) in ranked[:5]
    n = len(val_labels)
    return 100.0 * top1 / n, 100.0 * top5 / n


def blobs(num_classes, per_class, dim, spread, noise_seed):
    """Gaussian blobs around fixed class centres (the same in every call)."""
    centres = torch.randn(
        num_classes, dim, generator=torch.Generator().manual_seed(0)) * 10
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noise = torch.randn(
        len(labels), dim, generator=torch.Generator().manual_seed(noise_seed))
    return centres[labels] + spread * noise, labels


@pytest.mark.parametrize('chunk', [1, 3, 16, 4096])
def test_chunked_search_equals_dense_topk(chunk):
    g = torch.Generator().manual_seed(0)
    query, bank = torch.randn(
        37, 8, generator=g), torch.randn(
            53, 8, generator=g)
    sim, idx = nearest_neighbours(query, bank, 7, chunk_size=chunk)
    ref_sim, ref_idx = (query @ bank.T).topk(7, dim=1)
    assert torch.equal(idx, ref_idx)
    assert torch.allclose(sim, ref_sim)


@pytest.mark.parametrize('chunk', [2, 7, 1024])
def test_matches_reference_implementation(chunk):
    # overlapping blobs: accuracy strictly between chance and 100
    train_feats, train_labels = blobs(6, 20, 16, spread=12.0, noise_seed=1)
    val_feats, val_labels = blobs(6, 10, 16, spread=12.0, noise_seed=2)
    got = knn_evaluate(
        train_feats,
        train_labels,
        val_feats,
        val_labels,
        ks=(1, 5, 20),
        temperature=0.07,
        chunk_size=chunk)
    for k in (1, 5, 20):
        top1, top5 = reference_knn(train_feats, train_labels, val_feats,
                                   val_labels, k, 0.07, 6)
        assert got[f'top1_k{k}'] == pytest.approx(top1)
        assert got[f'top5_k{k}'] == pytest.approx(top5)
    assert 20 < got['top1_k20'] < 100


def test_separable_toy_is_perfect():
    train_feats, train_labels = blobs(10, 30, 32, spread=0.5, noise_seed=1)
    val_feats, val_labels = blobs(10, 5, 32, spread=0.5, noise_seed=2)
    got = knn_evaluate(train_feats, train_labels, val_feats, val_labels)
    assert got == {
        f'top{t}_k{k}': 100.0
        for k in (10, 20, 100, 200)
        for t in (1, 5)
    }


def test_shuffled_labels_are_near_chance():
    g = torch.Generator().manual_seed(0)
    train_feats, val_feats = torch.randn(
        2000, 32, generator=g), torch.randn(
            1000, 32, generator=g)
    train_labels = torch.randint(0, 10, (2000, ), generator=g)
    val_labels = torch.randint(0, 10, (1000, ), generator=g)
    got = knn_evaluate(train_feats, train_labels, val_feats, val_labels)
    for k in (10, 20, 100, 200):
        # chance: 10 % top-1, 50 % top-5 (binomial sd over 1000: 1 and 1.6)
        assert 6 < got[f'top1_k{k}'] < 14
        assert 44 < got[f'top5_k{k}'] < 56


def test_votes_weighted_by_exp_sim_over_t():
    # one neighbour of class 0 at cos 0.9, two of class 1 at cos 0.5
    c9, c5 = 0.9, 0.5
    train = torch.tensor([[c9, math.sqrt(1 - c9**2), 0.],
                          [c5, 0., math.sqrt(1 - c5**2)],
                          [c5, 0., -math.sqrt(1 - c5**2)]])
    labels = torch.tensor([0, 1, 1])
    query, qlabel = torch.tensor([[1., 0., 0.]]), torch.tensor([0])
    # T = 0.07: exp(0.9 / 0.07) > 2 exp(0.5 / 0.07) -> class 0
    assert knn_evaluate(
        train, labels, query, qlabel, ks=(3, ),
        temperature=0.07)['top1_k3'] == 100.0
    # T = 10: votes nearly equal, the majority (class 1) wins
    assert math.exp(c9 / 10) < 2 * math.exp(c5 / 10)
    assert knn_evaluate(
        train, labels, query, qlabel, ks=(3, ),
        temperature=10.0)['top1_k3'] == 0.0
    # k = 1: only the nearest neighbour votes
    assert knn_evaluate(
        train, labels, query, qlabel, ks=(1, ),
        temperature=10.0)['top1_k1'] == 100.0


def test_tiny_sets_and_k_larger_than_train(monkeypatch):
    logged = []
    monkeypatch.setattr(knn, 'print_log', lambda msg, **kw: logged.append(
        (msg, kw)))
    train = torch.tensor([[1., 0.], [0., 1.], [0.8, 0.6]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1., 0.], [0.6, 0.8]])
    qlabels = torch.tensor([0, 1])
    got = knn_evaluate(train, labels, query, qlabels, chunk_size=1024)
    # every k clamps to 3: closed form, query 0 -> class 0 since
    # exp(1/T) > 1 + exp(0.8/T); query 1 -> class 1
    assert got['top1_k200'] == got['top1_k10'] == 100.0
    assert got['top5_k200'] == 100.0  # two classes: top-2
    assert len(logged) == 4
    assert 'k=200 is larger than the 3 train samples; using k=3' in (
        logged[-1][0])
    # clamping is the same as asking for k = the train-set size
    assert knn_evaluate(
        train, labels, query, qlabels, ks=(3, ))['top1_k3'] == got['top1_k200']
    # a single val sample, a single train sample
    assert knn_evaluate(
        train[:1], labels[:1], query[1:], qlabels[1:],
        ks=(20, ))['top1_k20'] == 0.0


def test_invalid_inputs():
    feats, labels = torch.randn(4, 3), torch.arange(4)
    with pytest.raises(ValueError, match='at least one'):
        knn_evaluate(feats[:0], labels[:0], feats, labels)
    with pytest.raises(ValueError, match='k must be >= 1'):
        knn_evaluate(feats, labels, feats, labels, ks=(0, ))
    with pytest.raises(ValueError, match='temperature'):
        knn_evaluate(feats, labels, feats, labels, temperature=0.)


class ToyEncoder(BaseModel):
    """extract_feat = BN (to watch running statistics) + mean over pixels."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='BaseDataPreprocessor'))
        self.bn = nn.BatchNorm2d(3)
        self.calls = []

    def extract_feat(self, inputs):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.bn(inputs).mean(dim=(2, 3))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.extract_feat(inputs)


def test_extract_features_eval_mode_no_grad_in_order():
    model = ToyEncoder().train()
    stats = model.bn.running_mean.clone()
    images = torch.randn(7, 3, 4, 4)
    batches = [
        dict(
            inputs=images[i:i + 3],
            data_samples=[
                DataSample().set_gt_label(j) for j in range(i, min(i + 3, 7))
            ]) for i in range(0, 7, 3)
    ]
    feats, labels = extract_features(model, batches)
    assert model.training  # mode restored
    assert model.calls == [(False, False)] * 3
    assert torch.equal(model.bn.running_mean, stats)  # eval BN, not updated
    assert torch.equal(labels, torch.arange(7))
    expected = images.mean(dim=(2, 3)) / math.sqrt(1 + 1e-5)  # eval BN
    assert torch.allclose(feats, expected, atol=1e-6)


def test_extract_features_needs_labels():
    batches = [dict(inputs=torch.randn(2, 3, 4, 4), data_samples=None)]
    with pytest.raises(ValueError, match='labelled'):
        extract_features(ToyEncoder(), batches)


# ------------------------------------------------------------ the tools
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = '''
_base_ = ['{root}/configs/_base_/models/simsiam_r18_cifar.py',
          '{root}/configs/_base_/datasets/digits_knn.py']
default_scope = 'simsiam_mm'
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=64, hid_channels=32, out_channels=32),
    head=dict(in_channels=32, hid_channels=8, out_channels=32),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[79.65] * 3, std=[90.81] * 3))
'''


def _tool(name):
    return load_tool(name)


def _features(model, cfg, root):
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict({
        f'knn_{s}_dataloader':
        dict(
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=root))
        for s in ('train', 'val')
    })
    return [
        extract_features(model, build_loader(cfg, f'knn_{s}_dataloader'))
        for s in ('train', 'val')
    ]


@pytest.mark.slow
def test_knn_eval_and_tsne_tools(tmp_path, monkeypatch):
    root = write_digits(str(tmp_path / 'digits'), 8, 3)
    config = tmp_path / 'tiny.py'
    config.write_text(TINY.format(root=ROOT))
    options = ['--cfg-options'] + [
        f'knn_{s}_dataloader.{k}' for s in ('train', 'val')
        for k in (f'dataset.data_root={root}', 'num_workers=0',
                  'persistent_workers=False')
    ]
    cfg = load_config(str(config))
    torch.manual_seed(0)
    random_init = build_model(cfg, None, 'cpu')
    # a checkpoint that is NOT the seed-0 random init: every backbone
    # tensor moved, BN statistics included
    trained = copy.deepcopy(random_init)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in trained.backbone.state_dict().items():
            if name.endswith('running_var'):
                t.uniform_(0.5, 1.5, generator=g)
            elif t.is_floating_point():
                t.add_(0.1 * torch.randn(t.shape, generator=g))
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=trained.state_dict()), ckpt)

    knn_eval = _tool('knn_eval')
    used = []  # the backbone each run extracted features with
    split_features = knn_eval.split_features

    def spy(cfg, model, split):
        used.append({
            k: v.clone()
            for k, v in model.backbone.state_dict().items()
        })
        return split_features(cfg, model, split)

    monkeypatch.setattr(knn_eval, 'split_features', spy)
    out = str(tmp_path / 'knn.json')
    report = knn_eval.main(
        [str(config), ckpt, '--k', '3', '200', '--out', out] + options)
    with open(out) as f:
        assert json.load(f) == report
    assert (report['num_train'], report['num_val']) == (80, 30)
    assert report['results']['200']['k_used'] == 80  # clamped
    assert report['results']['3']['k_used'] == 3
    # the checkpoint's backbone, bit for bit, gave the features
    assert len(used) == 2
    for state in used:
        for k, v in trained.backbone.state_dict().items():
            assert torch.equal(state[k], v), k
    # the same numbers as the library on the same features
    for model, argv in ((trained, [ckpt]), (random_init, ['--random-init'])):
        direct = knn_evaluate(
            *_features(model, cfg, root)[0],
            *_features(model, cfg, root)[1],
            ks=(3, 200))
        got = report if model is trained else knn_eval.main(
            [str(config)] + argv + ['--k', '3', '200'] + options)
        for k in ('3', '200'):
            assert got['results'][k]['top1'] == direct[f'top1_k{k}']
            assert got['results'][k]['top5'] == direct[f'top5_k{k}']
    # --random-init with the same seed is the seed-0 network
    for k, v in random_init.backbone.state_dict().items():
        assert torch.equal(used[-1][k], v), k
    assert not torch.equal(used[0]['conv1.weight'], used[-1]['conv1.weight'])

    png = _tool('tsne').main([
        str(config), ckpt, '--iters', '250', '--out',
        str(tmp_path / 'tsne.png')
    ] + options)
    assert osp.getsize(png) > 10000

    # a collapsed backbone (every image gives the same feature) is a clear
    # error, not a crash inside scikit-learn's t-SNE
    with torch.no_grad():
        for name, t in trained.backbone.state_dict().items():
            if t.is_floating_point():
                t.fill_(1.0 if 'running_var' in name or 'bias' in name else 0)
    collapsed = str(tmp_path / 'collapsed.pth')
    torch.save(dict(state_dict=trained.state_dict()), collapsed)
    with pytest.raises(SystemExit, match='30 feature vectors are all the'):
        _tool('tsne').main([str(config), collapsed] + options)


def test_knn_eval_on_duplicated_points_is_perfect(tmp_path):
    """The val split is the train split: every query finds itself at
    cos = 1, so the k = 1 vote is right for all of them."""
    root = write_digits(str(tmp_path / 'digits'), 5, 1)
    config = tmp_path / 'tiny.py'
    config.write_text(TINY.format(root=ROOT))
    report = _tool('knn_eval').main([
        str(config), '--random-init', '--k', '1', '--cfg-options',
        'knn_val_dataloader.dataset.data_prefix=train'
    ] + [
        f'knn_{s}_dataloader.{k}' for s in ('train', 'val')
        for k in (f'dataset.data_root={root}', 'num_workers=0',
                  'persistent_workers=False')
    ])
    assert report['num_train'] == report['num_val'] == 50
    assert report['results']['1'] == dict(top1=100.0, top5=100.0, k_used=1)
