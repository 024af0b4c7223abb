"""``torch.load`` that reads what mmengine writes and runs nothing.

torch >= 2.6 loads with ``weights_only=True``, a restricted unpickler; it
refuses mmengine's own checkpoints, which hold ``HistoryBuffer`` objects
and numpy arrays, scalars and dtypes. :func:`safe_load` keeps the
restricted unpickler and allow-lists exactly those, through stand-ins:

* numpy never sees the pickle. ``numpy.ndarray.__setstate__`` trusts its
  arguments (an object dtype with a short list crashes the interpreter; a
  float dtype can be given the object flag), so ``numpy.dtype``,
  ``_reconstruct`` and ``scalar`` are replaced by :class:`_PickledDtype`,
  :func:`_reconstruct` and :func:`_scalar`, which accept numbers, booleans
  and fixed-width strings whose byte count matches the declared shape, and
  build fresh arrays from the bytes with ``numpy.frombuffer``;
* ``getattr`` resolves only the four ``HistoryBuffer`` statistics methods.

Before anything is unpickled, :func:`~.limits.check_sizes` refuses a file
that declares more memory than the limit. After loading, every string of
the checkpoint is remembered as data (:mod:`.config_text`).

Trust, for a legacy file that needs full unpickling, comes only from the
person running the command: :func:`trust` (``--trust-checkpoint`` of the
tools) or ``SIMSIAM_MM_TRUSTED_CHECKPOINTS``.
"""
import logging
import math
import os
import os.path as osp
import pickle
import re
from typing import IO, Any, Dict, Iterable, List, Optional, Set, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

from . import config_text, limits
from .errors import UnsafeCheckpointError

ENV_TRUSTED = 'SIMSIAM_MM_TRUSTED_CHECKPOINTS'
_TRUSTED: Set[str] = set()

# numbers, booleans, fixed-width byte and unicode strings
_DTYPE_SPEC = re.compile(r'^(b1|[iu][1248]|f[248]|c(8|16)|[US]\d+)$')
_MAX_DEPTH = 200  # nesting of containers in a checkpoint


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(what)


class _PickledDtype:
    """What ``numpy.dtype(spec, align, copy)`` in a pickle builds here."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True):
        if isinstance(spec, bytes):
            spec = spec.decode('latin1')
        if not isinstance(spec, str) or not _DTYPE_SPEC.match(spec):
            raise _refuse(
                f'numpy dtype {spec!r:.40} (only numbers, booleans and '
                'fixed-width strings are read; object, void, structured and '
                'datetime dtypes are not)')
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment,
        # flags); the flags are numpy's business, never the file's
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                and state[1] in ('<', '>', '|', '=')
                and state[2:5] == (None, None, None)
                and state[5] in (-1, self.dtype.itemsize)):
            raise _refuse(f'numpy dtype state {state!r:.80}')
        if state[1] in ('<', '>'):
            self.dtype = self.dtype.newbyteorder(state[1])


class _PickledArray:
    """What ``_reconstruct(numpy.ndarray, (0,), b'b')`` builds here; its
    state becomes a fresh array, copied from the pickled bytes."""
    array: Optional[np.ndarray] = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5
                and state[0] == 1):
            raise _refuse(f'numpy array state {state!r:.80}')
        _, shape, dtype, fortran, raw = state
        if type(dtype) is not _PickledDtype or not isinstance(
                shape, tuple) or not all(
                    type(n) is int and n >= 0 for n in shape):
            raise _refuse(f'numpy array of shape {shape!r:.40}, dtype '
                          f'{dtype!r:.40}')
        count = math.prod(shape)
        if not isinstance(raw, bytes) or \
                len(raw) != count * dtype.dtype.itemsize:
            raise _refuse(f'numpy array data that does not match its shape '
                          f'{shape} and dtype {dtype.dtype}')
        self.array = np.frombuffer(raw, dtype.dtype, count).reshape(
            shape, order='F' if fortran else 'C').copy(order='K')


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _PickledArray:
    """Stands in for ``numpy.core.multiarray._reconstruct``, which
    allocates any shape it is given; numpy pickles plain arrays as
    ``_reconstruct(numpy.ndarray, (0,), b'b')`` plus their state."""
    if subtype is not _PickledArray or shape != (0, ):
        raise _refuse(f'numpy _reconstruct of shape {shape!r:.40} (numpy '
                      'writes plain arrays with shape (0,) and their state)')
    return _PickledArray()


def _scalar(dtype: Any, data: Any = None) -> Any:
    """Stands in for ``numpy.core.multiarray.scalar``."""
    if type(dtype) is not _PickledDtype or not isinstance(
            data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _refuse(f'numpy scalar of {dtype!r:.40} from {data!r:.40}')
    return np.frombuffer(data, dtype.dtype, 1)[0]


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr``.

    mmengine pickles ``HistoryBuffer``'s statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. A free ``getattr`` would let a
    crafted pickle walk from any allowed class to ``__globals__`` and on to
    ``os.system``; this one resolves only those methods.
    """
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise _refuse(f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
                  f'{name!r}) is not allowed')


