"""Checkpoint loading that is compatible with mmengine and runs no code.

Importing :mod:`simsiam_mm` (directly, or through ``custom_imports`` of an
mmdet / mmpretrain config) calls :func:`install`. From then on, every way
mmengine, mmpretrain and mmdet load a checkpoint ends in
:func:`~.loader.safe_load`:

* every scheme of mmengine's ``CheckpointLoader``: local paths,
  ``http(s)://``, ``open-mmlab://`` / ``openmmlab://`` (URL or file under
  ``$MMENGINE_HOME``), ``torchvision://``, ``modelzoo://``, ``mmcls://``,
  ``pavi://``, ``s3://`` / ``petrel://``; hence ``resume``, ``load_from``,
  ``init_cfg=dict(type='Pretrained')``, ``SimSiamPretrained``,
  ``load_checkpoint`` and the inferencers of mmpretrain and mmdet;
* the module-level functions other code calls directly:
  ``mmengine.runner.checkpoint.load_from_{local,http,pavi,ceph,
  openmmlab}``, ``mmengine.utils.dl_utils.load_url``,
  ``torch.hub.load_state_dict_from_url`` and ``torch.utils.model_zoo.
  load_url``, also as torchvision's weights hold it (:mod:`.remote`);
* config text inside a checkpoint is read as data by
  ``Config.fromstring``, never executed (:mod:`.config_text`).

``safe_load`` refuses a file that declares more memory than
``$SIMSIAM_MM_CHECKPOINT_MAX_BYTES`` (default 8 GiB) or whose zip records
expand far beyond the file (:mod:`.limits`), then unpickles with torch's
restricted unpickler and an allow-list of what mmengine writes
(:mod:`.loader`). A file outside it is refused with
:class:`UnsafeCheckpointError`, naming the file and what it asked for.

A legacy file you trust is opted in, by path or URL, only by the person
running the command: ``--trust-checkpoint PATH`` of ``tools/train.py`` /
``tools/test.py``, ``SIMSIAM_MM_TRUSTED_CHECKPOINTS=PATH1:PATH2``, or
:func:`trust` from Python. A config file cannot grant trust. See
docs/checkpoints.md for the threat model.
"""
import sys

import mmengine.utils.dl_utils as dl_utils
import mmengine.utils.dl_utils.hub as dl_hub
import torch.hub
import torch.utils.model_zoo
from mmengine.runner import checkpoint as mme
from mmengine.runner.checkpoint import CheckpointLoader

from . import config_text, remote
from .errors import CheckpointSizeError, UnsafeCheckpointError
from .limits import DEFAULT_MAX_BYTES, ENV_MAX_BYTES, MAX_EXPANSION, max_bytes
from .loader import (_TRUSTED, ENV_TRUSTED, allowed_globals, is_trusted,
                     safe_load, trust)

__all__ = [
    'safe_load', 'trust', 'is_trusted', 'install', 'allowed_globals',
    'UnsafeCheckpointError', 'CheckpointSizeError', 'ENV_TRUSTED',
    'ENV_MAX_BYTES', 'DEFAULT_MAX_BYTES', 'MAX_EXPANSION', 'max_bytes',
    '_TRUSTED'
]

#: CheckpointLoader prefixes -> the loader that replaces mmengine's.
#: ``torchvision://``, ``modelzoo://`` and ``mmcls://`` keep mmengine's
#: loaders: they only resolve a name and call ``load_from_http``, which
#: they look up in their module, where ours is installed.
SCHEMES = {
    ('', ): remote.load_from_local,
    ('http://', 'https://'): remote.load_from_http,
    ('pavi://', ): remote.load_from_pavi,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): remote.load_from_ceph,
    ('open-mmlab://', 'openmmlab://'): remote.load_from_openmmlab,
}
#: torchvision modules that hold ``torch.hub.load_state_dict_from_url``
#: under that name (``Weights.get_state_dict``).
_TORCHVISION_COPIES = ('torchvision._internally_replaced_utils',
                       'torchvision.models._api')
_installed = False


def install() -> None:
    """Route every checkpoint load of mmengine through :func:`safe_load`.

    Idempotent. Replaces the loaders of :data:`SCHEMES` in
    ``CheckpointLoader`` and under their names in
    ``mmengine.runner.checkpoint``; ``load_url`` in mmengine and torch.hub;
    ``Config.fromstring`` (for strings read from checkpoints only).
    """
    global _installed
    if _installed:
        return
    for prefixes, loader in SCHEMES.items():
        CheckpointLoader.register_scheme(
            prefixes=list(prefixes), loader=loader, force=True)
        setattr(mme, loader.__name__, loader)
    for module in (mme, dl_utils, dl_hub):
        module.load_url = remote.load_url
    torch.hub.load_state_dict_from_url = remote.load_url
    torch.utils.model_zoo.load_url = remote.load_url
    # torchvision's weights import it by name; once imported, replace there
    for name in _TORCHVISION_COPIES:
        if name in sys.modules:
            sys.modules[name].load_state_dict_from_url = remote.load_url
    config_text.install()
    _installed = True


install()
