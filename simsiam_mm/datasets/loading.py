"""Decoding image files to RGB ``uint8``, with a clear error for bad ones.

Policy (documented here once, tested in ``tests/test_datasets.py``):

* Valid but unusual images are converted, not rejected: greyscale and
  palette images become three equal / looked-up channels; the alpha of RGBA
  and LA images is dropped (as PIL's ``convert('RGB')`` in torchvision's
  ``ImageFolder`` loader); 16-bit images are scaled to 8 bits
  (``v * 255 / 65535``, rounded); CMYK JPEGs (plain or Adobe-inverted) are
  converted with ``R = 255 * (1 - C) * (1 - K)`` and likewise for G, B. The
  EXIF orientation is applied.
* Bad files raise :class:`BadImageError` naming the file and the reason:
  missing or unreadable, empty (0 bytes), not an image, truncated, corrupt.
  In a DataLoader worker the error travels to the main process as usual,
  so the loader stops with that message instead of hanging.
* ``SafeLoadImageFromFile(skip_bad_images=True)`` logs the file and reason
  with a running count instead, and returns None; mmengine's
  ``BaseDataset`` (every mmpretrain dataset) then draws another index, so
  training continues. The count is per process (one per DataLoader
  worker) and is also stored in the ``MessageHub`` under
  ``'bad_images_skipped'``. A dataset in ``test_mode`` (evaluation) does
  not draw another index: mmengine raises there, after the warning names
  the file.
"""
import io
from typing import Dict, Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import MessageHub, MMLogger
from PIL import Image, ImageOps, UnidentifiedImageError

from simsiam_mm.registry import TRANSFORMS


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


def decode_image(data: bytes,
                 path: str = '<bytes>',
                 channel_order: str = 'rgb') -> np.ndarray:
    """Decode an encoded image to ``uint8`` H x W x 3.

    OpenCV decodes every common format straight to RGB; what it refuses
    (GIF, rarer TIFF and palette variants) goes through PIL, whose error
    gives the reason when the file really is bad.

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
    flag = cv2.IMREAD_COLOR_RGB if channel_order == 'rgb' else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None:
        img = _decode_with_pil(data, path)
        if channel_order == 'bgr':
            img = np.ascontiguousarray(img[..., ::-1])
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise _bad(path, f'decoded to an unusable array of shape {img.shape}')
    return img


def _decode_with_pil(data: bytes, path: str) -> np.ndarray:
    try:
        pil = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise _bad(
            path, f'not an image file (format not recognised, '
            f'{len(data)} bytes starting with {data[:8]!r})') from None
    try:
        pil.load()
        return _pil_to_rgb(pil)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            EOFError) as error:
        reason = str(error) or type(error).__name__
        if 'truncated' in reason:
            reason = f'truncated {pil.format} file ({reason})'
        else:
            reason = f'corrupt {pil.format} file ({reason})'
        raise _bad(path, reason) from None


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Load ``results['img_path']`` as ``uint8`` RGB, handling bad files.

    A drop-in for mmcv's ``LoadImageFromFile`` that yields RGB (every
    pipeline of this project works in RGB and normalises with RGB
    statistics) and follows the policy of :mod:`simsiam_mm.datasets.loading`
    for unusual and bad files.

    **Required keys:** ``img_path``.

    **Added keys:** ``img``, ``img_shape``, ``ori_shape``.

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
        self.num_skipped = 0

    def transform(self, results: Dict) -> Optional[Dict]:
        """Decode the file; None (skip) or raise for a bad one."""
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
            self._log_skip(error)
            return None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _log_skip(self, error: BadImageError) -> None:
        self.num_skipped += 1
        MessageHub.get_current_instance().update_info('bad_images_skipped',
                                                      self.num_skipped)
        MMLogger.get_current_instance().warning(
            f'skipped {error} ({self.num_skipped} bad image(s) skipped so '
            'far by this process)')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(skip_bad_images='
                f'{self.skip_bad_images}, channel_order='
                f'{self.channel_order!r})')
