"""The SimSiam view operations on ``uint8`` RGB images of shape H x W x 3.

Each function is one step of the MoCo v2 recipe that SimSiam uses, written
for OpenCV so that a whole view is built from a few vectorised calls on the
crop instead of a PIL <-> numpy round trip per step. The semantics follow
torchvision's PIL path, which the official SimSiam code runs; the docstrings
say where the arithmetic differs (rounding, and the blur's exact Gaussian
for PIL's box approximation; never the distribution). The functions are
pure: they return a new array and draw no random numbers; the parameters
come from :mod:`simsiam_mm.datasets.transforms`.
"""
import functools
import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: ``(top, left, height, width)`` of a crop window in pixels.
Box = Tuple[int, int, int, int]


def crop_resize(img: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Crop ``box`` out of ``img`` and resize it to ``size x size``.

    Bilinear with antialiasing like PIL's ``Image.resize(BILINEAR)`` (what
    torchvision's ``RandomResizedCrop`` calls on a PIL image): when the crop
    is larger than ``size`` along an axis the bilinear filter is widened by
    the scale factor along that axis. Downscaling goes through
    :func:`torch.nn.functional.interpolate` with ``antialias=True``, which
    matches PIL to within two grey levels; pure upscaling, where antialiasing
    is a no-op, through ``cv2.resize(INTER_LINEAR)``.

    Args:
        img (np.ndarray): ``uint8`` image, H x W x 3.
        box (Box): ``(top, left, height, width)`` of the crop.
        size (int): Output side length.

    Returns:
        np.ndarray: ``uint8`` image, size x size x 3.
    """
    top, left, height, width = box
    crop = img[top:top + height, left:left + width]
    if height <= size and width <= size:
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    # 1 x 3 x h x w view of the h x w x 3 crop (channels-last strides).
    chw = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)
    out = F.interpolate(
        chw[None], size=(size, size), mode='bilinear', antialias=True)
    # back to H x W x 3: OpenCV interleaves planes ~50x faster than numpy
    return cv2.merge(list(out[0].numpy()))


def _affine(img: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``clip(round(alpha * img + beta), 0, 255)`` in one OpenCV pass."""
    return cv2.addWeighted(img, alpha, img, 0., beta)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale all channels by ``factor``: a blend with a black image.

    Rounds to nearest where PIL's ``ImageEnhance.Brightness`` truncates.
    """
    return _affine(img, factor, 0.)


#: ITU-R 601-2 luma weights of R, G, B (PIL's ``convert('L')``).
LUMA = (0.299, 0.587, 0.114)
_LUMA_ROWS = np.tile(LUMA, (3, 1))


def _gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, H x W ``uint8`` (as PIL's ``convert('L')``)."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the mean grey level: ``mean + factor * (img - mean)``.

    As PIL's ``ImageEnhance.Contrast`` the mean is that of the luma image
    rounded to an integer; the result is rounded where PIL truncates.
    """
    mean = float(int(cv2.mean(_gray(img))[0] + 0.5))
    return _affine(img, factor, mean * (1. - factor))


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the luma image: ``gray + factor * (img - gray)``.

    As PIL's ``ImageEnhance.Color``, as one 3 x 3 colour matrix
    ``factor * I + (1 - factor) * luma weights``; the luma is not rounded
    before the blend and the result is rounded where PIL truncates.
    """
    matrix = factor * np.eye(3) + (1. - factor) * _LUMA_ROWS
    return cv2.transform(img, matrix.astype(np.float32))


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue by ``factor`` of a full turn, ``factor`` in [-0.5, 0.5].

    Converts to 8-bit HSV with a 256-level hue circle (``COLOR_RGB2HSV_FULL``,
    the same quantisation as PIL's ``HSV`` mode that torchvision's PIL path
    uses), adds ``round(factor * 256)`` modulo 256 and converts back. The
    shift is an explicit modulo on ``int``, so negative factors are exact
    (mmcv's ``adjust_hue`` casts a negative float to ``uint8``, which
    overflows under numpy 2).
    """
    shift = int(round(factor * 256)) % 256
    if shift == 0:
        return img.copy()
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    hue = hsv[..., 0]
    np.add(hue, shift, out=hue, casting='unsafe')  # uint8 wraps mod 256
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def to_grayscale(img: np.ndarray) -> np.ndarray:
    """Luma replicated to three channels (torchvision ``RandomGrayscale``)."""
    return cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2RGB)


def blur_kernel_size(sigma: float) -> int:
    """Odd kernel side covering +- 3 sigma (99.7 % of the Gaussian mass)."""
    return 2 * math.ceil(3 * sigma) + 1


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels.

    The official code calls PIL's ``ImageFilter.GaussianBlur(radius=sigma)``
    where ``radius`` is the standard deviation; PIL approximates the
    Gaussian by three box passes whose support is about +- 3 sigma. Here the
    exact Gaussian truncated at +- 3 sigma (:func:`blur_kernel_size`) is
    applied separably, with the edge pixels replicated as PIL does.
    """
    ksize = blur_kernel_size(sigma)
    kernel = cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F)
    return cv2.sepFilter2D(
        img, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)


def hflip(img: np.ndarray) -> np.ndarray:
    """Mirror left-right."""
    return cv2.flip(img, 1)


@functools.lru_cache(maxsize=8)
def _normalise_tables(mean: Tuple[float, ...],
                      std: Tuple[float, ...]) -> Tuple[np.ndarray, ...]:
    """Per channel, the 256 values ``(v - mean) / std`` as ``float32``."""
    levels = np.arange(256, dtype=np.float64)
    return tuple(((levels - m) / s).astype(np.float32).reshape(1, 256)
                 for m, s in zip(mean, std))


def to_tensor(img: np.ndarray,
              mean: Optional[Sequence[float]] = None,
              std: Optional[Sequence[float]] = None) -> torch.Tensor:
    """H x W x 3 ``uint8`` array to a 3 x H x W tensor.

    Args:
        img (np.ndarray): ``uint8`` image, H x W x 3.
        mean (Sequence[float], optional): Per-channel mean on the 0-255
            scale. With ``std``, the output is ``(img - mean) / std`` in
            ``float32``, looked up in a 256-entry table per channel while
            the planes are written out. Defaults to None: the output stays
            ``uint8``.
        std (Sequence[float], optional): Per-channel std on the 0-255 scale.
            Defaults to None.

    Returns:
        torch.Tensor: 3 x H x W, ``uint8`` or normalised ``float32``.
    """
    planes = cv2.split(img)  # H x W x 3 -> 3 x H x W, vectorised
    if mean is None:
        return torch.from_numpy(np.stack(planes))
    tables = _normalise_tables(tuple(mean), tuple(std))
    out = np.empty((3, ) + img.shape[:2], np.float32)
    for plane, table, channel in zip(planes, tables, out):
        cv2.LUT(plane, table, dst=channel)
    return torch.from_numpy(out)
