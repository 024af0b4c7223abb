"""SimSiam's two-view augmentation as one registered transform.

Sec. 4 of arXiv 2011.10566 and the official code: every image gives two
views x1, x2, each drawn independently from RandomResizedCrop(224, scale
(0.2, 1)), ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, RandomGrayscale
p 0.2, GaussianBlur sigma ~ U[0.1, 2] with p 0.5, horizontal flip p 0.5 and
ImageNet normalisation. Appendix D (CIFAR-10): the same at 32 px, no blur.

The recipe's parameters live in :class:`ViewRecipe`; one view's random draw
in :class:`ViewParams`, made from :data:`NUM_UNIFORMS` uniforms by
:func:`view_params_from_uniforms` and applied by :func:`apply_view`. The
uniforms come from the sample's key (:mod:`simsiam_mm.datasets.seeding`:
a function of seed, epoch, index and view) or, without one, from torch's
generator (:func:`sample_view_params`). :class:`SimSiamViews` is those
calls per view; the statistical tests drive the same functions through the
transform, with both sources.
"""
import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from simsiam_mm.registry import TRANSFORMS
from . import functional as VF
from .seeding import SampleKey, view_uniforms

#: ImageNet statistics on the 0-255 scale, RGB order.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

#: Order of the colour-jitter operations in :attr:`ViewParams.order`.
JITTER_OPS = ('brightness', 'contrast', 'saturation', 'hue')

_CROP_ATTEMPTS = 10


@dataclasses.dataclass(frozen=True)
class ViewRecipe:
    """The distribution one SimSiam view is drawn from.

    "RandomResizedCrop with scale in [0.2, 1.0] ... color jittering with
    {brightness, contrast, saturation, hue} strength of {0.4, 0.4, 0.4, 0.1}
    with an applying probability of 0.8, and random greyscale conversion
    with an applying probability of 0.2 ... Gaussian blurring ... and
    horizontal flip" (MoCo v2 recipe, Sec. 4; blur p 0.5 and sigma in
    [0.1, 2.0] from the official code). The defaults are the ImageNet
    recipe; :data:`CIFAR_RECIPE` is appendix D's.

    Args:
        size (int): Output side in pixels. Defaults to 224.
        scale (Tuple[float, float]): Range of the crop's area as a fraction
            of the image's. Defaults to (0.2, 1.0).
        ratio (Tuple[float, float]): Range of the crop's aspect ratio
            (width / height), sampled log-uniformly. Defaults to (3/4, 4/3).
        jitter_prob (float): Probability of colour jitter. Defaults to 0.8.
        brightness (float): Brightness factor ~ U[max(0, 1 - b), 1 + b].
            Defaults to 0.4.
        contrast (float): Contrast factor, as brightness. Defaults to 0.4.
        saturation (float): Saturation factor, as brightness. Defaults to
            0.4.
        hue (float): Hue shift ~ U[-hue, hue] of a full turn, hue <= 0.5.
            Defaults to 0.1.
        gray_prob (float): Probability of greyscale. Defaults to 0.2.
        blur_prob (float): Probability of Gaussian blur. Defaults to 0.5.
        blur_sigma (Tuple[float, float]): Blur sigma ~ U[lo, hi] pixels.
            Defaults to (0.1, 2.0).
        flip_prob (float): Probability of a horizontal flip. Defaults to
            0.5.
    """

    size: int = 224
    scale: Tuple[float, float] = (0.2, 1.0)
    ratio: Tuple[float, float] = (3. / 4., 4. / 3.)
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    gray_prob: float = 0.2
    blur_prob: float = 0.5
    blur_sigma: Tuple[float, float] = (0.1, 2.0)
    flip_prob: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f'scale must satisfy 0 < lo <= hi <= 1, '
                             f'got {self.scale}')
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f'ratio must satisfy 0 < lo <= hi, '
                             f'got {self.ratio}')
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {self.hue}')
        for name in ('brightness', 'contrast', 'saturation'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0')
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f'blur_sigma must satisfy 0 < lo <= hi, '
                             f'got {self.blur_sigma}')

    def factor_range(self, op: str) -> Tuple[float, float]:
        """``(lo, hi)`` of the uniform factor of jitter operation ``op``."""
        strength = getattr(self, op)
        if op == 'hue':
            return -strength, strength
        return max(0., 1. - strength), 1. + strength


