"""Spies for the end-to-end training tests (tests/test_train.py).

Training subprocesses import this module through the test configs'
``custom_imports`` (``PYTHONPATH`` holds ``tests/``):

* :class:`RecordHook` writes ``losses_rank<R>.txt`` (``iter loss`` lines,
  full precision) and, after training, ``params_rank<R>.pt``;
* every checkpoint write through mmengine's ``LocalBackend.put`` is logged
  as ``<rank> <file name>`` to ``$SPY_WRITES``; with
  ``SPY_KILL_DURING=<name>@<n>`` the n-th write to ``<name>`` is cut in
  half and the process killed with SIGKILL (a crash in the middle of a
  save).
"""
import os
import os.path as osp
import signal

import torch
from mmengine.dist import get_rank
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook

_COUNTS = {}
_original_put = LocalBackend.put


def _spy_put(self, obj, filepath):
    name = osp.basename(str(filepath))
    log = os.environ.get('SPY_WRITES')
    if log:
        with open(log, 'a') as f:
            f.write(f'{os.environ.get("RANK", "0")} {name}\n')
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    target, _, nth = os.environ.get('SPY_KILL_DURING', '').partition('@')
    if name == target and _COUNTS[name] == int(nth):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return _original_put(self, obj, filepath)


LocalBackend.put = _spy_put


class RecordHook(Hook):
    """Per-iteration losses and final parameters of each rank."""

    priority = 'LOWEST'

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        path = osp.join(runner.work_dir, f'losses_rank{get_rank()}.txt')
        with open(path, 'a') as f:
            f.write(f'{runner.iter + 1} {outputs["loss"].item()!r}\n')

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state,
                   osp.join(runner.work_dir, f'params_rank{get_rank()}.pt'))
