"""Accuracy and AP on problems whose answer is known in advance.

* A linear probe, through the shipped digits linear config (LinearEvalHook,
  frozen backbone, mmpretrain's LinearClsHead and Accuracy), on features
  that are linearly separable by construction: 100 %.
* The detection metrics of the shipped mmdet configs on hand-made
  detections: perfect ones give AP 1; finding one of two objects gives the
  value of the config's interpolation (VOC07 11-point: 6/11, COCO 101-point:
  51/101); boxes at IoU 0.72 pass 5 of the 10 IoU thresholds 0.5:0.95.
(kNN on duplicated points: tests/test_knn.py.)
"""
import functools
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models import ResNet_CIFAR
from test_linear import WIDTH, linear_cfg

import simsiam_mm  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMDET = osp.join(ROOT, 'configs', 'benchmarks', 'mmdet')
VOC_C4 = osp.join(MMDET, 'faster-rcnn_r50-c4_ms-24k_voc0712.py')
COCO_C4 = osp.join(MMDET, 'mask-rcnn_r50-c4_ms-1x_coco.py')
pytestmark = pytest.mark.usefixtures('one_thread')


# ------------------------------------------------------------ linear probe
def colour_pass_through_checkpoint(path: str) -> None:
    """A CIFAR ResNet-18 whose pooled feature is ReLU of the normalised
    input colour: channel c of the stem copies input channel c (c < 3),
    every other convolution is zero, every BN is the identity, and each
    stage's shortcut carries the first channels on. A residual block then
    returns its (non-negative) input."""
    backbone = ResNet_CIFAR(depth=18, **WIDTH)
    state = backbone.state_dict()
    with torch.no_grad():
        for name, t in state.items():
            if name.endswith(('running_var', '.weight')) and t.dim() == 1:
                t.fill_(1.0)  # BN weight and variance
            elif t.is_floating_point():
                t.zero_()  # convolutions, BN bias and mean
        for c in range(3):
            state['conv1.weight'][c, c, 1, 1] = 1.0
        for stage in (2, 3, 4):
            shortcut = state[f'layer{stage}.0.downsample.0.weight']
            for c in range(shortcut.shape[1]):
                shortcut[c, c, 0, 0] = 1.0
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in state.items()
        }), path)


