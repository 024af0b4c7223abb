"""Spies for the end-to-end training tests (test_resume, test_distributed,
test_atomic_checkpoints).

Training subprocesses import this module through the test configs'
``custom_imports`` (``PYTHONPATH`` holds ``tests/``):

* :class:`RecordHook` writes ``losses_rank<R>.txt`` (``iter loss`` lines,
  full precision) and, after training, ``params_rank<R>.pt``;
* every checkpoint write through mmengine's ``LocalBackend.put`` is logged
  as ``<rank> <file name>`` to ``$SPY_WRITES``; with
  ``SPY_KILL_DURING=<name>@<n>`` the n-th write to ``<name>`` is cut in
  half and the process killed with SIGKILL (a crash in the middle of a
  save); with ``SPY_FAIL_WRITE=<ERRNO>@<name>@<n>`` it fails as a full
  disk does (half the bytes written, then ``OSError(ERRNO)``), or, for
  other errnos, before creating the file;
* :class:`FaultHook`, after iteration ``k`` (``SPY_READONLY_AFTER=k``),
  makes the work_dir read-only; with ``SPY_FSIZE_AFTER=k:checkpoint`` or
  ``k:scalars`` it lowers this process's file size limit (RLIMIT_FSIZE,
  enforced by the kernel) below the size of the newest checkpoint, or to
  the current size of ``vis_data/scalars.json``, so that the next write of
  that file fails with EFBIG.
"""
import errno
import glob
import os
import os.path as osp
import resource
import signal

import torch
from mmengine.dist import get_rank
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook

_COUNTS = {}
_original_put = LocalBackend.put
_SPACE = ('ENOSPC', 'EDQUOT', 'EFBIG')


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
    fail = os.environ.get('SPY_FAIL_WRITE', '').split('@')
    if len(fail) == 3 and name == fail[1] and _COUNTS[name] == int(fail[2]):
        code = getattr(errno, fail[0])
        if fail[0] in _SPACE:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
        raise OSError(code, os.strerror(code), str(filepath))
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


class FaultHook(Hook):
    """Makes the next write of a file fail for real (see module doc), after
    the checkpoint hook of iteration ``k``."""

    priority = 'LOWEST'

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        done = runner.iter + 1
        if os.environ.get('SPY_READONLY_AFTER') == str(done):
            os.chmod(runner.work_dir, 0o555)
        at, _, what = os.environ.get('SPY_FSIZE_AFTER', '').partition(':')
        if at != str(done):
            return
        if what == 'checkpoint':
            with open(osp.join(runner.work_dir, 'last_checkpoint')) as f:
                limit = osp.getsize(f.read().strip()) // 2
        else:
            scalars = glob.glob(
                osp.join(runner.work_dir, '*', 'vis_data', 'scalars.json'))
            limit = osp.getsize(scalars[0])
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
