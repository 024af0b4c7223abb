"""Collate functions that accept the ``_scope_`` an inherited config stamps.

A config that inherits an OpenMMLab package's config (``_base_ =
'mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'``) gets every
dict with a ``type`` stamped ``_scope_='mmpretrain'``, the dataloader's
``collate_fn=dict(type='default_collate')`` included. mmengine 0.10's
``Runner.build_dataloader`` looks the collate type up itself and passes every
other key to it with ``functools.partial``, so training stops at the first
batch with ``TypeError: default_collate() got an unexpected keyword argument
'_scope_'`` (mmpretrain's own tools/train.py too: a host bug).

Importing this module (``import simsiam_mm``, or ``custom_imports``)
re-registers mmengine's ``default_collate`` and ``pseudo_collate`` under
their names with a wrapper that takes ``_scope_`` and drops it. Dropping it
loses nothing: the scope only says in which registry to look the type up,
the lookup has already happened, and neither mmpretrain nor mmdet registers
a collate function of its own under these names.
"""
import functools
from typing import Callable, Optional, Sequence

from mmengine.dataset import default_collate, pseudo_collate
from mmengine.registry import FUNCTIONS

#: The collate functions of mmengine that configs name.
SCOPED_COLLATES = (default_collate, pseudo_collate)


def accept_scope(collate: Callable) -> Callable:
    """``collate`` with an ignored ``_scope_`` keyword."""

    @functools.wraps(collate)
    def wrapper(data_batch: Sequence, _scope_: Optional[str] = None):
        return collate(data_batch)

    return wrapper


for _collate in SCOPED_COLLATES:
    FUNCTIONS.register_module(
        name=_collate.__name__, module=accept_scope(_collate), force=True)
