"""`make transfer-demo`: the digit-canvas detection set, the detector config
started from a SimSiam checkpoint, CocoMetric on it, and the driver's
output.

The data come from ``tools/prepare_demo_data.py --detection`` itself (small
counts); the checkpoint is the project's SimSiam digits model with every
tensor moved off its init, so that equality can only come from loading.
"""
import filecmp
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from _tools import load_tool
from _train_utils import jittered_simsiam_checkpoint
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import simsiam_mm  # noqa: F401  (registers the scope, safe loader)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
DETECTOR = osp.join(ROOT, 'configs', 'benchmarks', 'mmdet',
                    'faster-rcnn_r18-cifar-fpn_1xb8-200i_digits-det.py')
PRETRAIN = osp.join(ROOT, 'configs',
                    'simsiam_r18-cifar_1xb64-coslr-20e_digits-16px.py')
SMALL = dict(n_train=6, n_val=4, n_pool=5)

prepare = load_tool('prepare_demo_data')
read_scalars = load_tool('_common').read_scalars


def _files(root: str) -> list:
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root)
        for f in files)


# ------------------------------------------------------------------ data
@pytest.fixture(scope='module')
def det_data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('data') / 'digits_det')
    return out, prepare.prepare_detection(out, **SMALL)


def _coco(out: str, split: str) -> dict:
    with open(osp.join(out, 'annotations', f'{split}.json')) as f:
        return json.load(f)


def test_detection_boxes_are_the_tight_boxes_of_the_digits(det_data):
    """Every box lies inside its canvas and is the tight box of ink of one
    pasted digit; no ink lies outside the boxes; the class is the digit's
    label in load_digits()."""
    from sklearn.datasets import load_digits
    labels = load_digits().target
    out, stamp = det_data
    assert stamp['counts']['train_images'] == SMALL['n_train']
    for split in ('train', 'val', 'pool'):
        coco = _coco(out, split)
        assert len(coco['images']) == SMALL[f'n_{split}']
        assert [c['name'] for c in coco['categories']] == list('0123456789')
        assert [c['id'] for c in coco['categories']] == list(range(1, 11))
        for image in coco['images']:
            img = prepare.cv2.imread(
                osp.join(out, split, image['file_name']),
                prepare.cv2.IMREAD_UNCHANGED)
            assert img.shape == (image['height'], image['width']) == (64, 64)
            anns = [
                a for a in coco['annotations'] if a['image_id'] == image['id']
            ]
            assert 1 <= len(anns) <= 4  # the first digit always fits
            covered = np.zeros(img.shape, bool)
            for a in anns:
                x, y, w, h = (int(v) for v in a['bbox'])
                assert a['bbox'] == [float(v) for v in (x, y, w, h)]
                assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64
                assert a['area'] == w * h and a['iscrowd'] == 0
                assert a['category_id'] == labels[a['digit_index']] + 1
                ink = img[y:y + h, x:x + w] >= prepare.INK
                # tight: ink on each of the four edges of the box
                assert ink[0].any() and ink[-1].any()
                assert ink[:, 0].any() and ink[:, -1].any()
                covered[y:y + h, x:x + w] = True
            assert not (img[~covered] >= prepare.INK).any()


def test_validation_digits_are_never_in_the_pool_or_labelled_split(det_data):
    """Val canvases only hold digit images of the val side of the split
    that data/digits uses; train canvases (and the labelled folder) and
    the pool canvases only train-side digits, the train ones each at most
    once."""
    from sklearn.datasets import load_digits
    labels = load_digits().target
    out, stamp = det_data
    split = prepare.split_indices(labels, 0.2, 0)
    train, val, pool = ([
        a['digit_index'] for a in _coco(out, name)['annotations']
    ] for name in ('train', 'val', 'pool'))
    assert set(train) <= set(split['train'].tolist())
    assert set(pool) <= set(split['train'].tolist())
    assert set(val) <= set(split['val'].tolist())
    assert len(set(train)) == len(train)
    assert stamp['counts']['pool_digits'] == len(split['train']) == 1438
    labelled = sorted(
        f for f in _files(out) if f.startswith(prepare.LABELLED + os.sep))
    assert labelled == sorted(
        osp.join(prepare.LABELLED, str(labels[i]), f'{i:04d}.png')
        for i in train)


