"""Every place where simsiam_mm depends on mmengine's internals.

The rest of :mod:`simsiam_mm.engine` uses mmengine's public API (hooks,
loops, the message hub, registries) and the few seams defined here. The
seams rely on private code of mmengine 0.10.7:

* :class:`CheckpointHookBase` overrides ``CheckpointHook.
  _save_checkpoint_with_step`` (the one call every checkpoint of the hook
  goes through: interval, last and best) and keeps its ``keep_ckpt_ids``
  bookkeeping, so that :class:`~simsiam_mm.engine.hooks.
  AtomicCheckpointHook` can write atomically and delete outdated files only
  after the new one is in place;
* :class:`EpochLoopBase` re-states ``EpochBasedTrainLoop.run_epoch`` with
  the batches of an epoch supplied by :meth:`EpochLoopBase.epoch_batches`
  (mmengine's ``run`` calls ``run_epoch()`` once per epoch), so that
  :class:`~simsiam_mm.engine.resume.ResumableEpochBasedTrainLoop` can start
  an epoch in the middle;
* :func:`parse_missing_type` reads the registry ``KeyError`` message of
  ``build_from_cfg``, for the config error messages;
* :class:`~simsiam_mm.engine.runtime.PortableRunner` relies on
  ``Runner.setup_env`` skipping ``init_dist`` when a process group exists,
  and re-states ``Runner.wrap_model``'s default DDP arguments on CPU.

:data:`PINNED` holds a hash of the source of each of these mmengine
functions as released in :data:`TESTED_VERSION`; ``tests/
test_mmengine_compat.py`` fails, naming the function, when an installed
mmengine differs. Another mmengine version gives a warning at import
(:func:`check_mmengine_version`), a missing hook point a ``RuntimeError``.
"""
import hashlib
import importlib
import inspect
import re
import warnings
from collections import deque
from typing import Any, Iterator, List, Optional, Tuple

import mmengine
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop

TESTED_VERSION = '0.10.7'

#: sha256 of ``inspect.getsource`` of the mmengine code we override,
#: re-state or rely on, at :data:`TESTED_VERSION`.
PINNED = {
    'mmengine.hooks.CheckpointHook._save_checkpoint_with_step':
    'cdbc1b54c7c88d9525ab025a9d51a3d3be6e6e36396c0f1151ecf51281fd3482',
    'mmengine.hooks.CheckpointHook.before_train':
    '88570c95d1e437f53b4ff95c5ba84b37a841b5a921ed82d1ff1c3a055cfa5749',
    'mmengine.runner.EpochBasedTrainLoop.run':
    '51ae20508b4d459fb39f6d8fb1f2bd07ca6ed4b201926abf10cb991f1e4f1da8',
    'mmengine.runner.EpochBasedTrainLoop.run_epoch':
    '5a9b993c3e9727d48a734e1a627a30a0fa00151cf12626e58f9da757f354b3d9',
    'mmengine.runner.Runner.save_checkpoint':
    'e154ecbf826a9ba656f3b5a2ccb912699f8488bfe77cc80dabed1517026ae83d',
    'mmengine.runner.Runner.setup_env':
    '9e3f15ea06d4415d6a6b53e1805b800cbd5166458c7239af5f361b16c02431d1',
    'mmengine.runner.Runner.wrap_model':
    '1b219f958f8a829f98505239279fcb4bed87f02ccdfbda6415fdaa85c4622eb4',
    'mmengine.registry.build_functions.build_from_cfg':
    'eabc00c130c816c995397683227758294c5c644f7be2eeb82d90d5c05b29ee8c',
}


class MMEngineVersionWarning(UserWarning):
    """mmengine is not the version simsiam_mm was tested with."""


def check_mmengine_version(version: Optional[str] = None) -> bool:
    """Warn if mmengine is not :data:`TESTED_VERSION`.

    Args:
        version (str, optional): The version to check. Defaults to the
            installed ``mmengine.__version__``.

    Returns:
        bool: True if the version is the tested one.
    """
    version = mmengine.__version__ if version is None else version
    if version == TESTED_VERSION:
        return True
    warnings.warn(
        f'simsiam_mm is tested with mmengine=={TESTED_VERSION}, found '
        f'{version}. Checkpointing and mid-epoch resume override mmengine '
        'internals (simsiam_mm/engine/mmengine_compat.py); run '
        '`pytest tests/test_mmengine_compat.py` to see whether they changed.',
        MMEngineVersionWarning,
        stacklevel=2)
    return False


