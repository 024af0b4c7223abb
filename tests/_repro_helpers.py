"""Spies for the reproducibility tests (tests/test_determinism.py).

Training processes import this module through the test configs'
``custom_imports`` (``PYTHONPATH`` holds ``tests/``).
"""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from simsiam_mm.registry import HOOKS


@HOOKS.register_module()
class RecordViewsHook(Hook):
    """Saves ``views_rank<R>.pt``: ``{(epoch, index): views}`` of every
    sample this rank trained on (the uint8 views the loader produced). The
    index is the one the sampler yielded (a bad file's, for the sample
    that replaced it)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.views = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        inputs = data_batch['inputs']  # num_views x (N x 3 x H x W)
        for i, sample in enumerate(data_batch['data_samples']):
            index = sample.sample_idx
            key = (runner.epoch, getattr(index, 'origin', int(index)))
            self.views[key] = torch.stack([view[i] for view in inputs])

    def after_train(self, runner):
        torch.save(self.views,
                   osp.join(runner.work_dir, f'views_rank{get_rank()}.pt'))