def _empty_bytes(*args: Any) -> bytes:
    """Stands in for ``builtins.bytes``: pickle protocol 2 writes ``b''``
    (the data of an empty numpy array) as ``bytes()``."""
    if args:
        raise _refuse(f'bytes{args!r:.40}')
    return b''


def allowed_globals() -> List[Any]:
    """What the restricted unpickler may build besides tensors: mmengine's
    ``HistoryBuffer`` and the numpy stand-ins, under the names that numpy
    1.x (``numpy.core``) and 2.x (``numpy._core``) write."""
    found: List[Any] = [
        HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes'), (_PickledArray, 'numpy.ndarray'),
        (_PickledDtype, 'numpy.dtype')
    ]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        found += [(_reconstruct, f'{module}._reconstruct'),
                  (_scalar, f'{module}.scalar')]
    return found


def _key(path: str) -> str:
    """Trust compares real paths for files, the exact text for URLs."""
    if '://' in path:
        return path
    return osp.realpath(osp.expanduser(path))


def trust(paths: Union[str, Iterable[str]]) -> None:
    """Opt checkpoints (paths or URLs) in to full, code-running unpickling.

    Only for what the person running the command names: the tools'
    ``--trust-checkpoint``, or Python code they run. Never call it with
    names read from a config or a checkpoint.
    """
    if isinstance(paths, str):
        paths = [paths]
    _TRUSTED.update(_key(p) for p in paths)


def is_trusted(path: str) -> bool:
    """Whether ``path`` was trusted by :func:`trust` or is listed in
    ``$SIMSIAM_MM_TRUSTED_CHECKPOINTS`` (``os.pathsep``-separated; URLs are
    matched whole, so separate them with newlines there)."""
    env = os.environ.get(ENV_TRUSTED, '')
    names = [p for line in env.splitlines() for p in _split_env(line) if p]
    return _key(path) in _TRUSTED | {_key(p) for p in names}


def _split_env(line: str) -> List[str]:
    line = line.strip()
    return [line] if '://' in line else line.split(os.pathsep)


def _offending(file: IO[bytes], message: str) -> str:
    """The globals a refused file asked for, or torch's reason."""
    try:
        file.seek(0)
        with torch.serialization.safe_globals(allowed_globals()):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(file)
        if names:
            return ', '.join(names)
    except Exception:  # noqa: BLE001 - best effort for the message only
        pass
    # torch's message: boilerplate, then the reason after a blank line
    match = re.search(r'WeightsUnpickler error:\s*(.+)', message) or \
        re.search(r'\n\n+([^\n]+)', message)
    if match:
        return match.group(1).strip()
    return message.splitlines()[0] if message else 'unknown'


def _trust_hint(name: str) -> str:
    return (f'If you trust this file, opt it in when you run the command: '
            f'--trust-checkpoint {name} or {ENV_TRUSTED}={name} (a config '
            'file cannot grant trust).')


def _where(path: Tuple[Any, ...]) -> str:
    return ''.join(f'[{k!r}]' for k in path) or 'the whole checkpoint'


