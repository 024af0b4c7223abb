"""Decoding image files to RGB ``uint8``, with a clear error for bad ones.

Policy (documented here once, tested in ``tests/test_datasets.py`` and
``tests/test_bad_images.py``):

* Valid but unusual images are converted, not rejected: greyscale and
  palette images become three equal / looked-up channels; the alpha of RGBA
  and LA images is dropped (as PIL's ``convert('RGB')`` in torchvision's
  ``ImageFolder`` loader); 16-bit images are scaled to 8 bits
  (``v * 255 / 65535``, rounded); CMYK JPEGs (plain or Adobe-inverted) are
  converted with ``R = 255 * (1 - C) * (1 - K)`` and likewise for G, B. The
  EXIF orientation is applied.
* :func:`decode_image` returns an H x W x 3 ``uint8`` array or raises
  :class:`BadImageError` naming the file and the reason (missing or
  unreadable, empty, not an image, truncated, corrupt): never another
  exception. In a DataLoader worker the error travels to the main process
  as usual, so the loader stops with that message instead of hanging.
* A truncated file is an error even where a decoder would return part of
  the image (libjpeg fills the missing rows with grey, PIL's GIF reader
  stops at the last whole frame, depending on the library's version):
  before decoding, the end of the file is checked: JPEG's end-of-image
  marker after the last scan, PNG's ``IEND`` chunk, GIF's trailer, the
  sizes that the RIFF (WebP) and BMP headers declare, and the extent of the
  TIFF strips or tiles. A JPEG or PNG header claiming more pixels than
  PIL's decompression-bomb limit is rejected before OpenCV allocates them.
  The checks read the file's headers and last bytes, not the pixels. A file
  whose bytes were overwritten but whose structure is whole may decode to
  wrong pixels, as in every image library.
* ``SafeLoadImageFromFile(skip_bad_images=True)`` logs the file and reason
  instead, and returns None; mmengine's ``BaseDataset`` (every mmpretrain
  dataset) then loads another index, so training continues. The
  replacement index and its views are a function of the run's seed, the
  epoch and the skipped index (see :mod:`simsiam_mm.datasets.seeding`),
  and the replacement sample's ``sample_idx`` records how many bad files
  were skipped for it, so that :class:`BadImageCountHook` counts them
  exactly in the main process, whatever the number of workers and
  processes, and logs the total at each epoch end. A dataset in
  ``test_mode`` (evaluation) does not load another index: mmengine raises
  there, after the warning names the file.
"""
import contextlib
import io
import warnings
from typing import Dict, Iterator, Optional, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from PIL import Image, ImageOps, UnidentifiedImageError

from simsiam_mm.registry import HOOKS, TRANSFORMS
from .seeding import REPLACEMENT, SampleKey


class BadImageError(ValueError):
    """An image file that cannot be decoded; the message names the file.

    Args:
        message (str): ``'<path>: <reason>'``. A single positional string so
            that PyTorch can rebuild the error in the main process when a
            DataLoader worker raises it.
        path (str, optional): The file. Defaults to None.
        reason (str, optional): Why it was rejected. Defaults to None.
    """

    def __init__(self,
                 message: str,
                 path: Optional[str] = None,
                 reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


def _bad(path: str, reason: str) -> BadImageError:
    return BadImageError(f'bad image {path}: {reason}', path, reason)


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL mode to ``uint8`` RGB; 16-bit modes are rescaled."""
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith('I;16'):
        grey = np.asarray(img).astype(np.float32) * (255. / 65535.)
        grey = np.rint(grey).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(img.convert('RGB'))


# ------------------------------------------------- checks before decoding


@contextlib.contextmanager
def _quiet_pil() -> Iterator[None]:
    """PIL warns about every oddity of a corrupt file ('Corrupt EXIF data',
    'Truncated File Read'); the error raised for it says what matters."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        yield


Problem = Optional[Tuple[str, str]]  # ('truncated' | 'corrupt', reason)


def _le(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start:start + size], 'little')


def _cut(reason: str) -> Problem:
    return 'truncated', reason