def write_colours(root: str, per_class: int) -> None:
    """Class k: channel k bright (200-255), the others dark (0-40), with
    per-pixel noise. Normalised with the config's mean 79.65 / std 90.81,
    the dark channels are negative (ReLU: 0) and the bright one is
    1.3-1.9: the pooled features are separable by construction."""
    rng = np.random.default_rng(0)
    for split, n in (('train', per_class), ('val', per_class // 2)):
        for k in range(3):
            folder = osp.join(root, split, str(k))
            os.makedirs(folder)
            for i in range(n):
                img = rng.integers(0, 40, (32, 32, 3))
                img[..., k] = rng.integers(200, 256, (32, 32))
                cv2.imwrite(osp.join(folder, f'{i}.png'), img.astype(np.uint8))


def test_linear_probe_on_separable_features_is_perfect(tmp_path):
    root = str(tmp_path / 'colours')
    write_colours(root, per_class=8)
    ckpt = str(tmp_path / 'pass_through.pth')
    colour_pass_through_checkpoint(ckpt)
    # the config's own head, optimizer (SGD lr 0.1) and cosine schedule over
    # its 10 epochs; batch 8 so that 24 images make 3 iterations an epoch
    cfg = linear_cfg(
        root, str(tmp_path / 'work'), **{
            'model.init_cfg.checkpoint': ckpt,
            'train_cfg.max_epochs': 10,
            'train_cfg.val_interval': 10,
            'train_dataloader.batch_size': 8
        })
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 30
    acc = runner.message_hub.get_scalar('val/accuracy/top1').current()
    assert acc == 100.0
    # the features were what the construction says: ReLU of the colour
    model = runner.model.eval()
    image = torch.full((1, 3, 32, 32), 255.0)
    image[:, 1:] = 0.0
    with torch.no_grad():
        feats = model.extract_feat(
            model.data_preprocessor(dict(inputs=[image[0]]))['inputs'])[0]
    expected = torch.zeros_like(feats)
    expected[0, 0] = (255 - 79.65) / 90.81
    torch.testing.assert_close(feats, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------ detection AP
GT = np.array([[10., 10., 110., 110.], [20., 30., 120., 130.]])


def detections(found, shrink=0.0):
    """Image i's detection: its ground-truth box (its bottom edge moved up
    by ``shrink`` of the height) if ``found[i]``, else none."""
    out = []
    for i, hit in enumerate(found):
        box = GT[i:i + 1].copy()
        box[:, 3] -= shrink * (box[:, 3] - box[:, 1])
        box = box if hit else np.zeros((0, 4))
        out.append(
            dict(
                bboxes=torch.tensor(box, dtype=torch.float32),
                scores=torch.ones(len(box)),
                labels=torch.zeros(len(box), dtype=torch.long)))
    return out


@functools.lru_cache()
def val_evaluator(config: str) -> dict:
    return Config.fromfile(config).val_evaluator.to_dict()


def evaluate(config: str, samples, evaluator_options=None) -> dict:
    """The config's val_evaluator (its metric settings) on ``samples``."""
    cfg = dict(val_evaluator(config), **(evaluator_options or {}))
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import METRICS
        metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=('thing', ))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def voc(found, shrink=0.0) -> dict:
    samples = [
        dict(
            gt_instances=dict(
                bboxes=torch.tensor(GT[i:i + 1], dtype=torch.float32),
                labels=torch.zeros(1, dtype=torch.long)),
            ignored_instances=dict(
                bboxes=torch.zeros(0, 4), labels=torch.zeros(0)),
            pred_instances=pred)
        for i, pred in enumerate(detections(found, shrink))
    ]
    return evaluate(VOC_C4, samples)


def test_voc_ap_known_answers():
    thrs = [f'pascal_voc/AP{t}' for t in range(50, 100, 5)]
    perfect = voc([True, True])
    assert [perfect[k] for k in thrs] == [1.0] * 10
    assert perfect['pascal_voc/mAP'] == 1.0
    # one of two objects at precision 1: the VOC07 11-point interpolation
    # counts recall 0, 0.1, ..., 0.5 (area under the curve would be 0.5)
    half = voc([True, False])
    assert half['pascal_voc/mAP'] == pytest.approx(6 / 11)
    assert half['pascal_voc/AP50'] == round(6 / 11, 3)
    # IoU (legacy +1 pixel) 73/101 = 0.72: found at 0.5-0.7, missed above
    loose = voc([True, True], shrink=0.28)
    assert [loose[k] for k in thrs] == [1.0] * 5 + [0.0] * 5
    assert loose['pascal_voc/mAP'] == pytest.approx(0.5)


def coco(tmp_path, found, shrink=0.0) -> dict:
    images, annotations = [], []
    for i, (x0, y0, x1, y1) in enumerate(GT.tolist()):
        images.append(dict(id=i + 1, width=160, height=160, file_name=f'{i}'))
        annotations.append(
            dict(
                id=i + 1,
                image_id=i + 1,
                category_id=1,
                bbox=[x0, y0, x1 - x0, y1 - y0],
                area=(x1 - x0) * (y1 - y0),
                iscrowd=0,
                segmentation=[[x0, y0, x1, y0, x1, y1, x0, y1]]))
    ann_file = str(tmp_path / 'instances.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name='thing')]), f)
    from pycocotools.coco import COCO
    api = COCO(ann_file)
    samples = []
    for i, pred in enumerate(detections(found, shrink)):
        masks = []
        for box in pred['bboxes'].tolist():
            x0, y0, x1, y1 = box
            ann = dict(
                image_id=i + 1,
                segmentation=[[x0, y0, x1, y0, x1, y1, x0, y1]])
            masks.append(api.annToMask(ann))
        pred['masks'] = torch.from_numpy(
            np.array(masks, dtype=bool).reshape(-1, 160, 160))
        samples.append(
            dict(img_id=i + 1, ori_shape=(160, 160), pred_instances=pred))
    return evaluate(COCO_C4, samples, dict(ann_file=ann_file))


def test_coco_ap_known_answers(tmp_path):
    for task in ('bbox', 'segm'):
        key = f'coco/{task}_mAP'
        assert coco(tmp_path, [True, True])[key] == 1.0
        # COCO's 101-point interpolation: recall 0, 0.01, ..., 0.5
        half = coco(tmp_path, [True, False])
        assert half[key] == half[key + '_50'] == round(51 / 101, 3)
        # IoU 0.72: found at 0.5-0.7, missed above: 5 of 10 thresholds
        loose = coco(tmp_path, [True, True], shrink=0.28)
        assert loose[key] == 0.5
        assert (loose[key + '_50'], loose[key + '_75']) == (1.0, 0.0)
