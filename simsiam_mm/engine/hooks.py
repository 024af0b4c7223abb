"""Checkpoints that are never half-written, a clear stop when one cannot be
written, and a stop on a non-finite loss before anything saves NaN weights.
"""
import errno
import logging
import math
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.dist import (all_reduce, broadcast_object_list, is_distributed,
                           is_main_process)
from mmengine.hooks import Hook

from simsiam_mm.registry import HOOKS
from .mmengine_compat import CheckpointHookBase
from .resume import POINTER, RNG_KEY, capture_rng_states

#: errno values that mean "this folder cannot take the file", whichever
#: file of the run hits them first.
WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ('ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EACCES', 'EPERM')
    if hasattr(errno, name))


class WorkDirError(OSError):
    """A file of the run (checkpoint, pointer, log) could not be written.

    ``errno`` and ``filename`` are those of the underlying ``OSError``.
    """

    def __init__(self, message: str, cause: OSError) -> None:
        super().__init__(message)
        self.errno = cause.errno
        self.strerror = cause.strerror
        self.filename = cause.filename

    def __str__(self) -> str:
        return str(self.args[0])


def write_error_message(err: OSError, what: str,
                        last_checkpoint: Optional[str], folder: str) -> str:
    """What failed, why (with the errno name), and what is kept.

    Args:
        err (OSError): The error of the write.
        what (str): What was being written, e.g. ``'checkpoint PATH'``.
        last_checkpoint (str, optional): The last complete checkpoint.
        folder (str): The folder to free or make writable.
    """
    code = errno.errorcode.get(err.errno, 'no errno')
    reason = err.strerror or str(err) or type(err).__name__
    name = str(err.filename or '')
    where = f' ({name})' if name and name not in what else ''
    if last_checkpoint and osp.isfile(last_checkpoint):
        kept = (f'The last complete checkpoint, {last_checkpoint}, is '
                'unchanged; --resume auto continues from it.')
    else:
        kept = 'No complete checkpoint had been written yet.'
    return (f'Could not write {what}{where}: {reason} [{code}]. Training '
            f'stopped. {kept} Free disk space or make {folder} writable, '
            'then run the same command with --resume auto.')


def _fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (where folders can be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. directories cannot be opened on this platform
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: str) -> None:
    """Remove a temp file after a failed write, if it exists and can be
    (a crash's leftovers are removed by the next run's ``before_train``)."""
    try:
        os.remove(path)
    except OSError:
        pass


