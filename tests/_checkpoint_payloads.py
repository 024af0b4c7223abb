"""Malicious and benign checkpoints for the tests/test_checkpoint*.py files.

Every payload, if it ran, would create a marker file; the tests assert it
never appears. ``test_checkpoint.py::test_the_payloads_are_live`` shows
that each one does create its marker when loaded without protection.
"""
import functools
import os
import os.path as osp
import subprocess
import threading
import uuid
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from _train_utils import write_images
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'


class SystemPayload:
    """Unpickles as ``os.system('touch MARKER')`` (pickled as posix.system).
    """

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class SubprocessPayload:
    """Unpickles as ``subprocess.call(['touch', MARKER])``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.call, (['touch', self.marker], ))


class EvalPayload:
    """Unpickles as ``eval("__import__('os').system('touch MARKER')")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (code_payload(self.marker), ))


def code_payload(marker) -> str:
    return f"__import__('os').system('touch {marker}')"


def config_payload(marker) -> str:
    """Config text that runs a command when mmengine executes it."""
    return f'gpu_ids = [{code_payload(marker)}]\n'


PICKLE_PAYLOADS = {
    'os.system': SystemPayload,
    'subprocess.call': SubprocessPayload,
    'eval': EvalPayload,
}

TINY_CONFIG = '''
_base_ = [{demo!r}]
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=64, hid_channels=16, out_channels=16),
    head=dict(in_channels=16, hid_channels=8, out_channels=16))
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root={data!r},
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=[1, 1],
                 transforms=[[], [dict(type='RandomFlip', prob=1.0)]]),
            dict(type='PackInputs'),
        ]))
train_cfg = dict(max_epochs={epochs})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=5, latest_interval=None))
custom_hooks = [dict(type='FixedLRHook')]
randomness = dict(seed=0)
'''


def write_tiny_config(folder: Path, epochs: int = 1, **extra) -> str:
    """A SimSiam config (the demo's, with a tiny ResNet on 8 images) that
    trains an epoch in seconds; ``extra`` keys are appended."""
    data = write_images(folder / 'data')
    text = TINY_CONFIG.format(demo=str(DEMO), data=data, epochs=epochs)
    text += ''.join(f'{k} = {v!r}\n' for k, v in extra.items())
    path = folder / f'tiny_{uuid.uuid4().hex[:6]}.py'
    path.write_text(text)
    return str(path)


def train_tiny(folder: Path, epochs: int = 1) -> Path:
    """Train the tiny config in this process; returns its work_dir (with
    ``epoch_1.pth`` ..., written by mmengine's CheckpointHook)."""
    from simsiam_mm.engine import runtime
    config = write_tiny_config(folder, epochs)
    cfg = runtime.load_config(config)
    work_dir = folder / 'work'
    runtime.apply_train_args(cfg, config, work_dir=str(work_dir))
    cfg.experiment_name = f'ckpt_{uuid.uuid4().hex[:8]}'
    runtime.run(cfg)
    return work_dir


def poisoned_copy(benign: Path, target: Path, marker: Path, kind: str) -> Path:
    """``benign`` with one payload added; ``kind`` is a key of
    :data:`PICKLE_PAYLOADS`, or ``config`` (``meta['config']``, read by
    ``Runner.resume``), ``cfg`` (``meta['cfg']`` and the message hub's
    ``runtime_info['cfg']``, read by the inferencers)."""
    from simsiam_mm.checkpoint import safe_load
    checkpoint = safe_load(str(benign))
    if kind in PICKLE_PAYLOADS:
        checkpoint['meta']['payload'] = PICKLE_PAYLOADS[kind](marker)
    elif kind == 'config':
        checkpoint['meta']['config'] = config_payload(marker)
    elif kind == 'cfg':
        checkpoint['meta']['cfg'] = config_payload(marker)
        checkpoint['message_hub']['runtime_info']['cfg'] = config_payload(
            marker)
    else:
        raise KeyError(kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, target)
    return target


class Tiny(BaseModel):
    """A one-layer model for Runner-level tests (``backbone.*`` keys)."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        return dict(loss=self.backbone(x).pow(2).mean())


class TinyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.arange(3.) + i)


def make_runner(work_dir, max_epochs=1, model=None, **kwargs):
    """mmengine's plain ``Runner`` (not ours) on :class:`Tiny`."""
    from mmengine.runner import Runner
    return Runner(
        model=model or Tiny(),
        work_dir=str(work_dir),
        experiment_name=f'tiny_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=TinyData(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=4)],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='simsiam_mm',
        **kwargs)


class _QuietHandler(SimpleHTTPRequestHandler):

    def log_message(self, format, *args):
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (ephemeral port) while in the block;
    yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_same(loaded, reference) -> None:
    """Two loaded checkpoints hold equal tensors, arrays and values."""
    if isinstance(reference, dict):
        assert isinstance(loaded, dict) and loaded.keys() == reference.keys()
        for key in reference:
            assert_same(loaded[key], reference[key])
    elif isinstance(reference, (list, tuple)):
        assert type(loaded) is type(reference)
        assert len(loaded) == len(reference)
        for a, b in zip(loaded, reference):
            assert_same(a, b)
    elif isinstance(reference, torch.Tensor):
        assert torch.equal(loaded, reference)
    elif isinstance(reference, np.ndarray):
        assert type(loaded) is np.ndarray
        np.testing.assert_array_equal(loaded, reference)
        assert loaded.dtype == reference.dtype
    elif hasattr(reference, '__dict__') and not callable(reference):
        assert type(loaded) is type(reference)
        assert_same(vars(loaded), vars(reference))
    else:
        assert type(loaded) is type(reference) and loaded == reference


def marker_in(folder: Path) -> Path:
    """A marker path that does not exist yet."""
    path = folder / f'MARKER_{uuid.uuid4().hex[:6]}'
    assert not osp.exists(path)
    return path
