"""Transfer: a SimSiam checkpoint handed to mmdet and mmpretrain.

Each benchmark config trains a few iterations on CPU, on a tiny dataset in
the layout the README documents (written here: drawn boxes and polygons),
from a checkpoint made by this project's SimSiam, and evaluates to numbers.
The checks that matter: the weights the training *starts from* are the
checkpoint's backbone, res5 of a C4 detector included; precise BN replaces
the BN statistics before evaluation; VOC's difficult objects are targets.
"""
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET

import cv2
import mmpretrain.models  # noqa: F401  (a child scope does not import it)
import numpy as np
import pytest
import torch
from _train_utils import jittered_simsiam_checkpoint
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner

import simsiam_mm  # noqa: F401  (registers the scope, safe loader)
from simsiam_mm.engine.pretrained_init import UNSET, SimSiamPretrained

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMDET = osp.join(ROOT, 'configs', 'benchmarks', 'mmdet')
VOC_C4 = osp.join(MMDET, 'faster-rcnn_r50-c4_ms-24k_voc0712.py')
COCO_C4 = osp.join(MMDET, 'mask-rcnn_r50-c4_ms-1x_coco.py')
FINETUNE = osp.join(ROOT, 'configs', 'benchmarks', 'finetune',
                    'r18-cifar_1xb128-ft-coslr-10e_digits.py')


# ------------------------------------------------------------ checkpoints
def _simsiam_checkpoint(model_cfg: str, path: str) -> dict:
    return jittered_simsiam_checkpoint(
        osp.join(ROOT, 'configs', model_cfg), path)


@pytest.fixture(scope='module')
def r50_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'simsiam_r50.pth')
    return path, _simsiam_checkpoint('_base_/models/simsiam_r50.py', path)


@pytest.fixture(scope='module')
def r18_ckpt(tmp_path_factory):
    # the demo recipe (half-width CIFAR ResNet-18), what the digits
    # fine-tune config takes
    path = str(tmp_path_factory.mktemp('ckpt') / 'simsiam_r18_cifar.pth')
    return path, _simsiam_checkpoint('simsiam_r18-cifar_1xb64_digits-demo.py',
                                     path)


# --------------------------------------------------------- tiny datasets
VOC_BOXES = {  # image -> [(class, x1, y1, x2, y2[, difficult])], 1-based
    '000001': [('car', 10, 12, 70, 60)],
    '000002': [('dog', 40, 20, 110, 80), ('car', 5, 50, 45, 90)],
    '000003': [('dog', 20, 10, 100, 70), ('car', 96, 70, 124, 92, 1)],
    '000004': [('car', 30, 30, 90, 85)],
    '000005': [('dog', 8, 8, 60, 50)],
    '000006': [('car', 50, 15, 120, 75)],
    '000007': [('dog', 15, 25, 85, 88), ('car', 90, 8, 126, 40, 1)],
}
VOC_SPLITS = {
    'VOC2007':
    dict(trainval=['000001', '000002', '000003'], test=['000006', '000007']),
    'VOC2012':
    dict(trainval=['000004', '000005']),
}
W, H = 128, 96


def _canvas(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 80, (H, W, 3), dtype=np.uint8)


def write_voc(root: str) -> None:
    """data/VOCdevkit/VOC{2007,2012} with JPEGImages, Annotations, lists."""
    for year, splits in VOC_SPLITS.items():
        base = osp.join(root, 'VOCdevkit', year)
        for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
            os.makedirs(osp.join(base, sub), exist_ok=True)
        for split, names in splits.items():
            with open(osp.join(base, 'ImageSets/Main', f'{split}.txt'),
                      'w') as f:
                f.write('\n'.join(names) + '\n')
            for name in names:
                img = _canvas(int(name))
                ann = ET.Element('annotation')
                size = ET.SubElement(ann, 'size')
                for key, val in (('width', W), ('height', H), ('depth', 3)):
                    ET.SubElement(size, key).text = str(val)
                for i, (cls, x1, y1, x2, y2,
                        *difficult) in enumerate(VOC_BOXES[name]):
                    color = (40 + 100 * i, 200, 255 - 60 * i)
                    cv2.rectangle(img, (x1 - 1, y1 - 1), (x2 - 1, y2 - 1),
                                  color, -1)
                    obj = ET.SubElement(ann, 'object')
                    ET.SubElement(obj, 'name').text = cls
                    ET.SubElement(obj, 'difficult').text = str(
                        difficult[0] if difficult else 0)
                    box = ET.SubElement(obj, 'bndbox')
                    for key, val in zip(('xmin', 'ymin', 'xmax', 'ymax'),
                                        (x1, y1, x2, y2)):
                        ET.SubElement(box, key).text = str(val)
                cv2.imwrite(osp.join(base, 'JPEGImages', f'{name}.jpg'), img)
                ET.ElementTree(ann).write(
                    osp.join(base, 'Annotations', f'{name}.xml'))