def commit(tmp: str, path: str) -> None:
    """Move the complete file ``tmp`` onto ``path`` durably: fsync ``tmp``,
    ``os.replace`` it, fsync the folder. ``path`` is either the old file or
    the new one, whenever the machine stops."""
    with open(tmp, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder
    (see :func:`commit`); on an error the temp file is removed and ``path``
    is unchanged."""
    folder = osp.dirname(osp.abspath(path))
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(folder)


def _on_any_rank(flag: bool) -> bool:
    if not is_distributed():
        return flag
    value = torch.tensor(float(flag))
    all_reduce(value, op='sum')
    return bool(value.item())


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHookBase):
    """mmengine's ``CheckpointHook`` with crash-safe writes, a clear stop on
    a failed write, and a rolling mid-epoch checkpoint.

    Same arguments as ``CheckpointHook``, plus ``latest_interval``.

    * Every checkpoint, and the ``last_checkpoint`` pointer, is written to a
      temporary file, fsynced and moved into place with ``os.replace``: a
      crash during a save leaves the previous checkpoint and a pointer to
      it, never a truncated file under the final name.
    * Outdated checkpoints (``max_keep_ckpts``, ``latest.pth``) are deleted
      only after the new one is in place (mmengine deletes first).
    * A write that fails (disk full, read-only or unwritable folder, quota,
      file size limit) stops training with a :class:`WorkDirError` naming
      the file and the reason; the temp file is removed, the previous
      checkpoint and the pointer to it stay, so ``--resume auto`` continues
      from there. All ranks stop together.
    * The random state of every rank goes into the checkpoint (message-hub
      key ``rng_states``) for :class:`ResumableEpochBasedTrainLoop`.
    * Only rank 0 writes; the other ranks take part in gathering the random
      state.

    Args:
        latest_interval (int, optional): With ``by_epoch=True``, also save
            ``latest.pth`` every this many iterations, overwritten in place,
            so that a crash loses at most this many iterations instead of an
            epoch. It is removed when the next epoch checkpoint is saved.
            Defaults to None (off).
    """

    LATEST = 'latest.pth'

    def __init__(self,
                 *args,
                 latest_interval: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if latest_interval is not None and latest_interval <= 0:
            raise ValueError('latest_interval must be a positive number of '
                             f'iterations or None, got {latest_interval}')
        self.latest_interval = latest_interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if (self.by_epoch and self.latest_interval
                and self.every_n_train_iters(runner, self.latest_interval)
                and not self.end_of_epoch(runner.train_dataloader, batch_idx)):
            runner.logger.info(
                f'Saving {self.LATEST} at {runner.iter + 1} iterations')
            meta = dict(epoch=runner.epoch, iter=runner.iter + 1)
            self._write(runner, self.LATEST, meta, by_epoch=False)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.is_local() and is_main_process() and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # left by a crash
                if name.startswith('.') and name.endswith('.tmp'):
                    os.remove(osp.join(self.out_dir, name))

    def save_step(self, runner, step: int, meta: dict) -> None:
        if not self.is_local():
            runner.logger.warning(
                'AtomicCheckpointHook writes atomically only to local '
                'folders; saving with mmengine\'s non-atomic writer.')
            self.save_step_with_mmengine(runner, step, meta)
            return
        outdated = self.keep(runner, step)
        self._write(runner, self.filename_tmpl.format(step), meta,
                    self.by_epoch)
        if not is_main_process():
            return
        if self.by_epoch:
            outdated.append(self.LATEST)  # superseded by the epoch checkpoint
        for name in outdated:
            path = osp.join(self.out_dir, name)
            if osp.isfile(path):
                os.remove(path)

    def _write(self, runner, filename: str, meta: dict,
               by_epoch: bool) -> None:
        """Save ``filename`` atomically (rank 0) and point to it."""
        states = capture_rng_states()  # collective: before rank 0 saves
        runner.message_hub.update_info(RNG_KEY,
                                       dict(iter=meta['iter'], states=states))
        final = osp.join(self.out_dir, filename)
        previous = runner.message_hub.get_info('last_ckpt')
        self.set_last(runner, final)  # saved in the checkpoint's hub
        cause: Optional[OSError] = None
        if is_main_process():
            try:
                self._save_and_point(runner, filename, final, meta, by_epoch)
            except OSError as err:
                cause = err
        if not _on_any_rank(cause is not None):
            return
        self.set_last(runner, previous)
        message = [None]
        if cause is not None:
            message[0] = write_error_message(cause, f'checkpoint {final}',
                                             previous, self.out_dir)
        if is_distributed():
            broadcast_object_list(message)  # rank 0's words on every rank
        runner.logger.log(logging.ERROR, message[0])
        raise WorkDirError(message[0], cause or OSError(errno.EIO, 'rank 0'))

    def _save_and_point(self, runner, filename: str, final: str, meta: dict,
                        by_epoch: bool) -> None:
        tmp_name = f'.{filename}.tmp'
        tmp = osp.join(self.out_dir, tmp_name)
        try:
            self.save_file(runner, tmp_name, meta, by_epoch)
            commit(tmp, final)
        except BaseException:
            _discard(tmp)
            raise
        write_atomically(
            osp.join(runner.work_dir, POINTER), final.encode('utf-8'))


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Stop training at the first non-finite loss, before anything saves it.

    Runs after the optimizer step of each iteration and before the logger
    and the checkpoint hook (``ABOVE_NORMAL``), so the NaN/inf weights of
    that iteration are never written and the last checkpoint stays the last
    good one. All ranks agree (one all-reduce of a flag), so a NaN on one
    GPU stops every process instead of leaving the others waiting.

    Args:
        keys (Sequence[str]): Outputs to check; every output whose name
            contains ``'loss'`` by default.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, keys: Optional[Sequence[str]] = None) -> None:
        self.keys = None if keys is None else list(keys)

    def _checked(self, outputs: dict) -> dict:
        if self.keys is not None:
            return {k: outputs[k] for k in self.keys if k in outputs}
        return {k: v for k, v in outputs.items() if 'loss' in k}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        values = {
            k: float(torch.as_tensor(v).detach().float().sum())
            for k, v in self._checked(outputs or {}).items()
        }
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        flag = torch.tensor(float(bool(bad)))
        if is_distributed():
            all_reduce(flag, op='sum')
        if flag.item() == 0:
            return
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                 f'batch {batch_idx + 1}/{len(runner.train_dataloader)})')
        found = ', '.join(f'{k}={values[k]}' for k in bad) or \
            'on another rank'
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'The last good checkpoint is {last}; it was not '
                'overwritten.' if last else 'No checkpoint had been saved.')
        message = (f'Non-finite loss at {where}: {found}. Training stopped. '
                   f'{kept} Lower the learning rate, check the data, or '
                   'resume with --resume auto after fixing the cause.')
        runner.logger.log(logging.ERROR, message)
        raise FloatingPointError(message)
