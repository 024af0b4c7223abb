"""Data side of SimSiam: the two-view augmentation (CPU transform and
device-side preprocessor), robust image loading, and the helpers the
configs use with mmpretrain's ``ImageNet``, ``CustomDataset`` and
``CIFAR10``."""
# mmpretrain registers the datasets (ImageNet, CustomDataset, CIFAR10) and
# transforms (PackInputs, ResizeEdge, ...; mmcv's through it) that the
# configs name; a child registry does not import its parent's modules.
import mmpretrain.datasets  # noqa: F401

from .device_aug import SimSiamDeviceAugPreprocessor
from .loading import BadImageError, SafeLoadImageFromFile, decode_image
from .transforms import (CIFAR_RECIPE, IMAGENET_MEAN, IMAGENET_STD,
                         SimSiamViews, ViewParams, ViewRecipe, apply_view,
                         sample_crop, sample_view_params)

__all__ = [
    'BadImageError', 'CIFAR_RECIPE', 'IMAGENET_MEAN', 'IMAGENET_STD',
    'SafeLoadImageFromFile', 'SimSiamDeviceAugPreprocessor', 'SimSiamViews',
    'ViewParams', 'ViewRecipe', 'apply_view', 'decode_image', 'sample_crop',
    'sample_view_params'
]
