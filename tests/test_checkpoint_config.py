"""Config text inside a checkpoint is data: ``Runner.resume`` and the
inferencers of mmdet and mmpretrain never execute it."""
import os.path as osp
import re
from pathlib import Path

import mmdet
import mmpretrain
import pytest
import torch
from _checkpoint_payloads import (REPO, code_payload, config_payload,
                                  make_runner, marker_in, poisoned_copy)
from mmengine.config import Config

from simsiam_mm import checkpoint as ck
from simsiam_mm.checkpoint import config_text

SHIPPED = sorted(
    p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
MMDET_CONFIG = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'configs', 'retinanet',
    'retinanet_r18_fpn_1x_coco.py')
MMPRETRAIN_CONFIG = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'resnet',
    'resnet18_8xb32_in1k.py')


@pytest.fixture(scope='module')
def benign(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('benign')
    make_runner(work_dir, 1).train()
    return work_dir / 'epoch_1.pth'


FAST = ('simsiam_r18-cifar_1xb64_digits-demo', 'mask-rcnn_r50-c4_ms-1x_coco')


@pytest.mark.parametrize(
    'path', [
        pytest.param(p, marks=() if p.stem in FAST else pytest.mark.slow)
        for p in SHIPPED + [Path(MMDET_CONFIG)]
    ],
    ids=lambda p: p.stem)
def test_pretty_text_reads_as_data_like_mmengine_runs_it(path):
    """What mmengine writes into checkpoints (``Config.pretty_text``) is
    read as data into the same config that executing it gives."""
    text = Config.fromfile(str(path)).pretty_text
    executed = config_text._original_fromstring(text, '.py').to_dict()
    assert Config(config_text.parse_data(text)).to_dict() == executed


@pytest.mark.parametrize('text, culprit', [
    ("a = __import__('os')", "line 1: `__import__('os')` is not a literal"),
    ('a = 1\nimport os', 'line 2: `import os` is not an assignment'),
    ('a = dict(b=print)', 'line 1: `print` is not a literal'),
    ('a = [x for x in ()]', 'is not a literal'),
    ('a = (lambda: 0)', 'is not a literal'),
    ('a.b = 1', 'is not an assignment NAME = value'),
    ('a = {**b}', 'is not a literal'),
    ('a = f"{b}"', 'is not a literal'),
    ('a = 1 +', 'not valid Python'),
])
def test_anything_but_literals_is_not_data(text, culprit):
    with pytest.raises(config_text.NotPlainData, match=re.escape(culprit)):
        config_text.parse_data(text)


def test_literals_are_data():
    text = ('"""doc"""\na = b = dict(x=-1, y=(1.5, None), z={"k": [True]})\n'
            "c = {1, 2}\n_base_ = ['/nowhere.py']\n")
    assert config_text.parse_data(text) == dict(
        a=dict(x=-1, y=(1.5, None), z=dict(k=[True])),
        b=dict(x=-1, y=(1.5, None), z=dict(k=[True])),
        c={1, 2},
        _base_=['/nowhere.py'])


def _with_text(benign, target, key, text):
    checkpoint = ck.safe_load(str(benign))
    checkpoint['meta'][key] = text
    torch.save(checkpoint, target)
    return ck.safe_load(
        str(target))['meta'][key]  # now known as checkpoint text


def test_base_files_and_custom_imports_of_checkpoint_text_are_not_run(
        benign, tmp_path, monkeypatch):
    marker = marker_in(tmp_path)
    evil = tmp_path / 'evil_module.py'
    evil.write_text(code_payload(marker) + '\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    for text in (f'_base_ = [{str(evil)!r}]\n',
                 "custom_imports = dict(imports=['evil_module'])\n"):
        loaded = _with_text(benign, tmp_path / 'c.pth', 'cfg', text)
        cfg = Config.fromstring(loaded, '.py')
        assert not marker.exists()
        assert cfg.to_dict() == config_text.parse_data(text)
    # mmengine itself runs both
    config_text._original_fromstring(f'_base_ = [{str(evil)!r}]\n', '.py')
    assert marker.exists()


def test_yaml_python_tags_in_checkpoint_text_are_not_run(benign, tmp_path):
    marker = marker_in(tmp_path)
    text = f'a: !!python/object/apply:os.system ["touch {marker}"]\n'
    loaded = _with_text(benign, tmp_path / 'y.pth', 'cfg', text)
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        Config.fromstring(loaded, '.yaml')
    assert str(tmp_path / 'y.pth') in str(err.value)
    assert not marker.exists()
    config_text._original_fromstring(text, '.yaml')  # mmengine's YAML: runs
    assert marker.exists()


def _log_text(work_dir):
    logs = sorted(Path(work_dir).rglob('*.log'))
    return ''.join(p.read_text() for p in logs)


def test_resume_ignores_and_logs_a_config_payload(benign, tmp_path):
    marker = marker_in(tmp_path)
    bad = poisoned_copy(benign, tmp_path / 'bad.pth', marker, 'config')
    runner = make_runner(tmp_path / 'work', 2, load_from=str(bad), resume=True)
    runner.load_or_resume()
    assert not marker.exists()
    assert runner.epoch == 1 and runner.iter == 2  # resumed
    log = _log_text(tmp_path / 'work')
    assert f"Ignored ['meta']['config'] of checkpoint {bad}" in log
    assert '__import__' in log and 'Nothing of it was run' in log
    runner.train()
    assert runner.epoch == 2 and not marker.exists()


def test_resume_does_not_carry_a_config_payload_on(benign, tmp_path):
    """The message hub's ``cfg`` comes back with a resume and would go
    into the resumed run's checkpoints."""
    marker = marker_in(tmp_path)
    bad = poisoned_copy(benign, tmp_path / 'bad.pth', marker, 'cfg')
    runner = make_runner(tmp_path / 'work', 2, load_from=str(bad), resume=True)
    runner.train()
    assert runner.epoch == 2 and not marker.exists()
    log = _log_text(tmp_path / 'work')
    assert "Ignored ['message_hub']['runtime_info']['cfg'] of checkpoint " \
        f'{bad}' in log
    written = ck.safe_load(str(tmp_path / 'work' / 'epoch_2.pth'))
    assert written['message_hub']['runtime_info']['cfg'] == \
        runner.cfg.pretty_text
    assert written['meta']['cfg'] == runner.cfg.pretty_text


def test_resume_still_reads_a_plain_data_config(benign, tmp_path):
    """``gpu_ids`` of the embedded config is still checked, as data."""
    target = tmp_path / 'gpus.pth'
    _with_text(benign, target, 'config', 'gpu_ids = [0, 1, 2]\n')
    runner = make_runner(tmp_path / 'w', 2, load_from=str(target), resume=True)
    with pytest.raises(RuntimeError, match='Number of GPUs used'):
        runner.load_or_resume()


def _detection_checkpoint(path, cfg_text):
    """A checkpoint as mmengine writes it for a detector: its state_dict,
    and its config text in meta and in the message hub."""
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(MMDET_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    torch.save(
        dict(
            meta=dict(
                cfg=cfg_text or cfg.pretty_text,
                dataset_meta=dict(classes=('a', 'b'))),
            message_hub=dict(
                runtime_info=dict(cfg=cfg_text or cfg.pretty_text)),
            state_dict=model.state_dict()), path)
    return model


def test_det_inferencer_refuses_a_config_payload(tmp_path):
    from mmdet.apis import DetInferencer
    marker = marker_in(tmp_path)
    path = tmp_path / 'det.pth'
    _detection_checkpoint(path, config_payload(marker))
    with pytest.raises(ck.UnsafeCheckpointError) as err:
        DetInferencer(model=None, weights=str(path), device='cpu')
    message = str(err.value)
    assert str(path) in message and "['cfg']" in message
    assert "`__import__('os').system" in message
    assert not marker.exists()


def test_det_inferencer_builds_from_a_benign_checkpoint(tmp_path):
    from mmdet.apis import DetInferencer
    path = tmp_path / 'det.pth'
    model = _detection_checkpoint(path, None)
    inferencer = DetInferencer(model=None, weights=str(path), device='cpu')
    assert type(inferencer.model) is type(model)
    for key, value in model.state_dict().items():
        assert torch.equal(inferencer.model.state_dict()[key], value), key
    assert inferencer.model.dataset_meta['classes'] == ('a', 'b')


def _classifier_checkpoint(path, extra=None):
    from mmpretrain.apis import get_model
    model = get_model(MMPRETRAIN_CONFIG)
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(extra or {})), path)
    return model


def test_mmpretrain_apis_refuse_a_pickle_payload(tmp_path):
    from _checkpoint_payloads import SystemPayload
    from mmpretrain.apis import ImageClassificationInferencer, get_model
    marker = marker_in(tmp_path)
    path = tmp_path / 'cls.pth'
    _classifier_checkpoint(path, dict(x=SystemPayload(marker)))
    for load in (lambda: get_model(MMPRETRAIN_CONFIG, pretrained=str(path)),
                 lambda: ImageClassificationInferencer(
                     MMPRETRAIN_CONFIG, pretrained=str(path), device='cpu')):
        with pytest.raises(ck.UnsafeCheckpointError) as err:
            load()
        assert str(path) in str(err.value)
        assert 'posix.system' in str(err.value)
        assert not marker.exists()


def test_mmpretrain_apis_load_a_benign_checkpoint(tmp_path):
    from mmpretrain.apis import ImageClassificationInferencer
    path = tmp_path / 'cls.pth'
    model = _classifier_checkpoint(path)
    inferencer = ImageClassificationInferencer(
        MMPRETRAIN_CONFIG, pretrained=str(path), device='cpu')
    for key, value in model.state_dict().items():
        assert torch.equal(inferencer.model.state_dict()[key], value), key