def write_coco(root: str) -> None:
    """data/coco/{train2017,val2017} + annotations/instances_*.json."""
    from mmdet.datasets import CocoDataset
    classes = CocoDataset.METAINFO['classes']
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(classes)]
    polygons = [  # (category id, polygon x1 y1 x2 y2 ...)
        (1, [20, 10, 70, 10, 70, 80, 20, 80]),  # person: rectangle
        (3, [60, 20, 120, 50, 60, 85]),  # car: triangle
    ]
    ann_id = 0
    for split, n_images in (('train2017', 4), ('val2017', 2)):
        os.makedirs(osp.join(root, 'coco', split), exist_ok=True)
        images, anns = [], []
        for i in range(n_images):
            img_id = 100 * (split == 'val2017') + i + 1
            img = _canvas(img_id)
            name = f'{img_id:012d}.jpg'
            for cat, poly in polygons[:1 + i % 2]:
                pts = np.array(poly, np.float32).reshape(-1, 2)
                pts[:, 0] = np.clip(pts[:, 0] + 4 * i, 0, W - 1)
                cv2.fillPoly(img, [pts.astype(np.int32)], (255, 60 * cat, 90))
                x1, y1 = pts.min(0)
                x2, y2 = pts.max(0)
                ann_id += 1
                anns.append(
                    dict(
                        id=ann_id,
                        image_id=img_id,
                        category_id=cat,
                        bbox=[
                            float(x1),
                            float(y1),
                            float(x2 - x1),
                            float(y2 - y1)
                        ],
                        area=float(cv2.contourArea(pts)),
                        iscrowd=0,
                        segmentation=[pts.flatten().tolist()]))
            cv2.imwrite(osp.join(root, 'coco', split, name), img)
            images.append(dict(id=img_id, file_name=name, width=W, height=H))
        os.makedirs(osp.join(root, 'coco', 'annotations'), exist_ok=True)
        with open(
                osp.join(root, 'coco', 'annotations',
                         f'instances_{split}.json'), 'w') as f:
            json.dump(
                dict(images=images, annotations=anns, categories=categories),
                f)


# ------------------------------------------------------- shrink a config
def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _walk(v)


def shrink(cfg: Config, work_dir: str) -> Config:
    """The same config, small enough for CPU: 96-112 px, 2 iterations,
    few RoIs, no checkpoint saving. Model, init and data layout untouched.
    """
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    cfg.randomness = dict(seed=0)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    for node in _walk(cfg._cfg_dict):
        if node.get('type') == 'RandomChoiceResize':
            node['scales'] = [(128, 96), (128, 112)]
        elif node.get('type') == 'Resize':
            node['scale'] = (128, 96)
    if 'max_iters' in cfg.train_cfg:
        cfg.train_cfg.update(max_iters=2, val_interval=2)
    else:
        cfg.train_cfg.update(max_epochs=1, val_interval=1)
    det = cfg.model.get('train_cfg')
    if det is not None:
        # res5 runs per RoI in C4: few RoIs keep an iteration to seconds
        det.rpn_proposal.update(nms_pre=100, max_per_img=16)
        det.rcnn.sampler.num = 8
        cfg.model.test_cfg.rpn.update(nms_pre=100, max_per_img=8)
        # an untrained detector scores below 0.05: keep its boxes so that
        # the metrics have detections to rank
        cfg.model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)
    for hook in cfg.get('custom_hooks', []):
        if hook['type'].endswith('PreciseBNHook'):
            hook['num_iters'] = 2  # of detectron2's 200
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg


def bn_statistics(model) -> dict:
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if k.endswith(('running_mean', 'running_var'))
    }


class Probe(Hook):
    """Keeps the weights training starts from, the BN statistics after the
    last training step (before any other hook of that step) and at the
    evaluation, and the evaluation."""

    def before_train(self, runner) -> None:
        self.start = {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self.trained_bn = bn_statistics(runner.model)

    def before_val_epoch(self, runner) -> None:
        self.evaluated_bn = bn_statistics(runner.model)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics)


