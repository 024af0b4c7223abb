"""Data side of SimSiam: the two-view augmentation (CPU transform and
device-side preprocessor), robust image loading, the sampler whose keys
make every random draw a function of (seed, epoch, index, view), the
checks for missing data, and the helpers the configs use with
mmpretrain's ``ImageNet``, ``CustomDataset`` and ``CIFAR10``."""
# mmpretrain registers the datasets (ImageNet, CustomDataset, CIFAR10) and
# transforms (PackInputs, ResizeEdge, ...; mmcv's through it) that the
# configs name; a child registry does not import its parent's modules.
import mmpretrain.datasets  # noqa: F401

from .checks import DataNotFoundError, check_dataset, check_train_data
from .device_aug import SimSiamDeviceAugPreprocessor
from .loading import (BadImageCountHook, BadImageError, SafeLoadImageFromFile,
                      decode_image)
from .seeding import SampleKey, SeededSampler
from .transforms import (CIFAR_RECIPE, IMAGENET_MEAN, IMAGENET_STD,
                         NUM_UNIFORMS, SimSiamViews, ViewParams, ViewRecipe,
                         apply_view, sample_crop, sample_view_params,
                         view_params_from_uniforms)

__all__ = [
    'BadImageCountHook', 'BadImageError', 'CIFAR_RECIPE', 'DataNotFoundError',
    'IMAGENET_MEAN', 'IMAGENET_STD', 'NUM_UNIFORMS', 'SafeLoadImageFromFile',
    'SampleKey', 'SeededSampler', 'SimSiamDeviceAugPreprocessor',
    'SimSiamViews', 'ViewParams', 'ViewRecipe', 'apply_view', 'check_dataset',
    'check_train_data', 'decode_image', 'sample_crop', 'sample_view_params',
    'view_params_from_uniforms'
]
