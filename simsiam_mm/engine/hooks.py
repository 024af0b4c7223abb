"""Checkpoints that are never half-written, and a run that stops loudly on a
non-finite loss instead of saving NaN weights.
"""
import logging
import math
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, is_distributed, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook

from simsiam_mm.registry import HOOKS
from .resume import POINTER, RNG_KEY, capture_rng_states


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. directories cannot be opened on this platform
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or
    the whole new one: temp file in the same folder, fsync, ``os.replace``.
    """
    folder = osp.dirname(osp.abspath(path))
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(folder)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes and a rolling
    mid-epoch checkpoint.

    Same arguments as ``CheckpointHook``, plus ``latest_interval``.

    * Every checkpoint, and the ``last_checkpoint`` pointer, is written to a
      temporary file and moved into place with ``os.replace``: a crash
      during a save leaves the previous checkpoint and a pointer to it,
      never a truncated file under the final name.
    * Outdated checkpoints (``max_keep_ckpts``) are deleted only after the
      new one is in place (mmengine deletes first).
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
        if self._local() and is_main_process() and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # left by a crash
                if name.startswith('.') and name.endswith('.tmp'):
                    os.remove(osp.join(self.out_dir, name))

    def _local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._local():
            runner.logger.warning(
                'AtomicCheckpointHook writes atomically only to local '
                'folders; saving with mmengine\'s non-atomic writer.')
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self._write(runner, filename, meta, by_epoch=self.by_epoch)
        if not is_main_process():
            return
        stale = [self.filename_tmpl.format(s) for s in outdated]
        if self.by_epoch:
            stale.append(self.LATEST)  # superseded by the epoch checkpoint
        for name in stale:
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
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        if not is_main_process():
            return
        tmp_name = f'.{filename}.tmp'
        runner.save_checkpoint(
            self.out_dir,
            tmp_name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=self.backend_args,
            **self.args)
        tmp = osp.join(self.out_dir, tmp_name)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.out_dir)
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