def test_detection_set_is_idempotent_and_seeded(tmp_path, capsys):
    a, b, c, d = (str(tmp_path / n) for n in 'abcd')
    small = ['--train-images', '5', '--val-images', '3', '--pool-images', '2']
    prepare.main(['--detection', '--out', a] + small)
    assert 'wrote 5 train' in capsys.readouterr().out
    mtimes = {f: os.stat(osp.join(a, f)).st_mtime_ns for f in _files(a)}
    prepare.main(['--detection', '--out', a] + small)
    assert 'nothing written' in capsys.readouterr().out
    assert mtimes == {
        f: os.stat(osp.join(a, f)).st_mtime_ns
        for f in _files(a)
    }
    # the same seed elsewhere: byte-identical files; another seed: not
    prepare.main(['--detection', '--out', b] + small)
    assert _files(a) == _files(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, _files(a), shallow=False)
    assert not mismatch and not errors
    prepare.main(['--detection', '--out', c, '--seed', '1'] + small)
    assert not filecmp.cmp(
        osp.join(a, 'annotations', 'val.json'),
        osp.join(c, 'annotations', 'val.json'),
        shallow=False)
    # fewer train canvases: the first ones, the same val canvases
    prepare.main([
        '--detection', '--out', d, '--train-images', '2', '--val-images', '3',
        '--pool-images', '0'
    ])
    for name in _files(osp.join(d, 'val')) + ['00000.png', '00001.png']:
        split = 'val' if name in _files(osp.join(d, 'val')) else 'train'
        assert filecmp.cmp(
            osp.join(a, split, name), osp.join(d, split, name), shallow=False)
    assert _coco(d, 'val') == _coco(a, 'val')
    assert _coco(d, 'train')['annotations'] == [
        ann for ann in _coco(a, 'train')['annotations'] if ann['image_id'] < 2
    ]
    # other arguments rewrite a folder, removing what no longer belongs
    prepare.main([
        '--detection', '--out', a, '--train-images', '2', '--val-images', '3',
        '--pool-images', '0'
    ])
    assert len(os.listdir(osp.join(a, 'train'))) == 2
    assert os.listdir(osp.join(a, 'pool')) == []
    assert _files(a) == _files(d)


def test_detection_set_refuses_impossible_requests(tmp_path, capsys):
    with pytest.raises(SystemExit):
        prepare.main([
            '--detection', '--out',
            str(tmp_path / 'x'), '--digit-sizes', '30', '70'
        ])
    assert 'digit sizes (30, 70) must satisfy 8 <= min <= max <= canvas ' \
        '(64)' in capsys.readouterr().err
    with pytest.raises(ValueError, match='more than the 1438 digits'):
        prepare.prepare_detection(str(tmp_path / 'y'), n_train=1000)
    assert not os.path.exists(tmp_path / 'x')
    assert not os.path.exists(tmp_path / 'y')  # nothing half-written


def test_digits_image_folder_is_unchanged_by_the_detection_flag(tmp_path):
    """`make demo`'s call (no flag) still writes the image folder."""
    stamp = prepare.main(['--out', str(tmp_path / 'digits'), '--size', '8'])
    assert stamp['counts'] == dict(train=1438, val=359)


# ------------------------------------------------------------ detector
def _simsiam_checkpoint(path: str) -> dict:
    """The pretraining config's SimSiam, every float tensor jittered and
    BN variances drawn, saved as mmengine saves checkpoints."""
    return jittered_simsiam_checkpoint(PRETRAIN, path)


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'simsiam_digits.pth')
    return path, _simsiam_checkpoint(path)


class Probe(Hook):
    """Keeps the weights training starts from and the evaluation."""

    def before_train(self, runner) -> None:
        self.start = {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics)