def train(cfg: Config) -> tuple:
    """Train; returns the runner and the probe, with ``probe.end`` (the
    final weights) and ``probe.bn_kept``: the BN statistics that training
    left and the evaluation used unchanged."""
    runner = Runner.from_cfg(cfg)
    probe = Probe()
    runner.register_hook(probe, priority='HIGHEST')
    runner.train()
    probe.end = {k: v.detach() for k, v in runner.model.state_dict().items()}
    assert probe.trained_bn.keys() == probe.evaluated_bn.keys()
    probe.bn_kept = [
        k for k, v in probe.trained_bn.items()
        if torch.equal(v, probe.evaluated_bn[k])
    ]
    return runner, probe


def backbone_tensors(state: dict) -> dict:
    return {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }


def assert_c4_starts_from(start: dict, ckpt: dict) -> None:
    """res1-4 in the backbone and res5 in the RoI head equal the checkpoint's
    backbone; the extra BN after res5 starts fresh."""
    source = backbone_tensors(ckpt)
    model_backbone = backbone_tensors(start)
    assert model_backbone and not any(
        k.startswith('layer4.') for k in model_backbone)
    for k, v in model_backbone.items():
        assert torch.equal(v, source[k]), k
    head = {
        k[len('roi_head.shared_head.'):]: v
        for k, v in start.items() if k.startswith('roi_head.shared_head.')
    }
    res5 = {k: v for k, v in head.items() if k.startswith('layer4.')}
    assert len(res5) == len([k for k in source if k.startswith('layer4.')])
    for k, v in res5.items():
        assert torch.equal(v, source[k]), k
    # every checkpoint backbone tensor has arrived somewhere
    assert set(model_backbone) | set(res5) == set(source)
    assert torch.equal(head['norm.weight'], torch.ones(2048))
    assert torch.equal(head['norm.bias'], torch.zeros(2048))


def assert_differs_from_random_init(cfg: Config, ckpt: dict) -> None:
    """Without the SimSiam init the same detector holds other weights."""
    init_default_scope('mmdet')
    from mmdet.registry import MODELS as DET
    model_cfg = cfg.model.copy()
    model_cfg.init_cfg = None
    fresh = DET.build(model_cfg)
    fresh.init_weights()
    weights = {
        k: v
        for k, v in fresh.state_dict().items()
        if k.endswith('conv1.weight') or k.endswith('conv2.weight')
    }
    assert weights
    for k, v in weights.items():
        src = 'backbone.' + k.split('shared_head.')[-1] \
            if 'shared_head' in k else k
        assert not torch.equal(v, ckpt[src]), k


def assert_trained_everything(start: dict, end: dict, prefix: str) -> None:
    """Nothing frozen: weights and BN statistics of the backbone moved."""
    for k in ('conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight',
              'layer1.0.bn1.running_var'):
        key = prefix + k
        assert not torch.equal(start[key], end[key]), key


# ------------------------------------------------------------------ tests
@pytest.mark.slow
def test_voc_c4_trains_from_simsiam_and_reports_ap(tmp_path, monkeypatch,
                                                   r50_ckpt):
    path, ckpt = r50_ckpt
    write_voc(str(tmp_path / 'data'))
    monkeypatch.chdir(tmp_path)  # the configs' data/VOCdevkit/
    monkeypatch.setenv('SIMSIAM_CKPT', path)  # the one place named
    cfg = Config.fromfile(VOC_C4)
    assert cfg.model.init_cfg.checkpoint == path
    runner, probe = train(shrink(cfg, str(tmp_path / 'work')))
    start, end, metrics = probe.start, probe.end, probe.metrics
    # precise BN recomputed every BN statistic before the evaluation
    assert probe.trained_bn and probe.bn_kept == []

    # SyncBN became BN on one process; BN trains (norm_eval False)
    model = runner.model
    bns = [
        m for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert bns and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in bns)
    assert model.backbone.frozen_stages == -1
    assert type(model.roi_head.shared_head).__name__ == 'ResLayerExtraNorm'
    assert_c4_starts_from(start, ckpt)
    assert_trained_everything(start, end, 'backbone.')
    res5_bn = 'roi_head.shared_head.layer4.0.bn1.running_mean'
    assert not torch.equal(start[res5_bn], end[res5_bn])
    assert_differs_from_random_init(cfg, ckpt)

    # AP50, AP75 and AP = mean AP over IoU 0.5:0.95
    thrs = [f'pascal_voc/AP{t}' for t in range(50, 100, 5)]
    assert set(thrs) <= set(metrics), metrics
    for k in thrs + ['pascal_voc/mAP']:
        assert 0.0 <= metrics[k] <= 1.0, (k, metrics[k])
    assert metrics['pascal_voc/mAP'] == pytest.approx(
        np.mean([metrics[k] for k in thrs]), abs=1e-3)