def _too_large(width: int, height: int) -> Problem:
    """A header claiming more pixels than PIL's decompression-bomb limit
    (twice ``PIL.Image.MAX_IMAGE_PIXELS``, what PIL refuses to open):
    OpenCV would allocate them (up to 2^30 pixels) before finding that the
    data is not there."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > 2 * limit:
        return 'corrupt', (f'its header claims {width} x {height} pixels, '
                           f'over twice PIL.Image.MAX_IMAGE_PIXELS')
    return None


_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> Problem:
    # The header segments carry their lengths: walk them to the first scan
    # (skipping whole any thumbnail an APP segment holds). The image ends
    # with an end-of-image marker after the last scan (entropy-coded data
    # stuffs every 0xFF byte, so FF D9 there is a real marker), found from
    # the end, where it is.
    pos, size = 2, len(data)
    while True:
        if pos + 4 > size:
            return _cut('its header segments run past the end')
        if data[pos] != 0xFF:
            return None  # not cut but corrupt: the decoders say why
        code = data[pos + 1]
        if code == 0xDA:  # start of scan
            break
        if code == 0xFF or code == 0x01 or 0xD0 <= code <= 0xD8:
            pos += 1 if code == 0xFF else 2  # fill byte, markers alone
            continue
        if code in _JPEG_SOF and pos + 9 <= size:  # frame: height, width
            large = _too_large(
                int.from_bytes(data[pos + 7:pos + 9], 'big'),
                int.from_bytes(data[pos + 5:pos + 7], 'big'))
            if large:
                return large
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], 'big')
    eoi = data.rfind(b'\xff\xd9')
    if eoi < pos or data.find(b'\xff\xda', eoi + 2) >= 0:
        return _cut('no end-of-image marker after the last scan')
    return None


def _png(data: bytes) -> Problem:
    if len(data) < 24:
        return _cut('its header is cut')
    large = _too_large(
        int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big'))
    if large:
        return large
    if data.rfind(b'IEND\xaeB`\x82') < 0:
        return _cut('no IEND chunk')
    return None


def _colour_table(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _gif(data: bytes) -> Problem:
    # Walk the blocks to the trailer: a byte 0x3B at the end proves nothing,
    # LZW data holds any byte.
    size = len(data)
    pos = 13 + _colour_table(data[10]) if size > 10 else size
    while pos < size:
        block = data[pos]
        if block == 0x3B:  # trailer
            return None
        if block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif block == 0x2C:  # image: descriptor, colours, LZW code size
            if pos + 10 > size:
                break
            pos += 10 + _colour_table(data[pos + 9]) + 1
        else:
            return None  # not cut but corrupt: the decoders say why
        while pos < size and data[pos]:  # sub-blocks, up to a 0 length
            pos += data[pos] + 1
        pos += 1
    return _cut('the blocks run past the end, no GIF trailer')


def _riff(data: bytes) -> Problem:
    if len(data) < 12:
        return _cut('its header is cut')
    declared = _le(data, 4, 4) + 8
    if len(data) < declared:
        return _cut(f'{len(data)} of the {declared} bytes its header '
                    'declares')
    return None


def _bmp(data: bytes) -> Problem:
    if len(data) < 30:
        return _cut('its header is cut')
    declared = _le(data, 2, 4)
    if len(data) < declared:
        return _cut(f'{len(data)} of the {declared} bytes its header '
                    'declares')
    if _le(data, 14, 4) >= 40 and _le(data, 30, 4) in (0, 3):  # BI_RGB
        width, bits = _le(data, 18, 4), _le(data, 28, 2)
        height = abs(int.from_bytes(data[22:26], 'little', signed=True))
        pixels = _le(data, 10, 4) + (bits * width + 31) // 32 * 4 * height
        if len(data) < pixels:
            return _cut(f'{len(data)} bytes, its pixels end at byte {pixels}')
    return None


def _tiff(data: bytes) -> Problem:
    order = 'little' if data[:2] == b'II' else 'big'
    size = len(data)
    ifd = int.from_bytes(data[4:8], order)
    if size < 8 or ifd + 2 > size:
        return _cut('its image directory lies past the end')
    entries = int.from_bytes(data[ifd:ifd + 2], order)
    if ifd + 2 + 12 * entries + 4 > size:
        return _cut('its image directory is cut')
    try:
        with _quiet_pil(), Image.open(io.BytesIO(data)) as img:
            tags = img.tag_v2
            offsets = tags.get(273) or tags.get(324)  # strips or tiles
            counts = tags.get(279) or tags.get(325)
        end = max(int(o) + int(c) for o, c in zip(offsets, counts))
    except Exception:  # PIL skips tags whose data lies past the end
        return _cut('no readable strip or tile extents')
    if size < end:
        return _cut(f'{size} bytes, its pixel data ends at byte {end}')
    return None


_CHECKS = (
    (b'\xff\xd8', 'JPEG', _jpeg),
    (b'\x89PNG\r\n\x1a\n', 'PNG', _png),
    (b'GIF8', 'GIF', _gif),
    (b'RIFF', 'WebP', _riff),
    (b'BM', 'BMP', _bmp),
    (b'II*\x00', 'TIFF', _tiff),
    (b'MM\x00*', 'TIFF', _tiff),
)


def file_problem(data: bytes) -> Optional[Tuple[str, str, str]]:
    """``(kind, format, reason)`` when the file's structure is wrong, kind
    ``'truncated'`` (it ends before its data does) or ``'corrupt'`` (its
    header claims an impossible size); None otherwise, and for formats
    without a check. Reads headers and the last bytes, not the pixels."""
    for magic, fmt, check in _CHECKS:
        if data.startswith(magic):
            problem = check(data)
            return None if problem is None else (problem[0], fmt, problem[1])
    return None


# ----------------------------------------------------------------- decoding


def decode_image(data: bytes,
                 path: str = '<bytes>',
                 channel_order: str = 'rgb') -> np.ndarray:
    """Decode an encoded image to ``uint8`` H x W x 3.

    A truncated file, or one whose header claims more pixels than PIL's
    decompression-bomb limit, is rejected first (see the module's policy
    and :func:`file_problem`). OpenCV
    decodes every common format straight to RGB; what it refuses (GIF,
    rarer TIFF and palette variants) goes through PIL, whose error gives
    the reason when the file really is bad.

    Args:
        data (bytes): The file's content.
        path (str): Name used in error messages. Defaults to ``'<bytes>'``.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.

    Returns:
        np.ndarray: ``uint8`` image, H x W x 3.

    Raises:
        BadImageError: The file is empty, not an image, truncated or
            corrupt.
    """
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', "
                         f'got {channel_order!r}')
    if len(data) == 0:
        raise _bad(path, 'empty file (0 bytes)')
    problem = file_problem(data)
    if problem is not None:
        kind, fmt, reason = problem
        raise _bad(path, f'{kind} {fmt} file ({reason})')
    flag = cv2.IMREAD_COLOR_RGB if channel_order == 'rgb' else cv2.IMREAD_COLOR
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:  # e.g. a corrupt header's size over OpenCV's limit
        img = None
    if img is None:
        img = _decode_with_pil(data, path)
        if channel_order == 'bgr':
            img = np.ascontiguousarray(img[..., ::-1])
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise _bad(path, f'decoded to an unusable array of shape {img.shape}')
    return img


def _decode_with_pil(data: bytes, path: str) -> np.ndarray:
    with _quiet_pil():
        try:
            pil = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise _bad(
                path, f'not an image file (format not recognised, '
                f'{len(data)} bytes starting with {data[:8]!r})') from None
        except Exception as error:  # PIL raises many types on a bad header
            raise _bad(path, f'corrupt header ({_describe(error)})') from None
        try:
            pil.load()
            return _pil_to_rgb(pil)
        except Exception as error:  # OSError, ValueError, SyntaxError, ...
            reason = _describe(error)
            kind = 'truncated' if 'truncated' in reason else 'corrupt'
            raise _bad(path, f'{kind} {pil.format} file ({reason})') from None


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


# ------------------------------------------------------------ the transform


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Load ``results['img_path']`` as ``uint8`` RGB, handling bad files.

    A drop-in for mmcv's ``LoadImageFromFile`` that yields RGB (every
    pipeline of this project works in RGB and normalises with RGB
    statistics) and follows the policy of :mod:`simsiam_mm.datasets.loading`
    for unusual and bad files.

    In skip mode a bad file's replacement is drawn by mmengine's
    ``BaseDataset._rand_another`` from numpy's global generator; this
    transform seeds that generator from the bad sample's key right before
    (and restores its state when the replacement is loaded), so the
    replacement is a function of (seed, epoch, index), and gives the
    replacement a key that counts the bad files skipped for it.

    **Required keys:** ``img_path``.

    **Optional keys:** ``sample_idx`` (set by mmengine's datasets).

    **Added keys:** ``img``, ``img_shape``, ``ori_shape``.

    **Modified keys:** ``sample_idx`` of a replacement sample (a
    :class:`~simsiam_mm.datasets.seeding.SampleKey`).

    Args:
        skip_bad_images (bool): Log and skip bad files (the dataset draws
            another index) instead of raising :class:`BadImageError`.
            Defaults to False.
        channel_order (str): ``'rgb'`` or ``'bgr'`` (mmcv's order, for
            pipelines written for it). Defaults to ``'rgb'``.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None (local files).
    """

    def __init__(self,
                 skip_bad_images: bool = False,
                 channel_order: str = 'rgb',
                 backend_args: Optional[dict] = None) -> None:
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', "
                             f'got {channel_order!r}')
        self.skip_bad_images = skip_bad_images
        self.channel_order = channel_order
        self.backend_args = backend_args
        self.num_skipped = 0  # by this process
        # (key of the skipped sample, numpy state to restore) between a
        # skip and the loading of its replacement, which mmengine's
        # BaseDataset does right after, in the same process and thread
        self._pending: Optional[Tuple[SampleKey, Optional[dict]]] = None

    def transform(self, results: Dict) -> Optional[Dict]:
        """Decode the file; None (skip) or raise for a bad one."""
        key = self._key(results)
        path = str(results['img_path'])
        try:
            try:
                data = fileio.get(path, backend_args=self.backend_args)
            except OSError as error:  # missing, permission, I/O error
                raise _bad(path, f'cannot read the file ({error})') from None
            img = decode_image(data, path, self.channel_order)
        except BadImageError as error:
            if not self.skip_bad_images:
                raise
            self._skip(error, key)
            return None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _key(self, results: Dict) -> Optional[SampleKey]:
        """The sample's key; a replacement's is derived from the skipped
        sample's (its ``sample_idx`` from the dataset is a plain int)."""
        index = results.get('sample_idx')
        pending, self._pending = self._pending, None
        if isinstance(index, SampleKey) or index is None:
            return index
        if pending is None:
            return SampleKey(index)
        skipped, numpy_state = pending
        if numpy_state is not None:
            np.random.set_state(numpy_state)
        key = skipped.replacement(index)
        results['sample_idx'] = key
        return key

    def _skip(self, error: BadImageError, key: Optional[SampleKey]) -> None:
        self.num_skipped += 1
        MMLogger.get_current_instance().warning(
            f'skipped {error}; another sample takes its place (the number '
            'skipped is logged at the end of the epoch)')
        if key is None:
            return
        numpy_state = None
        if key.seeded:  # mmengine's _rand_another: np.random.randint
            numpy_state = np.random.get_state()
            start = key.stream_start(REPLACEMENT)
            np.random.seed([start & 0xFFFFFFFF, start >> 32])
        self._pending = (key, numpy_state)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(skip_bad_images='
                f'{self.skip_bad_images}, channel_order='
                f'{self.channel_order!r})')


