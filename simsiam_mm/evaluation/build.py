"""Build a pretrained model and labelled loaders from a config (tools)."""
import itertools
from typing import Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.utils import register_all_modules
from torch import nn

from simsiam_mm.engine.pretrained_init import SimSiamPretrained
from simsiam_mm.registry import MODELS, SCOPE

#: Config variables holding the labelled splits of kNN evaluation and
#: t-SNE (single-view, deterministic pipelines ending in ``PackInputs``).
KNN_TRAIN_KEY = 'knn_train_dataloader'
KNN_VAL_KEY = 'knn_val_dataloader'
_LOGGERS = itertools.count()  # a fresh (current) logger per load_config


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                data_config: Optional[str] = None) -> Config:
    """``Config.fromfile`` + ``--cfg-options``, default scope activated.

    ``data_config`` (e.g. ``configs/_base_/datasets/digits_knn.py``)
    supplies the kNN loaders when the model's config has none.

    Also imports every mmpretrain module: our child registries search
    mmpretrain's, but a lookup through a child does not trigger the
    parent's lazy imports.
    """
    register_all_modules(init_default_scope=False)
    # quiet: no per-parameter init report; warnings (k clamped) still show
    MMLogger.get_instance(
        f'simsiam_mm_eval_{next(_LOGGERS)}', log_level='WARNING')
    cfg = Config.fromfile(path)
    if data_config:
        data = Config.fromfile(data_config)
        for key in (KNN_TRAIN_KEY, KNN_VAL_KEY):
            if key not in data:
                raise KeyError(f'{data_config} defines no {key!r}')
            cfg[key] = data[key]
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', SCOPE))
    return cfg


def build_model(cfg: Config,
                checkpoint: Optional[str] = None,
                device: Optional[str] = None) -> nn.Module:
    """The config's model with the checkpoint's backbone, in eval mode.

    ``checkpoint=None`` gives the same architecture at its training-start
    initialisation (``init_weights``), the random-init baseline. Otherwise
    the backbone is loaded by
    :class:`~simsiam_mm.engine.pretrained_init.SimSiamPretrained`, the
    loading path of every downstream config: a checkpoint of another
    architecture is an error, not a partial load. SyncBN becomes BN (one
    process).
    """
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if checkpoint is None:
        model.init_weights()
    else:
        SimSiamPretrained(checkpoint, modules=['backbone'])(model)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    return model.to(device).eval()


def build_loader(cfg: Config, key: str):
    """The dataloader of config variable ``key`` (e.g.
    ``knn_train_dataloader``), unshuffled."""
    if key not in cfg:
        raise KeyError(
            f'the config has no {key!r}: kNN evaluation and t-SNE need '
            f'labelled single-view dataloaders {KNN_TRAIN_KEY!r} and '
            f'{KNN_VAL_KEY!r}: add a configs/_base_/datasets/*_knn.py base '
            'to the config or pass --data-config that file')
    loader_cfg = dict(cfg[key])
    loader_cfg['sampler'] = dict(
        loader_cfg.get('sampler', dict(type='DefaultSampler')), shuffle=False)
    loader_cfg.setdefault('collate_fn', dict(type='default_collate'))
    return Runner.build_dataloader(loader_cfg)


def format_table(results: dict, ks: Sequence[int]) -> str:
    """``k  top-1  top-5`` rows of a :func:`knn_evaluate` result."""
    lines = ['    k   top-1   top-5']
    for k in ks:
        lines.append(f'{k:5d}  {results[f"top1_k{k}"]:6.2f}  '
                     f'{results[f"top5_k{k}"]:6.2f}')
    return '\n'.join(lines)