@pytest.mark.slow
def test_coco_c4_trains_from_simsiam_and_reports_box_and_mask_ap(
        tmp_path, monkeypatch, r50_ckpt):
    path, ckpt = r50_ckpt
    write_coco(str(tmp_path / 'data'))
    monkeypatch.chdir(tmp_path)  # the configs' data/coco/
    cfg = Config.fromfile(COCO_C4)
    # what tools/train.py --cfg-options model.init_cfg.checkpoint=PATH does
    cfg.merge_from_dict({'model.init_cfg.checkpoint': path})
    runner, probe = train(shrink(cfg, str(tmp_path / 'work')))
    start, end, metrics = probe.start, probe.end, probe.metrics
    # precise BN recomputed every BN statistic before the evaluation
    assert probe.trained_bn and probe.bn_kept == []

    assert_c4_starts_from(start, ckpt)
    assert_trained_everything(start, end, 'backbone.')
    for task in ('bbox', 'segm'):
        for k in ('mAP', 'mAP_50', 'mAP_75'):
            value = metrics[f'coco/{task}_{k}']
            assert 0.0 <= value <= 1.0, (task, k, value)


@pytest.mark.slow
def test_finetune_config_trains_whole_backbone(tmp_path, monkeypatch,
                                               r18_ckpt):
    path, ckpt = r18_ckpt
    for split, per_class in (('train', 2), ('val', 1)):
        for c in range(10):
            folder = tmp_path / 'data' / 'digits' / split / str(c)
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = np.full((32, 32, 3), 20 * c, np.uint8)
                cv2.putText(img, str(c), (8, 26), cv2.FONT_HERSHEY_SIMPLEX,
                            0.9, (255, 255, 255), 2)
                cv2.imwrite(str(folder / f'{i}.png'), img)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('SIMSIAM_CKPT', path)
    cfg = shrink(Config.fromfile(FINETUNE), str(tmp_path / 'work'))
    cfg.train_dataloader.batch_size = 8
    runner, probe = train(cfg)
    start, metrics = probe.start, probe.metrics
    # no precise BN here: the evaluation used the statistics training left
    assert probe.bn_kept == list(probe.trained_bn)

    source = backbone_tensors(ckpt)
    started = backbone_tensors(start)
    assert set(started) == set(source)
    for k, v in started.items():
        assert torch.equal(v, source[k]), k
    # zero_init_residual did not run after loading
    assert started['layer1.0.bn2.weight'].abs().sum() > 0
    # every backbone parameter trains
    for name, param in runner.model.backbone.named_parameters():
        assert param.requires_grad, name
        assert not torch.equal(start['backbone.' + name], param), name
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def _instances(dataset, img_id: str) -> list:
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    return dataset.get_data_info(ids.index(img_id))['instances']


def test_voc_difficult_objects_are_training_targets(tmp_path, monkeypatch):
    """detectron2's VOC loader trains on difficult objects; mmdet's
    VOCDataset ignores them. The VOC07 test set still ignores them."""
    write_voc(str(tmp_path / 'data'))
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(VOC_C4)
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        train_set = DATASETS.build(cfg.train_dataloader.dataset)
        mmdet_set = DATASETS.build(
            dict(cfg.train_dataloader.dataset.datasets[0], type='VOCDataset'))
        test_set = DATASETS.build(cfg.val_dataloader.dataset)
    flags = [i['ignore_flag'] for i in _instances(train_set, '000003')]
    assert flags == [0, 0]
    assert [i['ignore_flag']
            for i in _instances(mmdet_set, '000003')] == [0, 1]
    assert [i['ignore_flag'] for i in _instances(test_set, '000007')] == [0, 1]
    # through the training pipeline: both boxes are targets
    index = [
        train_set.get_data_info(i)['img_id'] for i in range(len(train_set))
    ].index('000003')
    sample = train_set[index]['data_samples']
    assert len(sample.gt_instances) == 2
    assert len(sample.ignored_instances) == 0