def _resolve(qualname: str) -> Any:
    module_name, _, attr_path = qualname.partition('.')
    obj = importlib.import_module(module_name)
    parts = attr_path.split('.')
    i = 0
    while i < len(parts):  # longest importable module prefix first
        try:
            obj = importlib.import_module(f'{obj.__name__}.{parts[i]}')
        except (ImportError, AttributeError):
            break
        i += 1
    for part in parts[i:]:
        obj = getattr(obj, part)
    return obj


def source_fingerprint(qualname: str) -> str:
    """sha256 of the source of ``qualname`` (``''`` if it does not exist).
    """
    try:
        source = inspect.getsource(_resolve(qualname))
    except (AttributeError, ImportError, OSError, TypeError):
        return ''
    return hashlib.sha256(source.encode('utf-8')).hexdigest()


def changed_internals() -> List[str]:
    """The names in :data:`PINNED` whose installed source differs."""
    return [
        name for name, digest in PINNED.items()
        if source_fingerprint(name) != digest
    ]


def _require(cls: type, name: str) -> None:
    if not callable(getattr(cls, name, None)):
        raise RuntimeError(
            f'mmengine {mmengine.__version__}: {cls.__name__}.{name} does not '
            f'exist; simsiam_mm needs it (tested with mmengine=='
            f'{TESTED_VERSION}, see simsiam_mm/engine/mmengine_compat.py).')


class CheckpointHookBase(CheckpointHook):
    """mmengine's ``CheckpointHook`` with its per-step save routed to
    :meth:`save_step`.

    Same arguments as ``CheckpointHook``. Subclasses implement
    :meth:`save_step` with :meth:`keep`, :meth:`save_file` and
    :meth:`set_last`; :meth:`save_step_with_mmengine` is mmengine's own.
    """

    def __init__(self, *args, **kwargs) -> None:
        _require(CheckpointHook, '_save_checkpoint_with_step')
        super().__init__(*args, **kwargs)

    # mmengine 0.10.7 calls this for every checkpoint the hook writes
    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        self.save_step(runner, step, meta)

    def save_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step`` (an epoch or an iteration)."""
        raise NotImplementedError

    def save_step_with_mmengine(self, runner, step: int, meta: dict) -> None:
        """mmengine's own save (non-atomic; deletes outdated files first)."""
        CheckpointHook._save_checkpoint_with_step(self, runner, step, meta)

    def is_local(self) -> bool:
        """True if checkpoints go to a local folder."""
        return isinstance(self.file_backend, LocalBackend)

    def keep(self, runner, step: int) -> List[str]:
        """Count ``step`` among the ``max_keep_ckpts`` kept checkpoints.

        Returns:
            list[str]: File names of ``out_dir`` now outdated, for the
            caller to delete once the new checkpoint is in place (mmengine
            deletes them before writing it).
        """
        ids: deque = getattr(self, 'keep_ckpt_ids', deque())
        if self.max_keep_ckpts <= 0 or (ids and ids[-1] == step):
            return []
        outdated = []
        if len(ids) == self.max_keep_ckpts:
            outdated.append(self.filename_tmpl.format(ids.popleft()))
        ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(ids))
        return outdated

    def set_last(self, runner, path: Optional[str]) -> None:
        """Name ``path`` as the last checkpoint (hook and message hub)."""
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)

    def save_file(self, runner, filename: str, meta: dict,
                  by_epoch: bool) -> None:
        """``runner.save_checkpoint`` to ``out_dir/filename`` with the
        hook's options (rank 0 writes)."""
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=self.backend_args,
            **self.args)


class EpochLoopBase(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` taking the batches of each epoch
    from :meth:`epoch_batches`. Same arguments."""

    def __init__(self, *args, **kwargs) -> None:
        _require(EpochBasedTrainLoop, 'run_epoch')
        super().__init__(*args, **kwargs)

    def run_epoch(self) -> None:
        """Iterate one epoch (mmengine 0.10.7's ``run_epoch``)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        for idx, data_batch in self.epoch_batches():
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def epoch_batches(self) -> Iterator[Tuple[int, Any]]:
        """``(batch index, batch)`` of the current epoch; runs after the
        ``before_train_epoch`` hooks."""
        return enumerate(self.dataloader)


_MISSING_TYPE = re.compile(r'^(?P<type>\S+) is not in the '
                           r'(?P<scope>[^:\s]*)::(?P<registry>.+?) registry\.')


def parse_missing_type(exc: BaseException) -> Optional[Tuple[str, str, str]]:
    """``(type, scope, registry name)`` from the ``KeyError`` that
    ``build_from_cfg`` raises for an unknown type, else None."""
    if not isinstance(exc, KeyError) or not exc.args:
        return None
    match = _MISSING_TYPE.match(str(exc.args[0]))
    if match is None:
        return None
    return match['type'], match['scope'], match['registry']


check_mmengine_version()
