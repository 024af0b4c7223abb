"""Size checks that run before ``torch.load`` allocates anything.

``torch.load`` trusts the sizes a file declares:

* a zip checkpoint (the format of ``torch.save`` since 1.6) is read record
  by record into buffers of the size its central directory declares; a
  deflated record of a few hundred KB can declare hundreds of MB;
* a legacy (non-zip) checkpoint allocates every storage with the element
  count its pickle declares, before reading the bytes from the file;
* a legacy tar checkpoint allocates every storage with the element count
  written in front of its bytes.

:func:`check_sizes` reads those declarations without unpickling anything
real (see :class:`_ScanUnpickler`) and refuses a file that declares more
than :func:`max_bytes` in total, a zip whose records expand more than
:data:`MAX_EXPANSION` times the file, or a legacy file whose storages do
not fit in the bytes it holds.
"""
import math
import os
import pickle
import re
import struct
import tarfile
import zipfile
from typing import IO, Any, Dict, Optional

import torch

from .errors import CheckpointSizeError

#: Environment variable that raises (or lowers) the limit, e.g. ``16G``.
ENV_MAX_BYTES = 'SIMSIAM_MM_CHECKPOINT_MAX_BYTES'
#: Default limit on the bytes of tensor data (all records) of one file.
DEFAULT_MAX_BYTES = 8 * 2**30
#: ``torch.save`` stores zip records uncompressed, so the records of its
#: files add up to at most the file size. A zip whose records declare more
#: than this many times the file size is refused.
MAX_EXPANSION = 8
#: ``torch.save`` writes one zip record per storage, plus six. Python's
#: zipfile needs about half a KiB per record to list them, so the count
#: is bounded before they are listed.
MAX_RECORDS = 100_000
#: Element size assumed for a storage type torch does not know.
_WIDEST_ELEMENT = 16

