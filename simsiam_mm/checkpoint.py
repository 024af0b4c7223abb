"""Checkpoint loading that is compatible with mmengine and safe.

torch >= 2.6 loads with ``weights_only=True``; mmengine 0.10.7 calls
``torch.load`` without it and so cannot read back its own checkpoints
(they hold ``HistoryBuffer`` objects and numpy arrays, scalars and dtypes).
The fix here is *not* ``weights_only=False``, which would let any checkpoint
run code on load: every local load of mmengine (``resume``, ``load_from``,
``init_cfg=dict(type='Pretrained')``) is routed through :func:`safe_load`,
which keeps the restricted unpickler and allow-lists exactly the types that
mmengine and simsiam_mm write. Anything else is refused with
:class:`UnsafeCheckpointError`, naming the file and the offending globals.

A legacy file you trust can be opted in, by path, with any of:

* ``--trust-checkpoint PATH`` of ``tools/train.py`` / ``tools/test.py``;
* a config key ``trusted_checkpoints = ['PATH', ...]``;
* ``SIMSIAM_MM_TRUSTED_CHECKPOINTS=PATH1:PATH2`` in the environment;
* :func:`trust` from Python.

Importing :mod:`simsiam_mm` installs the loader (:func:`install`), also
when it comes in through ``custom_imports`` of an mmdet/mmpretrain config.
"""
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, Iterable, List, Optional, Set

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mme_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

ENV_TRUSTED = 'SIMSIAM_MM_TRUSTED_CHECKPOINTS'
_TRUSTED: Set[str] = set()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asks to unpickle a type outside the allow-list."""


def _numpy_globals() -> List[Any]:
    """The numpy callables and classes that pickled arrays refer to.

    Files written under numpy 1.x name ``numpy.core.multiarray``, under
    numpy 2 ``numpy._core.multiarray``: both names are allowed.
    """
    from numpy.core import multiarray
    found: List[Any] = [np.ndarray, np.dtype]
    for func in (multiarray._reconstruct, multiarray.scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            found.append((func, f'{module}.{func.__name__}'))
    # dtype classes (numpy.dtypes.Float64DType ...) pickled with dtypes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [
            getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')
        ]
    return found


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling.

    mmengine pickles ``HistoryBuffer``'s statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. A free ``getattr`` would let a
    crafted pickle walk from any allowed class to ``__globals__`` and on to
    ``os.system``; this one resolves only those methods.
    """
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
        f'{name!r}) is not allowed')


def allowed_globals() -> List[Any]:
    """Every non-tensor global that mmengine and simsiam_mm write."""
    return [HistoryBuffer,
            (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def trust(paths: Iterable[str]) -> None:
    """Opt the given checkpoint paths in to full (unsafe) unpickling."""
    if isinstance(paths, str):
        paths = [paths]
    _TRUSTED.update(osp.realpath(osp.expanduser(p)) for p in paths)


def is_trusted(path: str) -> bool:
    env = [p for p in os.environ.get(ENV_TRUSTED, '').split(os.pathsep) if p]
    trusted = _TRUSTED | {osp.realpath(osp.expanduser(p)) for p in env}
    return osp.realpath(osp.expanduser(path)) in trusted


def _offending(path: str, message: str) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        allowed = {
            g[1]
            if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
            for g in allowed_globals()
        }
        names = [n for n in names if n not in allowed]
        if names:
            return ', '.join(names)
    except Exception:  # noqa: BLE001 - best effort for the message only
        pass
    match = re.search(r'WeightsUnpickler error:\s*(.+)', message)
    if match:
        return match.group(1)
    return message.splitlines()[0] if message else 'unknown'


def safe_load(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeCheckpointError: the file needs a type outside the
            allow-list and is not trusted.
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} can not be found')
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(
                path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if is_trusted(path):
            return torch.load(
                path, map_location=map_location, weights_only=False)
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {path}: it asks to unpickle '
            f'{_offending(path, str(err))}, which is not in simsiam_mm\'s '
            'allow-list of the types mmengine writes. A pickle can run code '
            'on load. If you trust this file, opt it in with '
            f'--trust-checkpoint {path}, the config key trusted_checkpoints, '
            f'or {ENV_TRUSTED}={path}.') from None


def _load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    return safe_load(filename, map_location)


_installed: Optional[Callable] = None


def install() -> None:
    """Route mmengine's local checkpoint loading through :func:`safe_load`.

    Idempotent. Covers ``Runner.resume``, ``load_from``,
    ``init_cfg=dict(type='Pretrained')`` and ``load_checkpoint``.
    """
    global _installed
    if _installed is not None:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    mme_checkpoint.load_from_local = _load_from_local
    _installed = _load_from_local
    env = os.environ.get(ENV_TRUSTED)
    if env:
        trust([p for p in env.split(os.pathsep) if p])


install()
