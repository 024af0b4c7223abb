"""simsiam_mm: SimSiam self-supervised pretraining for OpenMMLab.

Importing the package (directly or through
``custom_imports=dict(imports=['simsiam_mm'])``) registers every type in the
``simsiam_mm`` scope, routes mmengine's checkpoint loading through the
safe loader of :mod:`simsiam_mm.checkpoint`, and lets mmengine's collate
functions take the ``_scope_`` an inherited config stamps on them
(:mod:`simsiam_mm.collate`).
"""
from . import checkpoint  # noqa: F401  (installs the safe loader first)
from . import collate  # noqa: F401  (collate_fn dicts with a _scope_)
from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
