"""Resume that loses nothing: the newest complete checkpoint, the exact
data position inside an epoch, and the random state of every rank.

mmengine's ``EpochBasedTrainLoop`` restarts an interrupted epoch from its
first batch and re-seeds the random generators, so an iteration-interval
checkpoint taken mid-epoch replays (and then overruns) part of the epoch.
Three pieces fix that and live here:

* :class:`ResumableEpochBasedTrainLoop` continues an epoch at the batch after
  the checkpoint (the sampler is advanced by indices, no image is loaded for
  the skipped batches), keeps the sampler's shuffling seed equal to the
  resumed run seed, and restores the random state saved with the
  checkpoint.
* :func:`capture_rng_states` / :func:`restore_rng_state`: the Python, numpy,
  torch (and CUDA) generator states. :class:`~simsiam_mm.engine.hooks.
  AtomicCheckpointHook` gathers them from every rank into the message hub
  (``rng_states``) right before it saves, so they travel in the checkpoint.
* :func:`find_resumable_checkpoint` for ``--resume auto``: the checkpoint
  ``last_checkpoint`` names if it is complete, otherwise the newest complete
  one, skipping truncated or corrupt files with a warning.

With the configs' ``SeededSampler`` every view is drawn from (seed, epoch,
index, view), so a resumed run is bit-identical with any number of loader
workers (docs/reproducibility.md). Transforms that draw from the global
generators (mmcv / mmpretrain use ``np.random``) repeat after a resume only
with ``num_workers=0``; the batches, the order and the schedule are exact
in every case.
"""
import logging
import os
import os.path as osp
import random
import re
import zipfile
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.logging import print_log
from torch.utils.data import BatchSampler, DataLoader, Sampler

from simsiam_mm.registry import LOOPS
from .mmengine_compat import EpochLoopBase

RNG_KEY = 'rng_states'  # message-hub runtime info written by the hook
POINTER = 'last_checkpoint'  # mmengine's pointer file in the work_dir


