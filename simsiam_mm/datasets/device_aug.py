"""SimSiam's view augmentation for a whole batch on the training device.

When the CPU workers cannot keep up with the accelerators, the loader can
hand over fixed-size ``uint8`` images (CIFAR as stored, or ImageNet resized
to e.g. 256 x 256) and :class:`SimSiamDeviceAugPreprocessor` draws the two
views on the device, every sample with its own random parameters, from the
same :class:`~simsiam_mm.datasets.transforms.ViewRecipe` as the CPU
transform. It is a data preprocessor: ``model.data_preprocessor`` in a
config, and the model receives ``inputs`` as a list of two normalised
N x 3 x size x size batches, as from mmpretrain's
``SelfSupDataPreprocessor``.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from torchvision.ops import roi_align

from simsiam_mm.registry import MODELS
from .functional import LUMA
from .seeding import VIEW, SampleKey, stream_uniforms
# the uniforms' layout, shared with the CPU transform
from .transforms import (_BLUR, _FACTORS, _FLIP, _GRAY, _JITTER,
                         _NUM_CROP_UNIFORMS, _ORDER, _SIGMA, IMAGENET_MEAN,
                         IMAGENET_STD, JITTER_OPS, NUM_UNIFORMS, ViewRecipe)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W -> N x 1 x H x W luma."""
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def _per_sample(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-sample ``x * factor`` on [0, 1] images, clamped."""
    return (x * _per_sample(factor)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-sample blend with the image's mean luma, clamped."""
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    factor = _per_sample(factor)
    return (factor * x + (1 - factor) * mean).clamp_(0, 1)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-sample blend with the luma image, clamped."""
    factor = _per_sample(factor)
    return (factor * x + (1 - factor) * _gray(x)).clamp_(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB in [0, 1] to HSV, all channels in [0, 1]."""
    r, g, b = x.unbind(1)
    maxc, argmax = x.max(dim=1)
    minc = x.amin(dim=1)
    delta = maxc - minc
    sat = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12),
                      torch.zeros_like(maxc))
    safe = delta.clamp_min(1e-12)
    hue = torch.where(
        argmax == 0, (g - b) / safe,
        torch.where(argmax == 1, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = torch.where(delta > 0, (hue / 6) % 1, torch.zeros_like(hue))
    return torch.stack((hue, sat, maxc), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    hue, sat, val = x.unbind(1)
    channels = []
    for n in (5, 3, 1):  # R, G, B
        k = (n + hue * 6) % 6
        ramp = torch.minimum(k, 4 - k).clamp(0, 1)
        channels.append(val - val * sat * ramp)
    return torch.stack(channels, dim=1)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-sample hue rotation by ``factor`` of a full turn (may be < 0)."""
    hsv = rgb_to_hsv(x)
    hue = (hsv[:, 0] + factor.view(-1, 1, 1)) % 1
    return hsv_to_rgb(torch.cat((hue.unsqueeze(1), hsv[:, 1:]), dim=1))


_JITTER_FNS = (adjust_brightness, adjust_contrast, adjust_saturation,
               adjust_hue)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor,
                  ksize: int) -> torch.Tensor:
    """Per-sample separable Gaussian blur, edge pixels replicated.

    Args:
        x (torch.Tensor): N x C x H x W.
        sigma (torch.Tensor): N sigmas in pixels.
        ksize (int): Odd kernel side, the same for every sample.
    """
    n, c, h, w = x.shape
    offsets = torch.arange(ksize, device=x.device, dtype=x.dtype)
    offsets = offsets - ksize // 2
    kernel = torch.exp(-offsets**2 / (2 * sigma.view(-1, 1)**2))  # N x K
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    kernel = kernel.repeat_interleave(c, dim=0)  # NC x K
    pad = ksize // 2
    flat = x.reshape(1, n * c, h, w)
    flat = F.pad(flat, (pad, pad, pad, pad), mode='replicate')
    flat = F.conv2d(flat, kernel.view(n * c, 1, ksize, 1), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, ksize), groups=n * c)
    return flat.view(n, c, h, w)


def sample_batch_params(
        recipe: ViewRecipe,
        heights: torch.Tensor,
        widths: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        uniforms: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """Draw one view's parameters for each of N images, on their device.

    The same distribution as :func:`~simsiam_mm.datasets.transforms.
    sample_view_params`, vectorised, from the same layout of
    :data:`~simsiam_mm.datasets.transforms.NUM_UNIFORMS` uniforms per
    image (:func:`~simsiam_mm.datasets.transforms.
    view_params_from_uniforms`): the same uniforms give the same
    parameters as the CPU transform. The ten RandomResizedCrop attempts of
    all samples are evaluated at once and each sample keeps its first crop
    that fits (else the centred fallback).

    Args:
        recipe (ViewRecipe): The distribution.
        heights (torch.Tensor): N image heights (the crops are drawn in
            these coordinates).
        widths (torch.Tensor): N image widths.
        generator (torch.Generator, optional): On the same device; used
            when ``uniforms`` is None.
        uniforms (torch.Tensor, optional): N x NUM_UNIFORMS ``float64``
            uniforms on [0, 1) (e.g. from the samples' keys). Defaults to
            None: drawn from ``generator``.

    Returns:
        Dict[str, torch.Tensor]: ``crop`` (N x 4 float: top, left, height,
        width), ``jitter``, ``grayscale``, ``blur``, ``flip`` (N bool),
        ``order`` (N x 4 long, a permutation of :data:`JITTER_OPS` indices),
        ``factors`` (N x 4), ``blur_sigma`` (N).
    """
    device = heights.device
    n = heights.numel()
    u = uniforms
    if u is None:
        u = torch.rand(
            n,
            NUM_UNIFORMS,
            dtype=torch.float64,
            device=device,
            generator=generator)
    u = u.to(device=device, dtype=torch.float64)
    attempts = _NUM_CROP_UNIFORMS // 2 - 1
    heights, widths = heights.double(), widths.double()
    area = (heights * widths).view(n, 1)
    lo, hi = recipe.scale
    scale = lo + (hi - lo) * u[:, 0:2 * attempts:2]
    log_lo, log_hi = math.log(recipe.ratio[0]), math.log(recipe.ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1:2 * attempts:2])
    crop_w = torch.round(torch.sqrt(area * scale * aspect))
    crop_h = torch.round(torch.sqrt(area * scale / aspect))
    fits = ((crop_w > 0) & (crop_w <= widths.view(n, 1)) & (crop_h > 0)
            & (crop_h <= heights.view(n, 1)))
    first = fits.int().argmax(dim=1, keepdim=True)
    found = fits.any(dim=1)
    crop_w = crop_w.gather(1, first).view(n)
    crop_h = crop_h.gather(1, first).view(n)
    # Fallback: the largest centred crop with the ratio clamped into range.
    in_ratio = widths / heights
    fb_w = torch.where(
        in_ratio < recipe.ratio[0], widths,
        torch.where(in_ratio > recipe.ratio[1],
                    torch.round(heights * recipe.ratio[1]), widths))
    fb_h = torch.where(in_ratio < recipe.ratio[0],
                       torch.round(widths / recipe.ratio[0]), heights)
    crop_w = torch.where(found, crop_w, fb_w)
    crop_h = torch.where(found, crop_h, fb_h)
    offset = _NUM_CROP_UNIFORMS - 2
    top = torch.where(found,
                      torch.floor(u[:, offset] * (heights - crop_h + 1)),
                      torch.div(heights - crop_h, 2, rounding_mode='floor'))
    left = torch.where(found,
                       torch.floor(u[:, offset + 1] * (widths - crop_w + 1)),
                       torch.div(widths - crop_w, 2, rounding_mode='floor'))

    lo_hi = torch.tensor([recipe.factor_range(op) for op in JITTER_OPS],
                         dtype=torch.float64,
                         device=device)
    factors = lo_hi[:, 0] + (lo_hi[:, 1] - lo_hi[:, 0]) * \
        u[:, _FACTORS:_FACTORS + 4]
    sigma_lo, sigma_hi = recipe.blur_sigma
    return dict(
        crop=torch.stack((top, left, crop_h, crop_w), dim=1).float(),
        jitter=u[:, _JITTER] < recipe.jitter_prob,
        order=u[:, _ORDER:_ORDER + 4].argsort(dim=1),
        factors=factors.float(),
        grayscale=u[:, _GRAY] < recipe.gray_prob,
        blur=u[:, _BLUR] < recipe.blur_prob,
        blur_sigma=(sigma_lo + (sigma_hi - sigma_lo) * u[:, _SIGMA]).float(),
        flip=u[:, _FLIP] < recipe.flip_prob)


def apply_batch_params(images: torch.Tensor, params: Dict[str, torch.Tensor],
                       size: int, scale_yx: torch.Tensor,
                       blur_ksize: int) -> torch.Tensor:
    """Build one view per image from :func:`sample_batch_params`.

    Args:
        images (torch.Tensor): N x 3 x H x W float RGB in [0, 1].
        params (Dict[str, torch.Tensor]): The draws.
        size (int): Output side.
        scale_yx (torch.Tensor): N x 2 factors from the coordinates the
            crops were drawn in to the pixels of ``images``.
        blur_ksize (int): Blur kernel side.

    Returns:
        torch.Tensor: N x 3 x size x size float RGB in [0, 1].
    """
    n = images.shape[0]
    top, left, height, width = params['crop'].unbind(1)
    sy, sx = scale_yx.unbind(1)
    boxes = torch.stack((torch.arange(
        n, device=images.device, dtype=images.dtype), left * sx, top * sy,
                         (left + width) * sx, (top + height) * sy),
                        dim=1)
    # Bilinear at the bin centres, averaged over ceil(bin size) samples per
    # axis when downscaling: an antialiased resize of each crop.
    x = roi_align(
        images,
        boxes, (size, size),
        spatial_scale=1.,
        sampling_ratio=-1,
        aligned=True)
    order, factors = params['order'], params['factors']
    for position in range(len(JITTER_OPS)):
        for op, fn in enumerate(_JITTER_FNS):
            chosen = params['jitter'] & (order[:, position] == op)
            index = chosen.nonzero().squeeze(1)
            if index.numel():
                x[index] = fn(x[index], factors[index, op])
    gray = _gray(x).expand_as(x)
    x = torch.where(params['grayscale'].view(-1, 1, 1, 1), gray, x)
    index = params['blur'].nonzero().squeeze(1)
    if index.numel():
        x[index] = gaussian_blur(x[index], params['blur_sigma'][index],
                                 blur_ksize)
    return torch.where(params['flip'].view(-1, 1, 1, 1), x.flip(-1), x)


@MODELS.register_module()
class SimSiamDeviceAugPreprocessor(BaseDataPreprocessor):
    """Two SimSiam views per image, drawn on the training device.

    "Two randomly augmented views x1 and x2 from an image x" (Sec. 3), with
    the augmentation of Sec. 4 (:class:`~simsiam_mm.datasets.transforms.
    ViewRecipe`) applied to a whole batch: crop and resize with RoIAlign,
    colour jitter in a random order per sample, greyscale, per-sample
    Gaussian blur, flip, then ``(x - mean) / std``. Unlike the CPU
    transform it stays in float between steps (no 8-bit rounding).

    The loader must yield fixed-size ``uint8`` images (CHW tensors, e.g.
    ``PackInputs`` after ``SafeLoadImageFromFile`` and a fixed ``Resize``).
    When the data samples carry ``ori_shape`` and ``use_ori_shape`` is set,
    crops are drawn in the original image's coordinates and mapped to the
    resized one, so the crop distribution (aspect ratios included) is that of
    the full image.

    The random draws are per sample: when every data sample's
    ``sample_idx`` is a seeded :class:`~simsiam_mm.datasets.seeding.
    SampleKey` (the configs' ``SeededSampler``), view ``v`` of a sample is
    drawn from the stream of (seed, epoch, index, v), the stream the CPU
    transform uses: the same parameters whatever the batch, the number of
    processes or the device. Otherwise the whole batch draws from torch's
    generator on the device.

    Args:
        num_views (int): Views per image. Defaults to 2.
        mean (Sequence[float]): RGB mean, 0-255 scale. Defaults to ImageNet.
        std (Sequence[float]): RGB std, 0-255 scale. Defaults to ImageNet.
        to_rgb (bool): Flip BGR inputs to RGB first. Defaults to False.
        use_ori_shape (bool): See above. Defaults to True.
        blur_ksize (int, optional): Blur kernel side; defaults to +- 3 times
            the largest sigma.
        non_blocking (bool): Asynchronous host-to-device copies. Defaults
            to False.
        **recipe: Fields of :class:`ViewRecipe`; ImageNet by default.

    Examples:
        >>> pre = SimSiamDeviceAugPreprocessor(size=32, blur_prob=0.)
        >>> data = dict(inputs=[torch.zeros(3, 40, 40, dtype=torch.uint8)])
        >>> [v.shape for v in pre(data, training=True)['inputs']]
        [torch.Size([1, 3, 32, 32]), torch.Size([1, 3, 32, 32])]
    """

    def __init__(self,
                 num_views: int = 2,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 to_rgb: bool = False,
                 use_ori_shape: bool = True,
                 blur_ksize: Optional[int] = None,
                 non_blocking: bool = False,
                 **recipe) -> None:
        super().__init__(non_blocking=non_blocking)
        for key in ('scale', 'ratio', 'blur_sigma'):
            if key in recipe:
                recipe[key] = tuple(recipe[key])
        self.recipe = ViewRecipe(**recipe)
        self.num_views = num_views
        self.to_rgb = to_rgb
        self.use_ori_shape = use_ori_shape
        self.blur_ksize = blur_ksize or 2 * math.ceil(
            3 * self.recipe.blur_sigma[1]) + 1
        self.register_buffer('mean',
                             torch.tensor(mean).view(1, 3, 1, 1) / 255., False)
        self.register_buffer('std',
                             torch.tensor(std).view(1, 3, 1, 1) / 255., False)

    def _images(self, inputs) -> torch.Tensor:
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        if inputs.dtype != torch.uint8:
            raise TypeError(f'{type(self).__name__} expects uint8 images, '
                            f'got {inputs.dtype}')
        if self.to_rgb:
            inputs = inputs.flip(1)
        return inputs.float() / 255.

    def _source_shapes(self, images: torch.Tensor,
                       data_samples) -> Tuple[torch.Tensor, torch.Tensor]:
        """Heights/widths to draw crops in, and the factors to pixels."""
        n, _, h, w = images.shape
        shape = torch.tensor([[h, w]] * n, dtype=torch.float64)
        if self.use_ori_shape and data_samples is not None:
            for i, sample in enumerate(data_samples):
                ori = getattr(sample, 'ori_shape', None)
                if ori is not None:
                    shape[i] = torch.tensor(ori[:2], dtype=torch.float64)
        shape = shape.to(images.device)
        pixels = torch.tensor([h, w], device=images.device)
        return shape, (pixels / shape).float()

    @staticmethod
    def _keys(data_samples, n: int) -> Optional[List[SampleKey]]:
        """The samples' seeded keys, or None if any sample lacks one."""
        if data_samples is None or len(data_samples) != n:
            return None
        keys = [getattr(s, 'sample_idx', None) for s in data_samples]
        if all(isinstance(k, SampleKey) and k.seeded for k in keys):
            return keys
        return None

    def augment(self,
                images: torch.Tensor,
                data_samples=None,
                generator: Optional[torch.Generator] = None,
                return_params: bool = False):
        """Draw ``num_views`` normalised views of N x 3 x H x W [0, 1] RGB.

        ``generator`` is used only when the samples carry no seeded keys.

        Returns:
            List[torch.Tensor] or tuple: The views; with ``return_params``
            also the list of parameter dicts of each view.
        """
        shape, scale_yx = self._source_shapes(images, data_samples)
        keys = self._keys(data_samples, images.shape[0])
        views: List[torch.Tensor] = []
        drawn = []
        for view in range(self.num_views):
            uniforms = None
            if keys is not None:
                uniforms = torch.from_numpy(
                    stream_uniforms([k.stream_start(VIEW, view) for k in keys],
                                    NUM_UNIFORMS))
            params = sample_batch_params(self.recipe, shape[:, 0], shape[:, 1],
                                         generator, uniforms)
            view = apply_batch_params(images, params, self.recipe.size,
                                      scale_yx, self.blur_ksize)
            views.append((view - self.mean) / self.std)
            drawn.append(params)
        return (views, drawn) if return_params else views

    def forward(self, data: dict, training: bool = False) -> dict:
        """Training: a list of view batches; otherwise the normalised
        images as one batch.

        mmengine calls the data preprocessor inside the AMP autocast
        context; the augmentation itself runs in float32 (its indexed
        writes need matching dtypes), and the model casts as it computes.
        """
        # the autocast of the device the batch is moved to (a CPU run on a
        # machine that has a GPU autocasts on the CPU)
        with torch.autocast(self.device.type, enabled=False):
            return self._forward(data, training)

    def _forward(self, data: dict, training: bool) -> dict:
        data = self.cast_data(data)
        images = self._images(data['inputs'])
        data_samples = data.get('data_samples')
        if training:
            inputs = self.augment(images, data_samples)
        else:
            inputs = (images - self.mean) / self.std
        return dict(inputs=inputs, data_samples=data_samples)