#: Appendix D: "RandomResizedCrop(32, scale (0.2, 1.0)) ... no blur".
CIFAR_RECIPE = ViewRecipe(size=32, blur_prob=0.)


@dataclasses.dataclass(frozen=True)
class ViewParams:
    """One draw from a :class:`ViewRecipe`.

    Args:
        crop (Tuple[int, int, int, int]): ``(top, left, height, width)`` in
            pixels of the source image.
        jitter (bool): Whether colour jitter is applied.
        order (Tuple[int, ...]): Permutation of ``range(4)``, indices into
            :data:`JITTER_OPS`: the order the jitter operations run in.
        factors (Tuple[float, float, float, float]): Brightness, contrast,
            saturation factors and hue shift, in :data:`JITTER_OPS` order.
        grayscale (bool): Whether the view is turned grey.
        blur_sigma (float, optional): Blur sigma; None when not blurred.
        flip (bool): Whether the view is mirrored.
    """

    crop: Tuple[int, int, int, int]
    jitter: bool
    order: Tuple[int, ...]
    factors: Tuple[float, float, float, float]
    grayscale: bool
    blur_sigma: Optional[float]
    flip: bool


def _crop_from_uniforms(u: Sequence[float], height: int, width: int,
                        scale: Tuple[float, float],
                        ratio: Tuple[float, float]) -> VF.Box:
    """torchvision's ``RandomResizedCrop.get_params`` on given uniforms.

    Up to ten attempts draw an area fraction ~ U[scale] and a log-uniform
    aspect ratio and keep the first crop that fits; otherwise the largest
    centred crop with the aspect ratio clamped into ``ratio``. ``u`` holds
    ``2 * 10 + 2`` uniforms in [0, 1): two per attempt and two for the
    offset.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for attempt in range(_CROP_ATTEMPTS):
        target_area = area * (
            scale[0] + (scale[1] - scale[0]) * u[2 * attempt])
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[2 * attempt + 1])
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(u[-2] * (height - h + 1))
            left = int(u[-1] * (width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


_NUM_CROP_UNIFORMS = 2 * _CROP_ATTEMPTS + 2
# Layout of the uniforms one view consumes, after the crop's.
_JITTER, _ORDER, _FACTORS, _GRAY, _BLUR, _SIGMA, _FLIP = (
    _NUM_CROP_UNIFORMS + offset for offset in (0, 1, 5, 9, 10, 11, 12))
#: Uniforms one view consumes.
NUM_UNIFORMS = _FLIP + 1


def _uniforms(n: int, generator: Optional[torch.Generator]) -> List[float]:
    return torch.rand(n, dtype=torch.float64, generator=generator).tolist()


def sample_crop(height: int,
                width: int,
                scale: Tuple[float, float] = (0.2, 1.0),
                ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                generator: Optional[torch.Generator] = None) -> VF.Box:
    """Draw a RandomResizedCrop window for an image of ``height x width``.

    Returns:
        Tuple[int, int, int, int]: ``(top, left, height, width)``.
    """
    return _crop_from_uniforms(
        _uniforms(_NUM_CROP_UNIFORMS, generator), height, width, scale, ratio)


def sample_view_params(
        height: int,
        width: int,
        recipe: ViewRecipe,
        generator: Optional[torch.Generator] = None) -> ViewParams:
    """Draw one view's parameters for an image of ``height x width``.

    All randomness of a view is one ``torch.rand`` call, so it follows
    torch's generator (``torch.manual_seed``, or ``generator``).
    :class:`SimSiamViews` draws from a :class:`~simsiam_mm.datasets.
    seeding.SampleKey` instead when the sample has one (see
    :func:`view_params_from_uniforms`).

    Args:
        height (int): Image height in pixels.
        width (int): Image width in pixels.
        recipe (ViewRecipe): The distribution.
        generator (torch.Generator, optional): Defaults to torch's global
            generator.

    Returns:
        ViewParams: The draw.
    """
    return view_params_from_uniforms(
        _uniforms(NUM_UNIFORMS, generator), height, width, recipe)


def view_params_from_uniforms(u: Sequence[float], height: int, width: int,
                              recipe: ViewRecipe) -> ViewParams:
    """One view's parameters from :data:`NUM_UNIFORMS` uniforms on [0, 1).

    The layout: 22 for the crop (two per attempt, then the offset), then
    jitter coin, four keys whose ranking is the jitter order (a uniformly
    random permutation, as ``torch.randperm(4)`` in ``ColorJitter``), four
    factors, greyscale coin, blur coin, sigma, flip coin. The device
    preprocessor reads the same layout, so a key gives the same parameters
    on either side.
    """
    crop = _crop_from_uniforms(u[:_NUM_CROP_UNIFORMS], height, width,
                               recipe.scale, recipe.ratio)
    keys = u[_ORDER:_ORDER + 4]
    order = tuple(sorted(range(4), key=keys.__getitem__))
    factors = []
    for offset, op in enumerate(JITTER_OPS):
        lo, hi = recipe.factor_range(op)
        factors.append(lo + (hi - lo) * u[_FACTORS + offset])
    sigma_lo, sigma_hi = recipe.blur_sigma
    blur = u[_BLUR] < recipe.blur_prob
    return ViewParams(
        crop=crop,
        jitter=u[_JITTER] < recipe.jitter_prob,
        order=order,
        factors=tuple(factors),
        grayscale=u[_GRAY] < recipe.gray_prob,
        blur_sigma=(sigma_lo +
                    (sigma_hi - sigma_lo) * u[_SIGMA]) if blur else None,
        flip=u[_FLIP] < recipe.flip_prob)


_JITTER_FNS = (VF.adjust_brightness, VF.adjust_contrast, VF.adjust_saturation,
               VF.adjust_hue)
_NEUTRAL_FACTORS = (1., 1., 1., 0.)


def apply_view(img: np.ndarray, params: ViewParams, size: int) -> np.ndarray:
    """Build one view of ``img`` (``uint8`` RGB, H x W x 3) from ``params``.

    The steps run in the recipe's order: crop and resize, colour jitter
    (its four operations in ``params.order``; an operation whose factor is
    neutral is skipped), greyscale, blur, flip.

    Returns:
        np.ndarray: ``uint8`` RGB view, size x size x 3.
    """
    view = VF.crop_resize(img, params.crop, size)
    if params.jitter:
        for index in params.order:
            factor = params.factors[index]
            if factor != _NEUTRAL_FACTORS[index]:
                view = _JITTER_FNS[index](view, factor)
    if params.grayscale:
        view = VF.to_grayscale(view)
    if params.blur_sigma is not None:
        view = VF.gaussian_blur(view, params.blur_sigma)
    if params.flip:
        view = VF.hflip(view)
    return view


def as_rgb_uint8(img: np.ndarray, context: str) -> np.ndarray:
    """Check ``img`` is ``uint8`` H x W x 3 (a grey H x W is expanded)."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise TypeError(f'{context} expects a uint8 numpy image, got '
                        f'{getattr(img, "dtype", type(img))}')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{context} expects an H x W x 3 RGB image, got '
                         f'shape {img.shape}')
    return img