def capture_rng_state() -> dict:
    """This process's generator states, as tensors and builtins only (they
    pass the ``weights_only`` loader without extra allow-listing)."""
    algo, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state = dict(
        python=random.getstate(),
        numpy=dict(
            algo=algo,
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            gauss=float(gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    npy = state['numpy']
    np.random.set_state((npy['algo'], npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'], npy['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def capture_rng_states() -> List[dict]:
    """Every rank's generator states, on every rank (a collective call)."""
    from mmengine.dist import all_gather_object
    return all_gather_object(capture_rng_state())


def checkpoint_is_complete(path: str) -> bool:
    """True if ``path`` is a whole torch zip checkpoint.

    A file cut short by a crash lacks the zip's central directory; a
    corrupted one fails the per-record CRC. Both read without unpickling.
    ``torch.save`` stores its records uncompressed, so a compressed record
    means the file was not written by a run (and could be a deflate bomb):
    it is not checked further.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            if not any(
                    r.filename.endswith('/data.pkl')
                    or r.filename == 'data.pkl' for r in records):
                return False
            if any(r.compress_type != zipfile.ZIP_STORED for r in records):
                return False
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


_STEP = re.compile(r'(?:epoch|iter)_(\d+)\.pth$')


def _candidates(work_dir: str, pointed: Optional[str]) -> List[str]:
    """Training checkpoints next to the pointed one and in ``work_dir``,
    newest first. Published (``-<sha>.pth``) and ``best_*`` files carry no
    optimizer state and are not resume points."""
    dirs = {work_dir}
    if pointed:
        dirs.add(osp.dirname(pointed))
    found = set()
    for folder in dirs:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            if (_STEP.match(name) or name == 'latest.pth') and \
                    not name.startswith('best_'):
                found.add(osp.join(folder, name))
    return sorted(found, key=osp.getmtime, reverse=True)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume auto`` continues from, or None.

    The file named by ``work_dir/last_checkpoint`` if it is complete;
    otherwise the newest complete ``epoch_*.pth`` / ``iter_*.pth`` /
    ``latest.pth``. Every incomplete file passed over is named in a warning.
    """
    pointed = None
    pointer = osp.join(work_dir, POINTER)
    if osp.isfile(pointer):
        with open(pointer) as f:
            pointed = f.read().strip() or None
    if pointed and not osp.isfile(pointed):
        local = osp.join(work_dir, osp.basename(pointed))
        pointed = local if osp.isfile(local) else pointed
    order = ([pointed] if pointed and osp.isfile(pointed) else
             []) + [p for p in _candidates(work_dir, pointed) if p != pointed]
    for path in order:
        if checkpoint_is_complete(path):
            return path
        print_log(
            f'Skipping checkpoint {path}: it is truncated or corrupt.',
            logger='current',
            level=logging.WARNING)
    return None


class _SkipFirst(Sampler):
    """Yields a sampler's indices from position ``n`` on; reports the full
    length so ``len(dataloader)`` and the batch numbering stay those of the
    whole epoch."""

    def __init__(self, sampler: Sampler, n: int) -> None:
        self.sampler = sampler
        self.n = n

    def __iter__(self) -> Iterator[int]:
        iterator = iter(self.sampler)
        for _ in range(self.n):
            next(iterator, None)
        yield from iterator

    def __len__(self) -> int:
        return len(self.sampler)


@contextmanager
def _skipping_indices(dataloader: DataLoader, batches: int) -> Iterator[bool]:
    """Advance a plain ``BatchSampler`` by ``batches`` batches of indices.

    Yields False (nothing done) for other batch samplers (e.g. mmdet's
    aspect-ratio grouping), whose batches are not fixed runs of indices.
    """
    batch_sampler = dataloader.batch_sampler
    if batches == 0 or type(batch_sampler) is not BatchSampler:
        yield False
        return
    inner = batch_sampler.sampler
    batch_sampler.sampler = _SkipFirst(inner,
                                       batches * batch_sampler.batch_size)
    try:
        yield True
    finally:
        batch_sampler.sampler = inner


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochLoopBase):
    """mmengine's epoch loop, resumable in the middle of an epoch.

    Same arguments as ``EpochBasedTrainLoop``. A run resumed from a
    checkpoint taken after iteration ``i`` of epoch ``e`` continues with
    batch ``i + 1`` of the same shuffled order of epoch ``e``, with the
    generator states the run had at the checkpoint. A resume whose batches
    per epoch changed (other world size or batch size) restarts the epoch,
    with a warning, as mmengine does.
    """

    def __init__(self, runner, dataloader, max_epochs: int, **kwargs) -> None:
        super().__init__(runner, dataloader, max_epochs, **kwargs)
        self._seed_at_build = runner.seed
        self._pending_rng: Optional[dict] = None
        self._skip: Optional[int] = None  # None until the first epoch

    def run_epoch(self) -> None:
        """Iterate one epoch; the first one after a resume from the batch
        after the checkpoint."""
        if self._skip is None:
            self._skip = self._prepare_resume()
        if self._skip == 0:
            self._restore_pending_rng()
        super().run_epoch()
        self._skip = 0

    def epoch_batches(self) -> Iterator[Tuple[int, Any]]:
        skip = self._skip
        with _skipping_indices(self.dataloader, skip) as advanced:
            batches = iter(self.dataloader)
            if skip and not advanced:
                print_log(
                    f'{type(self.dataloader.batch_sampler).__name__} is not '
                    f'a plain BatchSampler: loading and dropping {skip} '
                    'batches to reach the resume position.',
                    logger='current',
                    level=logging.WARNING)
                for _ in range(skip):
                    next(batches)
            self._restore_pending_rng()  # after the workers were seeded
            yield from enumerate(batches, start=skip)

    def _prepare_resume(self) -> int:
        """Batches of the current epoch already trained (0 on a fresh run),
        the sampler seed, and the generator states to restore."""
        if self.iter == 0:
            return 0
        sampler = self.dataloader.sampler
        seed = self.runner.seed
        if getattr(sampler, 'seed', None) == self._seed_at_build != seed:
            # built before the resume re-seeded the runner
            sampler.seed = seed
        hub = self.runner.message_hub
        saved = hub.get_info(RNG_KEY)
        if saved is not None and saved.get('iter') == self.iter:
            states = saved['states']
            if len(states) == get_world_size():
                self._pending_rng = states[get_rank()]
            else:
                print_log(
                    f'The checkpoint holds the random state of '
                    f'{len(states)} processes, this run has '
                    f'{get_world_size()}: random state not restored.',
                    logger='current',
                    level=logging.WARNING)
        per_epoch = len(self.dataloader)
        skip = self.iter - self.epoch * per_epoch
        if not 0 <= skip < per_epoch:
            print_log(
                f'Resumed at iteration {self.iter}, epoch {self.epoch}, '
                f'which does not fit {per_epoch} batches per epoch (was the '
                'batch size or the number of processes changed?): the epoch '
                'restarts from its first batch.',
                logger='current',
                level=logging.WARNING)
            self._pending_rng = None
            return 0
        if skip:
            print_log(
                f'Resuming epoch {self.epoch + 1} at batch {skip + 1} of '
                f'{per_epoch}.',
                logger='current')
        return skip

    def _restore_pending_rng(self) -> None:
        if self._pending_rng is not None:
            restore_rng_state(self._pending_rng)
            self._pending_rng = None