# ---------------------------------------------- the initializer's refusals
def _detector(checkpoint: str):
    cfg = Config.fromfile(VOC_C4)
    cfg.model.init_cfg.checkpoint = checkpoint
    init_default_scope('mmdet')
    from mmdet.registry import MODELS as DET
    return revert_sync_batchnorm(DET.build(cfg.model))


def test_unset_and_missing_checkpoint_raise(tmp_path, monkeypatch):
    monkeypatch.delenv('SIMSIAM_CKPT', raising=False)
    cfg = Config.fromfile(VOC_C4)
    assert cfg.model.init_cfg.checkpoint == UNSET
    with pytest.raises(ValueError, match='SIMSIAM_CKPT'):
        _detector(UNSET).init_weights()
    typo = str(tmp_path / 'simsiam_r50_epoch_20O.pth')
    with pytest.raises(FileNotFoundError, match='20O'):
        _detector(typo).init_weights()


def test_checkpoint_without_res5_is_refused_not_random(tmp_path, r50_ckpt):
    """mmengine's Pretrained would warn and leave res5 random."""
    _, ckpt = r50_ckpt
    path = str(tmp_path / 'no_res5.pth')
    torch.save(
        dict(state_dict={
            k: v
            for k, v in ckpt.items() if not k.startswith('backbone.layer4')
        }), path)
    model = _detector(path)
    before = model.backbone.conv1.weight.detach().clone()
    with pytest.raises(KeyError, match='roi_head.shared_head'):
        model.init_weights()
    # all or nothing: the backbone, which did fit, was not loaded either
    assert torch.equal(model.backbone.conv1.weight, before)


def test_checkpoint_tensors_no_module_takes_are_refused(r50_ckpt):
    """res5 of the checkpoint has no place in a C4 backbone alone."""
    path, ckpt = r50_ckpt
    model = _detector(path)
    before = model.backbone.conv1.weight.detach().clone()
    with pytest.raises(
            KeyError, match=r'fit none of backbone .*backbone\.layer4\.'):
        SimSiamPretrained(path, modules=['backbone'])(model)
    assert torch.equal(model.backbone.conv1.weight, before)
    SimSiamPretrained(
        path, modules=['backbone'], allow_unused=['layer4.'])(
            model)
    assert torch.equal(model.backbone.conv1.weight,
                       ckpt['backbone.conv1.weight'])


def test_wrong_prefix_and_wrong_architecture_are_refused(tmp_path, r18_ckpt):
    path, ckpt = r18_ckpt
    cfg = Config.fromfile(FINETUNE)
    init_default_scope('simsiam_mm')
    from mmpretrain.registry import MODELS as PRETRAIN

    model = PRETRAIN.build(cfg.model)
    with pytest.raises(KeyError, match='no tensor named encoder'):
        SimSiamPretrained(path, prefix='encoder.')(model)
    with pytest.raises(KeyError, match='no sub-module'):
        SimSiamPretrained(path, modules=['backbone', 'neck.fc'])(model)
    # a CIFAR ResNet-18 checkpoint into the ResNet-50 C4 detector
    with pytest.raises(KeyError, match='another shape|missing'):
        _detector(path).init_weights()


@pytest.mark.parametrize('name', [
    'faster-rcnn_r50-fpn_ms-1x_voc0712.py', 'mask-rcnn_r50-fpn_ms-1x_coco.py'
])
def test_fpn_configs_load_the_whole_backbone(name, tmp_path, monkeypatch,
                                             r50_ckpt):
    path, ckpt = r50_ckpt
    monkeypatch.setenv('SIMSIAM_CKPT', path)
    cfg = Config.fromfile(osp.join(MMDET, name))
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS
    from mmdet.registry import MODELS as DET

    # the data layout and pipelines, at full scale (short side 480-800)
    (write_voc if 'voc' in name else write_coco)(str(tmp_path / 'data'))
    monkeypatch.chdir(tmp_path)
    for key in ('train_dataloader', 'val_dataloader'):
        item = DATASETS.build(cfg[key].dataset)[0]
        short = min(item['data_samples'].img_shape)
        assert 480 <= short <= 800 and len(item['data_samples'].gt_instances)
    model = revert_sync_batchnorm(DET.build(cfg.model))
    model.init_weights()
    source = backbone_tensors(ckpt)
    loaded = backbone_tensors(model.state_dict())
    assert set(loaded) == set(source)  # all four stages, nothing left out
    for k, v in loaded.items():
        assert torch.equal(v, source[k]), k
    assert model.backbone.frozen_stages == -1
    assert not model.backbone.norm_eval