@TRANSFORMS.register_module()
class SimSiamViews(BaseTransform):
    """Two (or ``num_views``) independent SimSiam views of an RGB image.

    "Two randomly augmented views x1 and x2 from an image x" (Sec. 3): each
    view is drawn independently from :class:`ViewRecipe` (the constructor
    takes its fields). The views are built with OpenCV on the crop, not with
    a PIL round trip per step (see :mod:`simsiam_mm.datasets.functional`
    and ``benchmarks/bench_pipeline.py``).

    Where this differs from torchvision's PIL pipeline (the official code's):
    intermediate values are rounded where PIL truncates; the blur is the
    exact Gaussian truncated at 3 sigma where PIL uses three box passes; the
    hue circle has 256 levels where PIL mixes 255 and 256. The parameter
    distributions are the same.

    The random draws: when ``results['sample_idx']`` is a seeded
    :class:`~simsiam_mm.datasets.seeding.SampleKey` (the configs'
    ``SeededSampler``), view ``v`` is drawn from the stream of (seed,
    epoch, index, v), whichever process runs the transform; otherwise from
    torch's global generator.

    **Required keys:** ``img`` (``uint8`` RGB, H x W x 3, e.g. from
    :class:`SafeLoadImageFromFile` or mmpretrain's ``CIFAR10``).

    **Optional keys:** ``sample_idx`` (set by mmengine's datasets).

    **Modified keys:** ``img`` becomes a list of ``num_views`` 3 x size x
    size tensors; ``img_shape``.

    **Added keys:** ``view_params`` (list of :class:`ViewParams`) when
    ``record_params``.

    Args:
        num_views (int): Views per image. Defaults to 2.
        normalize (bool): If True each view is a ``float32`` tensor
            normalised with ``mean``/``std``; if False a ``uint8`` RGB tensor
            and the model's data preprocessor normalises on the device (as
            the configs do: 4x less data per batch). Defaults to False.
        mean (Sequence[float]): RGB mean, 0-255 scale. Defaults to ImageNet.
        std (Sequence[float]): RGB std, 0-255 scale. Defaults to ImageNet.
        record_params (bool): Keep the draws in ``view_params``. Defaults
            to False.
        **recipe: Fields of :class:`ViewRecipe` (``size``, ``scale``,
            ``ratio``, ``jitter_prob``, ``brightness``, ``contrast``,
            ``saturation``, ``hue``, ``gray_prob``, ``blur_prob``,
            ``blur_sigma``, ``flip_prob``); the defaults are the ImageNet
            recipe.

    Examples:
        >>> views = SimSiamViews(size=32, blur_prob=0.)  # appendix D
        >>> out = views(dict(img=np.zeros((40, 50, 3), np.uint8)))
        >>> [v.shape for v in out['img']]
        [torch.Size([3, 32, 32]), torch.Size([3, 32, 32])]
    """

    def __init__(self,
                 num_views: int = 2,
                 normalize: bool = False,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 record_params: bool = False,
                 **recipe) -> None:
        if num_views < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        for key in ('scale', 'ratio', 'blur_sigma'):
            if key in recipe:  # configs give lists
                recipe[key] = tuple(recipe[key])
        self.recipe = ViewRecipe(**recipe)
        self.num_views = num_views
        self.normalize = normalize
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.record_params = record_params

    def transform(self, results: Dict) -> Dict:
        """Replace ``results['img']`` by the list of views."""
        img = as_rgb_uint8(results['img'], type(self).__name__)
        height, width = img.shape[:2]
        mean, std = (self.mean, self.std) if self.normalize else (None, None)
        key = results.get('sample_idx')
        if isinstance(key, SampleKey) and key.seeded:
            draws = view_uniforms(key, self.num_views, NUM_UNIFORMS).tolist()
        else:
            draws = [
                _uniforms(NUM_UNIFORMS, None) for _ in range(self.num_views)
            ]
        views: List[torch.Tensor] = []
        drawn: List[ViewParams] = []
        for u in draws:
            params = view_params_from_uniforms(u, height, width, self.recipe)
            view = apply_view(img, params, self.recipe.size)
            views.append(VF.to_tensor(view, mean, std))
            drawn.append(params)
        results['img'] = views
        results['img_shape'] = (self.recipe.size, self.recipe.size)
        if self.record_params:
            results['view_params'] = drawn
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_views={self.num_views}, '
                f'recipe={self.recipe}, normalize={self.normalize})')
