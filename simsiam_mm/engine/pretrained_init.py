"""Hand a SimSiam backbone to a downstream model, strictly.

Transfer (Table 5 of arXiv 2011.10566), linear evaluation and fine-tuning
start the detector or classifier from the pretrained ResNet. SimSiam keeps
mmpretrain's ``backbone`` name, so its checkpoint holds
``backbone.conv1.weight`` ... ``backbone.layer4.2.bn3.running_var``, the
names mmdet's and mmpretrain's ResNets use; in a C4 detector res5 lives in
the RoI head (``roi_head.shared_head.layer4``) and takes
``backbone.layer4.*``.

mmengine's ``Pretrained`` initializer loads with ``strict=False`` and only
warns about missing keys, so a wrong prefix or the wrong file trains from a
random init without a word. :class:`SimSiamPretrained` names the checkpoint
once, for every module that takes it, and raises on any module tensor it
cannot fill and on any checkpoint tensor no module takes. It is the one
loading path of the project: every downstream config names it in
``model.init_cfg`` (``configs/benchmarks/_base_/simsiam_pretrained.py``,
read from ``SIMSIAM_CKPT``), and the evaluation tools call it.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from simsiam_mm.registry import WEIGHT_INITIALIZERS

#: Environment variable the benchmark configs read the checkpoint from.
ENV_CHECKPOINT = 'SIMSIAM_CKPT'
#: What those configs hold when it is not set (mmengine's ``{{$VAR:default}}``
#: needs a non-empty default).
UNSET = f'{ENV_CHECKPOINT}-unset'

_SHOWN = 8  # key names quoted in an error message


def _quote(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_SHOWN])
    more = len(keys) - _SHOWN
    return shown + (f' ... and {more} more' if more > 0 else '')


@WEIGHT_INITIALIZERS.register_module()
class SimSiamPretrained:
    """Load the pretrained backbone into named sub-modules; refuse gaps.

    Put it in the *model's* top-level ``init_cfg`` (one place names the
    checkpoint for all its users); ``simsiam_mm.SimSiamPretrained``
    resolves under any default scope (``mmdet``, ``mmpretrain``,
    ``simsiam_mm``)::

        model = dict(
            init_cfg=dict(
                type='simsiam_mm.SimSiamPretrained',
                checkpoint='{{$SIMSIAM_CKPT:SIMSIAM_CKPT-unset}}',
                modules=['backbone', 'roi_head.shared_head'],
                allow_missing=['roi_head.shared_head.norm.']))

    Every tensor of ``state_dict()`` of each listed sub-module, say
    ``roi_head.shared_head.layer4.0.conv1.weight``, is taken from the
    checkpoint's ``prefix`` + its name inside the sub-module
    (``backbone.layer4.0.conv1.weight``). A tensor the checkpoint lacks (and
    ``allow_missing`` does not excuse) or holds with another shape is an
    error, and so is a ``prefix`` tensor no listed module takes (a deeper
    network's checkpoint; res5 of a C4 detector when
    ``roi_head.shared_head`` is not listed) unless ``allow_unused`` excuses
    it. Tensors outside ``prefix`` (the projector, the predictor) are
    ignored.

    mmengine runs a top-level initializer *before* the children's
    ``init_weights``; the loaded sub-modules are therefore marked
    initialised (``is_init``), so that no default init (Kaiming, mmpretrain's
    ``zero_init_residual``) overwrites them afterwards.

    Args:
        checkpoint (str): Path (or any URL mmengine's ``CheckpointLoader``
            reads) of the SimSiam checkpoint; read by
            :func:`simsiam_mm.checkpoint.safe_load`, whatever the scheme.
            Empty or :data:`UNSET`: error.
        modules (Sequence[str]): Dotted paths, from the model, of the
            sub-modules to load. Defaults to ``('backbone', )``.
        prefix (str): Prefix of the pretrained tensors in the checkpoint's
            ``state_dict``. Defaults to ``'backbone.'``.
        allow_missing (Sequence[str]): Prefixes of model keys (dotted from
            the model) that may stay at their fresh init, e.g. the extra BN
            after res5 that SimSiam never had. Defaults to ``()``.
        allow_unused (Sequence[str]): Prefixes of checkpoint keys (after
            ``prefix``, e.g. ``'layer4.'``) that no module needs to take.
            Defaults to ``()``.
        map_location (str): Where to load the tensors. Defaults to 'cpu'.
    """

    def __init__(self,
                 checkpoint: Optional[str],
                 modules: Sequence[str] = ('backbone', ),
                 prefix: str = 'backbone.',
                 allow_missing: Sequence[str] = (),
                 allow_unused: Sequence[str] = (),
                 map_location: str = 'cpu') -> None:
        if isinstance(modules, str):
            modules = [modules]
        if not modules or any(not m for m in modules):
            raise ValueError('SimSiamPretrained needs the dotted names of '
                             f'sub-modules to load, got {modules!r}')
        self.checkpoint = checkpoint
        self.modules = list(modules)
        self.prefix = prefix
        self.allow_missing = tuple(allow_missing)
        self.allow_unused = tuple(allow_unused)
        self.map_location = map_location
        self.wholemodule = False  # set by mmengine's ``initialize``

    def _source(self) -> Dict[str, torch.Tensor]:
        """The checkpoint's tensors under ``prefix``, prefix removed."""
        if not self.checkpoint or self.checkpoint == UNSET:
            raise ValueError(
                'No SimSiam checkpoint named. Set the environment variable '
                f'{ENV_CHECKPOINT}=PATH (read by the benchmark configs) or '
                'pass --cfg-options model.init_cfg.checkpoint=PATH.')
        try:
            ckpt = CheckpointLoader.load_checkpoint(
                self.checkpoint, map_location=self.map_location)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'SimSiam checkpoint {self.checkpoint!r} not found (check '
                f'{ENV_CHECKPOINT} / model.init_cfg.checkpoint)') from err
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) \
            else None
        if not isinstance(state, dict):
            raise TypeError(f'{self.checkpoint} holds no state_dict')
        source = {
            k[len(self.prefix):]: v
            for k, v in state.items() if k.startswith(self.prefix)
        }
        if not source:
            raise KeyError(
                f'{self.checkpoint} has no tensor named {self.prefix}*; its '
                f'keys start like: {_quote(sorted(state))}')
        return source

    def __call__(self, model: nn.Module) -> None:
        source = self._source()
        loaded: List[str] = []
        fresh: List[str] = []
        targets = []
        for path in self.modules:
            try:
                sub = model.get_submodule(path)
            except AttributeError as err:
                raise KeyError(f'SimSiamPretrained: {type(model).__name__} '
                               f'has no sub-module {path!r}') from err
            missing, mismatched, take = [], [], {}
            for key, own in sub.state_dict().items():
                full = f'{path}.{key}'
                if key not in source:
                    if full.startswith(self.allow_missing):
                        fresh.append(full)
                    else:
                        missing.append(full)
                elif source[key].shape != own.shape:
                    mismatched.append(f'{full} {tuple(own.shape)} vs '
                                      f'{self.prefix}{key} '
                                      f'{tuple(source[key].shape)}')
                else:
                    take[key] = source[key]
            if missing or mismatched:
                raise KeyError(
                    f'{self.checkpoint} does not fit {path}: '
                    f'{len(missing)} tensors missing under {self.prefix!r} '
                    f'({_quote(missing)}); {len(mismatched)} of another '
                    f'shape ({_quote(mismatched)})')
            targets.append((path, sub, take))
        taken = set().union(*(take for _, _, take in targets))
        unused = sorted(
            k for k in source
            if k not in taken and not k.startswith(self.allow_unused))
        if unused:
            raise KeyError(
                f'{self.checkpoint}: {len(unused)} tensors under '
                f'{self.prefix!r} fit none of {", ".join(self.modules)} '
                f'({_quote([self.prefix + k for k in unused])}): a deeper '
                'network\'s checkpoint, or a module missing from `modules` '
                '(allow_unused=[...] excuses them)')
        # load only once every module fits: all or nothing
        for path, sub, take in targets:
            sub.load_state_dict(take, strict=False)
            if hasattr(sub, 'is_init'):
                sub.is_init = True  # no default init after this
            loaded += [f'{path}.{k}' for k in take]
        print_log(
            f'SimSiamPretrained: {len(loaded)} tensors from '
            f'{self.checkpoint} ({self.prefix}*) into '
            f'{", ".join(self.modules)}; fresh init: '
            f'{_quote(fresh) if fresh else "none"}',
            logger='current')
        if hasattr(model, '_params_init_info'):
            update_init_info(model, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: {self.prefix}* of '
                f'{self.checkpoint}')
