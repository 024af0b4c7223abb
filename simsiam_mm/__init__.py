"""simsiam_mm: SimSiam self-supervised pretraining for OpenMMLab.

Importing the package (directly or through
``custom_imports=dict(imports=['simsiam_mm'])``) registers every type in the
``simsiam_mm`` scope and routes mmengine's checkpoint loading through the
safe loader of :mod:`simsiam_mm.checkpoint`.
"""
from . import checkpoint  # noqa: F401  (installs the safe loader first)
from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