def _tiny(cfg: Config, work_dir: str) -> Config:
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    # an untrained detector scores below 0.05: keep its boxes
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    return cfg


def _backbone(state: dict) -> dict:
    return {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }


@pytest.fixture
def in_data_dir(tmp_path, monkeypatch, det_data):
    """cwd with data/digits_det, as the config expects."""
    os.makedirs(tmp_path / 'data')
    os.symlink(det_data[0], tmp_path / 'data' / 'digits_det')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_detector_trains_from_the_simsiam_checkpoint(in_data_dir, monkeypatch,
                                                     ckpt):
    path, state = ckpt
    monkeypatch.setenv('SIMSIAM_CKPT', path)  # the one place named
    cfg = Config.fromfile(DETECTOR)
    assert cfg.model.init_cfg.type == 'simsiam_mm.SimSiamPretrained'
    assert cfg.model.init_cfg.checkpoint == path
    runner = Runner.from_cfg(_tiny(cfg, str(in_data_dir / 'work')))
    probe = Probe()
    runner.register_hook(probe, priority='VERY_LOW')
    runner.train()

    source, started = _backbone(state), _backbone(probe.start)
    assert set(started) == set(source)
    for k, v in started.items():
        assert torch.equal(v, source[k]), k
    # every weight trains, BN affine included; the BN statistics stay the
    # checkpoint's (norm_eval)
    end = runner.model.state_dict()
    for k in ('backbone.conv1.weight', 'backbone.bn1.weight',
              'backbone.layer3.1.conv2.weight', 'backbone.layer3.1.bn2.bias'):
        assert not torch.equal(probe.start[k], end[k]), k
    for name, param in runner.model.backbone.named_parameters():
        assert param.requires_grad, name
    stats = [k for k in source if k.endswith(('running_mean', 'running_var'))]
    assert len(stats) == 2 * 20  # stem + 8 blocks x 2 + 3 downsamples
    for k in stats:
        assert torch.equal(end['backbone.' + k], source[k]), k
    for k in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        value = probe.metrics[f'coco/{k}']
        assert isinstance(value, float) and 0.0 <= value <= 1.0, (k, value)

    # the same config without the initializer: other backbone weights
    init_default_scope('mmdet')
    from mmdet.registry import MODELS as DET
    model_cfg = cfg.model.copy()
    model_cfg.init_cfg = None
    fresh = DET.build(model_cfg)
    fresh.init_weights()
    for k, v in _backbone(fresh.state_dict()).items():
        if k.endswith('conv1.weight'):
            assert not torch.equal(v, source[k]), k


def test_coco_metric_scores_the_ground_truth_100(in_data_dir):
    """mmdet's CocoMetric on the val split: the ground-truth boxes as
    predictions score AP 1.0, with their labels shifted by one 0.0; so the
    json's category ids and the config's class names agree."""
    from mmdet.structures import DetDataSample
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(DETECTOR)
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS, METRICS
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(dataset) == SMALL['n_val']
    assert dataset.metainfo['classes'] == tuple('0123456789')

    def score(shift: int) -> dict:
        metric = METRICS.build(cfg.val_evaluator)
        metric.dataset_meta = dataset.metainfo
        samples = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            boxes = torch.tensor([inst['bbox'] for inst in info['instances']],
                                 dtype=torch.float32)
            labels = torch.tensor(
                [inst['bbox_label'] for inst in info['instances']])
            pred = InstanceData(
                bboxes=boxes,
                labels=(labels + shift) % 10,
                scores=torch.ones(len(labels)))
            sample = DetDataSample(
                metainfo=dict(
                    img_id=info['img_id'],
                    ori_shape=(info['height'], info['width'])))
            sample.pred_instances = pred
            samples.append(sample.to_dict())
        metric.process({}, samples)
        return metric.evaluate(len(samples))

    perfect = score(0)
    assert perfect['coco/bbox_mAP'] == 1.0
    assert perfect['coco/bbox_mAP_50'] == 1.0
    assert score(1)['coco/bbox_mAP'] == 0.0