def skipped_in_batch(data_batch) -> int:
    """Bad files skipped to make the samples of a collated batch."""
    samples = data_batch.get('data_samples') if isinstance(data_batch,
                                                           dict) else None
    return sum(
        getattr(getattr(s, 'sample_idx', None), 'attempt', 0)
        for s in samples or ())


@HOOKS.register_module()
class BadImageCountHook(Hook):
    """Count the bad files skipped in training and log them every epoch.

    Each training sample's ``sample_idx`` says how many bad files
    :class:`SafeLoadImageFromFile` skipped before it (see there), so the
    count is taken in the main process from the batches trained on, summed
    over all processes at the epoch's end, and exact whatever the number of
    loader workers. The running total is kept in the message hub
    (``bad_images_skipped``), which checkpoints carry. A run resumed in the
    middle of an epoch counts that epoch's batches from the resume on.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self._epoch_count = 0

    def before_train_epoch(self, runner) -> None:
        self._epoch_count = 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._epoch_count += skipped_in_batch(data_batch)

    def after_train_epoch(self, runner) -> None:
        count = torch.tensor(self._epoch_count, dtype=torch.int64)
        all_reduce(count)  # no-op in one process
        count = int(count)
        hub = runner.message_hub
        total = int(hub.get_info('bad_images_skipped', 0)) + count
        hub.update_info('bad_images_skipped', total)
        if total:
            runner.logger.warning(
                f'Epoch {runner.epoch + 1}: {count} bad image file(s) '
                f'skipped and replaced, {total} since the start of training '
                '(each one is named in a warning above).')
