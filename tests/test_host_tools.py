"""mmpretrain's and mmdet's own tools/train.py with this project's types.

The pip packages ship their tools inside the package (``.mim/tools``); each
test runs one in a fresh interpreter, as a user would:

* a user config on top of mmpretrain's own SimSiam config, with
  ``custom_imports=['simsiam_mm']`` and ``type='simsiam_mm.SimSiam'``,
  under ``torchrun`` with 2 CPU processes: the inherited ``collate_fn``
  carries ``_scope_='mmpretrain'`` (the ``TypeError`` that mmengine raises
  for it without simsiam_mm is checked too), and the config's
  ``runner_type`` (PortableRunner) is what gives CPU processes a gloo group;
* our VOC C4 transfer config, shrunk, under mmdet's tools/train.py: the
  SimSiam checkpoint loaded, precise BN run, VOC AP reported.
"""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from test_transfer import VOC_C4, _simsiam_checkpoint, write_voc

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow


def host_tool(package: str) -> str:
    """The tools/train.py that the pip package ``package`` ships."""
    spec = importlib.util.find_spec(package)
    tool = osp.join(spec.submodule_search_locations[0], '.mim', 'tools',
                    'train.py')
    assert osp.isfile(tool), f'{package} ships no {tool}'
    return tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(args, cwd, timeout=600, **env) -> subprocess.CompletedProcess:
    environ = dict(os.environ, OMP_NUM_THREADS='1', **env)
    environ['PYTHONPATH'] = os.pathsep.join(
        [ROOT, environ.get('PYTHONPATH', '')])
    return subprocess.run(
        args,
        cwd=str(cwd),
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout)


# ----------------------------------------------------------- mmpretrain
PRETRAIN_CFG = '''
_base_ = 'mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'
{imports}
model = dict(
    _delete_=True,
    type='{model}',
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='SyncBN')),
    neck=dict(
        type='{neck}', in_channels=512, hid_channels=64, out_channels=64,
        **{neck_args}),
    head=dict(type='{head}', **{head_args}))
view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root={data!r},
        data_prefix='train',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[view]),
            dict(type='PackInputs'),
        ]))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
'''
OURS = dict(
    imports="custom_imports = dict(imports=['simsiam_mm'], "
    'allow_failed_imports=False)\n'
    "runner_type = 'simsiam_mm.PortableRunner'",
    model='simsiam_mm.SimSiam',
    neck='simsiam_mm.SimSiamProjector',
    neck_args=dict(num_layers=2),
    head='simsiam_mm.SimSiamPredictor',
    head_args=dict(in_channels=64, hid_channels=16, out_channels=64))
# the same config without simsiam_mm: mmpretrain's own SimSiam
THEIRS = dict(
    imports='',
    model='SimSiam',
    neck='NonLinearNeck',
    neck_args=dict(num_layers=2, with_avg_pool=True),
    head='LatentPredictHead',
    head_args=dict(
        loss=dict(type='CosineSimilarityLoss'),
        predictor=dict(
            type='NonLinearNeck',
            in_channels=64,
            hid_channels=16,
            out_channels=64,
            with_avg_pool=False,
            with_last_bn=False,
            with_last_bias=True)))


def write_images(root: str, num: int = 8) -> str:
    rng = np.random.default_rng(0)
    folder = osp.join(root, 'train', 'x')
    os.makedirs(folder)
    for i in range(num):
        img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(folder, f'{i}.png'), img)
    return root


def test_mmpretrain_tool_trains_our_simsiam_on_two_cpu_processes(tmp_path):
    data = write_images(str(tmp_path / 'images'))
    config = tmp_path / 'ours.py'
    config.write_text(PRETRAIN_CFG.format(data=data, **OURS))
    cfg = Config.fromfile(str(config))
    # the inherited loader keeps mmpretrain's stamped collate_fn
    assert cfg.train_dataloader.collate_fn == dict(
        type='default_collate', _scope_='mmpretrain')
    work = tmp_path / 'work'
    proc = run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={free_port()}',
        host_tool('mmpretrain'),
        str(config), '--launcher', 'pytorch', '--work-dir',
        str(work)
    ], tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    # PortableRunner on CPU: gloo instead of nccl, SyncBN -> BN, 2 ranks
    assert 'replaced by gloo' in log
    assert 'every SyncBN layer is replaced by BN' in log
    assert 'Distributed training: True' in log
    # 8 images / (2 processes x 2) = 2 iterations of our SimSiam
    assert 'Epoch(train) [1][2/2]' in log
    assert (work / 'epoch_1.pth').is_file()


def test_mmpretrain_tool_fails_on_the_stamped_collate_without_us(tmp_path):
    """The host bug simsiam_mm.collate works around: mmpretrain's own
    SimSiam config, inherited, stops at the first batch."""
    data = write_images(str(tmp_path / 'images'))
    config = tmp_path / 'theirs.py'
    config.write_text(PRETRAIN_CFG.format(data=data, **THEIRS))
    proc = run([
        sys.executable,
        host_tool('mmpretrain'),
        str(config), '--work-dir',
        str(tmp_path / 'work')
    ], tmp_path)
    assert proc.returncode != 0
    assert ("default_collate() got an unexpected keyword argument '_scope_'"
            in proc.stderr), proc.stderr[-3000:]


# ---------------------------------------------------------------- mmdet
VOC_TINY = '''
_base_ = {voc!r}
small_train = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(128, 96), (128, 112)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
small_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(datasets=[
        dict(voc, pipeline=small_train)
        for voc in _base_.train_dataloader.dataset.datasets
    ]))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=small_test))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
model = dict(
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=100, max_per_img=16),
        rcnn=dict(sampler=dict(num=8))),
    test_cfg=dict(
        rpn=dict(nms_pre=100, max_per_img=8),
        rcnn=dict(score_thr=0.0, max_per_img=20)))
custom_hooks = [dict(type='simsiam_mm.PreciseBNHook', num_iters=2)]
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
'''


def test_mmdet_tool_trains_our_voc_c4_config(tmp_path):
    ckpt = str(tmp_path / 'simsiam_r50.pth')
    state = _simsiam_checkpoint('_base_/models/simsiam_r50.py', ckpt)
    resnet = sum(k.startswith('backbone.') for k in state)
    write_voc(str(tmp_path / 'data'))
    config = tmp_path / 'voc_tiny.py'
    config.write_text(VOC_TINY.format(voc=VOC_C4))
    work = tmp_path / 'work'
    proc = run([
        sys.executable,
        host_tool('mmdet'),
        str(config), '--work-dir',
        str(work)
    ],
               tmp_path,
               SIMSIAM_CKPT=ckpt)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    # every ResNet-50 tensor of the checkpoint into the backbone and res5
    assert f'SimSiamPretrained: {resnet} tensors from {ckpt}' in log
    assert 'precise BN: the statistics of' in log
    assert 'Iter(train) [2/2]' in log
    assert 'pascal_voc/mAP' in log
    assert (work / 'iter_2.pth').is_file()