# --------------------------------------------------------------- driver
def test_driver_help_is_fast_and_shows_defaults():
    code = ('import sys; sys.path.insert(0, sys.argv[1]); '
            'import transfer_demo as t; a = t.parse_args([]); '
            'print(a.seeds, a.jobs, "torch" in sys.modules, '
            '"mmdet" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code, TOOLS],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.split() == ['[0,', '1,', '2]', '2', 'False', 'False']
    help_text = subprocess.run(
        [sys.executable,
         osp.join(TOOLS, 'transfer_demo.py'), '-h'],
        capture_output=True,
        text=True,
        check=True).stdout
    for flag in ('--seeds', '--checkpoint', '--det-options', '--jobs'):
        assert flag in help_text
    assert '(default: [0, 1, 2])' in help_text


@pytest.mark.slow
def test_driver_prints_the_json_last_line(tmp_path, ckpt):
    path, _ = ckpt
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'transfer_demo.py'), '--work-dir', 'w', '--checkpoint',
        path, '--supervised-config', 'none', '--seeds', '3', '5',
        '--data-args', '--train-images 4 --val-images 2', '--det-options',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=1',
        'train_dataloader.batch_size=2', 'model.test_cfg.rcnn.score_thr=0.0'
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(last) == [
        'task', 'seeds', 'bbox_mAP', 'bbox_mAP_50', 'minutes'
    ]
    assert last['task'] == 'digits-detection' and last['seeds'] == [3, 5]
    for key in ('bbox_mAP', 'bbox_mAP_50'):
        assert list(last[key]) == ['simsiam', 'random']
        for values in last[key].values():
            assert len(values) == 2
            assert all(0.0 <= v <= 100.0 for v in values)
    assert last['minutes'] > 0
    # the numbers are the runs' CocoMetric at their last evaluation
    rows = [
        r for r in read_scalars(str(tmp_path / 'w' / 'det' / 'random_seed5'))
        if 'coco/bbox_mAP' in r
    ]
    assert len(rows) == 2  # val_interval 1, max_iters 2
    assert last['bbox_mAP']['random'][1] == round(
        100 * rows[-1]['coco/bbox_mAP'], 1)
    with open(tmp_path / 'w' / 'results.json') as f:
        curve = json.load(f)['curves']['random']['5']
    assert [r['step'] for r in curve] == [1, 2]
    assert curve[-1]['bbox_mAP'] == last['bbox_mAP']['random'][1]
    assert osp.isfile(tmp_path / 'w' / 'ap_curves.png')
    # the seed reached the runs; the SimSiam rows keep the checkpoint's BN
    # statistics, the random rows (nothing to keep) train them
    ran = {
        name:
        Config.fromfile(
            str(tmp_path / 'w' / 'det' / name / osp.basename(DETECTOR)))
        for name in ('simsiam_seed3', 'random_seed3')
    }
    assert ran['simsiam_seed3'].randomness.seed == 3
    assert ran['simsiam_seed3'].model.init_cfg.checkpoint == path
    assert ran['simsiam_seed3'].model.backbone.norm_eval is True
    assert ran['random_seed3'].model.init_cfg is None
    assert ran['random_seed3'].model.backbone.norm_eval is False
    assert 'SIMSIAM_CKPT=' + path in proc.stdout


def test_evaluation_iterations_follow_the_loop():
    """mmengine logs the validation of an iteration-based loop at step 0;
    the driver places each evaluation where IterBasedTrainLoop runs it."""
    demo = load_tool('transfer_demo')
    assert demo.eval_iterations(dict(max_iters=200,
                                     val_interval=50)) == [50, 100, 150, 200]
    assert demo.eval_iterations(dict(max_iters=120,
                                     val_interval=50)) == [50, 100, 120]
    assert demo.eval_iterations(dict(max_iters=2, val_interval=1)) == [1, 2]
    assert demo.eval_iterations(
        dict(max_iters=200, val_interval=50, val_begin=120)) == [150, 200]