_UNITS = {'': 1, 'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}
_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$', re.I)


def parse_size(text: str) -> int:
    """``'8G'``, ``'512MiB'``, ``'1.5T'``, ``'1000000'`` -> bytes (binary
    units: ``K`` = 1024)."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f'{ENV_MAX_BYTES}={text!r} is not a size; write '
                         'bytes or a number with K, M, G or T, e.g. 16G')
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def max_bytes(override: Optional[int] = None) -> int:
    """The size limit: ``override`` if given, else ``$SIMSIAM_MM_CHECKPOINT_
    MAX_BYTES``, else :data:`DEFAULT_MAX_BYTES`."""
    if override is not None:
        return int(override)
    env = os.environ.get(ENV_MAX_BYTES)
    return parse_size(env) if env else DEFAULT_MAX_BYTES


def human(n: int) -> str:
    """``314572800`` -> ``'300.0 MiB (314572800 bytes)'``."""
    for unit in ('TiB', 'GiB', 'MiB', 'KiB'):
        scale = _UNITS[unit[0]]
        if n >= scale:
            return f'{n / scale:.1f} {unit} ({n} bytes)'
    return f'{n} bytes'


def _enough(n: int) -> str:
    """A limit that admits ``n`` bytes, in the unit of its size."""
    for unit in ('T', 'G', 'M', 'K'):
        if n >= _UNITS[unit]:
            return f'{math.ceil(n / _UNITS[unit])}{unit}'
    return str(n)


def check_limit(name: str, what: str, declared: int, limit: int) -> None:
    """Refuse ``declared`` bytes over ``limit``, naming the file."""
    if declared > limit:
        raise CheckpointSizeError(
            f'Refusing to load checkpoint {name}: {what} {human(declared)}, '
            f'more than the limit of {human(limit)}. If the file is meant '
            f'to be this large, raise the limit: {ENV_MAX_BYTES}='
            f'{_enough(declared)} (or max_bytes= of '
            'simsiam_mm.checkpoint.safe_load).')


class _Stub:
    """Stands in for every class and function a scanned pickle names.

    Calling, building or filling it does nothing, so scanning a pickle
    neither runs its code nor allocates what it declares.
    """
    qualname = '?'

    def __new__(cls, *args: Any, **kwargs: Any) -> '_Stub':
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> '_Stub':
        return _Stub()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass


class _ScanUnpickler(pickle.Unpickler):
    """Unpickles with :class:`_Stub` for every global and records the
    storages that persistent ids declare (legacy format)."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, encoding='latin1')
        self.storages: Dict[Any, int] = {}  # root key -> bytes
        self._stubs: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> type:
        qualname = f'{module}.{name}'
        if qualname not in self._stubs:
            self._stubs[qualname] = type(name, (_Stub, ),
                                         dict(qualname=qualname))
        return self._stubs[qualname]

    def persistent_load(self, pid: Any) -> _Stub:
        if isinstance(pid,
                      tuple) and pid and pid[0] in ('storage', b'storage'):
            if len(pid) < 5 or type(pid[4]) is not int or pid[4] < 0:
                raise pickle.UnpicklingError(
                    f'malformed storage declaration {pid!r:.200}')
            self.storages[pid[2]] = pid[4] * element_size(pid[1])
        return _Stub()


def element_size(storage_type: Any) -> int:
    """Bytes per element of a pickled storage type (``torch.FloatStorage``
    ...), from torch's own table."""
    name = getattr(storage_type, 'qualname', str(storage_type))
    try:
        return torch.serialization.StorageType(
            name.rpartition('.')[2]).dtype.itemsize
    except (KeyError, AttributeError):
        return _WIDEST_ELEMENT


class _Capped:
    """Read-only view of ``file`` up to byte ``end``: a pickle that
    declares a huge string gets a short read, not a huge buffer."""

    def __init__(self, file: IO[bytes], end: int) -> None:
        self.file = file
        self.end = end

    def _left(self, n: int) -> int:
        left = max(self.end - self.file.tell(), 0)
        return left if n is None or n < 0 else min(n, left)

    def read(self, n: int = -1) -> bytes:
        return self.file.read(self._left(n))

    def readline(self, n: int = -1) -> bytes:
        return self.file.readline(self._left(n))


def _file_size(file: IO[bytes]) -> int:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


def _check_zip(file: IO[bytes], name: str, size: int, limit: int) -> None:
    try:
        end = zipfile._EndRecData(file)  # the last record: the count
        count = end[zipfile._ECD_ENTRIES_TOTAL] if end else 0
        if count > MAX_RECORDS:
            raise CheckpointSizeError(
                f'Refusing to load checkpoint {name}: its zip directory '
                f'declares {count} records, more than {MAX_RECORDS} '
                '(torch.save writes one per tensor storage).')
        with zipfile.ZipFile(file) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointSizeError(
            f'Refusing to load checkpoint {name}: its zip directory is '
            f'unreadable ({err})') from None
    declared = sum(r.file_size for r in records)
    if declared > MAX_EXPANSION * size:
        deflated = sum(r.compress_type != zipfile.ZIP_STORED for r in records)
        raise CheckpointSizeError(
            f'Refusing to load checkpoint {name}: its zip records would '
            f'expand to {human(declared)} from a file of {human(size)} '
            f'({deflated} compressed records; more than {MAX_EXPANSION}x the '
            'file, and torch.save never compresses records).')
    check_limit(name, 'its zip records hold', declared, limit)


def _scan_error(name: str, err: Exception) -> CheckpointSizeError:
    return CheckpointSizeError(
        f'Refusing to load checkpoint {name}: its storage declarations are '
        f'unreadable ({type(err).__name__}: {err})')


def _check_legacy(file: IO[bytes], name: str, size: int, limit: int) -> None:
    capped = _Capped(file, size)
    try:
        if _ScanUnpickler(capped).load() != torch.serialization.MAGIC_NUMBER:
            return  # not a torch file: torch.load says so itself
        _ScanUnpickler(capped).load()  # protocol version
        _ScanUnpickler(capped).load()  # sys info
        scanner = _ScanUnpickler(capped)
        scanner.load()
        _ScanUnpickler(capped).load()  # storage keys
    except Exception as err:  # noqa: BLE001 - any failure: refuse
        raise _scan_error(name, err) from None
    declared = sum(scanner.storages.values())
    check_limit(name, 'its storages declare', declared, limit)
    held = size - file.tell()
    if declared > held:
        raise CheckpointSizeError(
            f'Refusing to load checkpoint {name}: its storages declare '
            f'{human(declared)}, but the file holds only {human(held)} of '
            'tensor data.')


def _check_tar(archive: tarfile.TarFile, name: str, limit: int) -> None:
    try:
        member = archive.getmember('storages')
    except KeyError:
        return  # torch.load fails on it by itself
    stream = archive.extractfile(member)
    capped = _Capped(stream, member.size)
    declared = 0
    try:
        for _ in range(int(_ScanUnpickler(capped).load())):
            _, _, storage_type = _ScanUnpickler(capped).load()
            numel, = struct.unpack('<q', stream.read(8))
            nbytes = numel * element_size(storage_type)
            declared += nbytes
            if nbytes < 0 or nbytes > member.size - stream.tell():
                raise CheckpointSizeError(
                    f'Refusing to load checkpoint {name}: a storage '
                    f'declares {human(max(nbytes, 0))}, more than its tar '
                    'member holds.')
            check_limit(name, 'its storages declare', declared, limit)
            stream.seek(nbytes, os.SEEK_CUR)
    except CheckpointSizeError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure: refuse
        raise _scan_error(name, err) from None


def _open_tar(file: IO[bytes]) -> Optional[tarfile.TarFile]:
    """The tar archive, if ``file`` is a real file that is one (torch only
    tries the tar format for those)."""
    try:
        file.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    try:
        return tarfile.open(fileobj=file, mode='r:')
    except tarfile.TarError:
        return None


def check_sizes(file: IO[bytes],
                name: str,
                limit: Optional[int] = None) -> str:
    """Refuse ``file`` if it declares too much memory; returns its format.

    Args:
        file: The open checkpoint (seekable).
        name (str): Its name in messages (path or URL).
        limit (int, optional): Bytes; default :func:`max_bytes`.

    Returns:
        str: ``'zip'``, ``'tar'`` or ``'legacy'``, the format torch will
        read it as. ``file`` is rewound.

    Raises:
        CheckpointSizeError: naming the file, the declared size and the
            limit.
    """
    limit = max_bytes(limit)
    size = _file_size(file)
    try:
        if file.read(4) == b'PK\x03\x04':
            file.seek(0)
            _check_zip(file, name, size, limit)
            return 'zip'
        file.seek(0)
        archive = _open_tar(file)
        if archive is not None:
            with archive:
                _check_tar(archive, name, limit)
            return 'tar'
        file.seek(0)
        _check_legacy(file, name, size, limit)
        return 'legacy'
    finally:
        file.seek(0)