class _Finisher:
    """Walks a loaded checkpoint: numpy stand-ins become real arrays and
    dtypes; every string is collected with the key path it sits at."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.texts: Dict[str, str] = {}
        self.done: Dict[int, Any] = {}

    def __call__(self, obj: Any, path: Tuple[Any, ...] = ()) -> Any:
        kind = type(obj)
        if kind is str:
            self.texts.setdefault(obj, f'{_where(path)} of {self.name}')
            return obj
        if kind in (int, float, bool, bytes, type(None)) or isinstance(
                obj, (torch.Tensor, np.generic, np.ndarray)):
            return obj
        if id(obj) in self.done:
            return self.done[id(obj)]
        if len(path) > _MAX_DEPTH:
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {self.name}: containers nested '
                f'more than {_MAX_DEPTH} deep at {_where(path[:5])}...')
        if kind is _PickledArray:
            if obj.array is None:
                raise UnsafeCheckpointError(
                    f'Refusing to load checkpoint {self.name}: a numpy array '
                    f'without data at {_where(path)}')
            return self._done(obj, obj.array)
        if kind is _PickledDtype:
            return self._done(obj, obj.dtype)
        if isinstance(obj, dict):
            self._done(obj, obj)
            for key, value in list(obj.items()):
                new = self(value, path + (key, ))
                if new is not value:
                    obj[key] = new
            return obj
        if kind is list:
            self._done(obj, obj)
            for i, value in enumerate(obj):
                obj[i] = self(value, path + (i, ))
            return obj
        if kind in (tuple, set, frozenset):
            items = [self(v, path + (i, )) for i, v in enumerate(obj)]
            same = all(a is b for a, b in zip(items, obj))
            return self._done(obj, obj if same else kind(items))
        if isinstance(obj, HistoryBuffer):
            self._done(obj, obj)
            for key, value in list(vars(obj).items()):
                setattr(obj, key, self(value, path + (key, )))
        return obj

    def _done(self, old: Any, new: Any) -> Any:
        self.done[id(old)] = new
        return new


#: Config text that mmengine uses without parsing it through us, where a
#: text that is not plain data is dropped at load: (container keys, key,
#: what dropping it costs).
_DROPPED_UNLESS_DATA = (
    (('meta', ), 'config', 'resume skips its GPU-count check'),
    (('message_hub', 'runtime_info'), 'cfg',
     'a resumed run does not copy it into its own checkpoints'),
)


def _drop_unreadable_configs(checkpoint: Any, name: str) -> None:
    """``meta['config']`` (mmcv's key) is read only by ``Runner.resume``,
    for a GPU-count check; ``message_hub['runtime_info']['cfg']`` is put
    back into the message hub by ``Runner.resume`` and so written into the
    resumed run's checkpoints. Either one, if it is not plain data, is
    dropped with a warning, and the resume goes on."""
    for parents, key, cost in _DROPPED_UNLESS_DATA:
        holder = checkpoint
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        text = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(text, str):
            continue
        try:
            config_text.parse_data(text)
        except config_text.NotPlainData as err:
            del holder[key]
            where = _where(parents + (key, ))
            print_log(
                f'Ignored {where} of checkpoint {name}: a config inside a '
                f'checkpoint is read as data only, and this one is not plain '
                f'data ({err}). Nothing of it was run; {cost}.',
                logger='current',
                level=logging.WARNING)


def _load_untrusted(file: IO[bytes], name: str, map_location: Any,
                    fmt: str) -> Any:
    if fmt == 'tar':
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {name}: it is in the legacy tar '
            'format, which only full (code-running) unpickling reads. ' +
            _trust_hint(name))
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            checkpoint = torch.load(
                file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {name}: it asks to unpickle '
            f'{_offending(file, str(err))}, which is not in simsiam_mm\'s '
            'allow-list of the types mmengine writes. A pickle can run code '
            'on load. ' + _trust_hint(name)) from None
    finish = _Finisher(name)
    checkpoint = finish(checkpoint)
    _drop_unreadable_configs(checkpoint, name)
    config_text.remember(finish.texts)
    return checkpoint


def safe_load(file: Union[str, os.PathLike, IO[bytes]],
              map_location: Any = 'cpu',
              *,
              name: Optional[str] = None,
              max_bytes: Optional[int] = None) -> Any:
    """Load a checkpoint without running code from it.

    Args:
        file: A path, or an open binary file (seekable).
        map_location: As for ``torch.load``. Defaults to 'cpu'.
        name (str, optional): What the file is called in messages and by
            trust, e.g. the URL it was downloaded from. Defaults to the
            path.
        max_bytes (int, optional): Size limit, see
            :func:`~.limits.max_bytes`.

    Raises:
        FileNotFoundError: ``file`` is a path and not a file.
        CheckpointSizeError: the file declares more than the limit.
        UnsafeCheckpointError: it needs a type outside the allow-list (or
            the tar format) and is not trusted.
    """
    if not isinstance(file, (str, os.PathLike)):
        name = name or getattr(file, 'name', None) or repr(file)
        return _load_open(file, name, name, map_location, max_bytes)
    path = osp.expanduser(os.fspath(file))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} can not be found')
    with open(path, 'rb') as opened:  # checked and loaded: the same bytes
        return _load_open(opened, name or path, path, map_location, max_bytes)


def _load_open(file: IO[bytes], name: str, path: str, map_location: Any,
               max_bytes: Optional[int]) -> Any:
    fmt = limits.check_sizes(file, name, max_bytes)
    if is_trusted(path) or is_trusted(name):
        print_log(
            f'Checkpoint {name} is trusted by the command line or '
            f'{ENV_TRUSTED}: loading it with full unpickling.',
            logger='current',
            level=logging.WARNING)
        return torch.load(file, map_location=map_location, weights_only=False)
    return _load_untrusted(file, name, map_location, fmt)
