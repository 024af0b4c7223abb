"""Linear evaluation on a frozen SimSiam backbone, with its sanity check.

The official ``main_lincls.py`` asserts, after training, that no backbone
weight moved. Here that is code run by every linear config:

* the backbone is loaded like every downstream model's: by
  :class:`~simsiam_mm.engine.pretrained_init.SimSiamPretrained` in the
  model's ``init_cfg``, from the checkpoint that ``SIMSIAM_CKPT`` (or
  ``--cfg-options model.init_cfg.checkpoint=PATH``) names; a missing,
  unset or ill-fitting checkpoint stops the run there;
* :class:`LinearEvalHook` reads the same checkpoint and checks that the
  backbone equals its ``backbone.*`` tensors bit for bit right after
  loading (``before_train``: nothing re-initialised or overwrote it, e.g.
  a ``load_from``) and after training (``after_train``): every weight and
  every BatchNorm statistic. Otherwise :class:`BackboneChangedError` stops
  the run.

:func:`check_backbone_unchanged` is the same check for
``tools/check_linear.py``.
"""
from typing import List, Mapping, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from simsiam_mm.checkpoint import safe_load
from simsiam_mm.registry import HOOKS
from .export import BACKBONE_PREFIX, backbone_state_dict


class BackboneChangedError(RuntimeError):
    """A backbone tensor differs from the pretraining checkpoint."""


def backbone_differences(current: Mapping[str, torch.Tensor],
                         reference: Mapping[str, torch.Tensor]) -> List[str]:
    """Human-readable differences between two backbone state dicts.

    Compares every key (weights and buffers: BN ``running_mean``,
    ``running_var``, ``num_batches_tracked``) for exact equality of shape,
    dtype and value. Returns an empty list when identical.
    """
    problems = [
        f'{k}: in the checkpoint, not in the model' for k in reference
        if k not in current
    ]
    problems += [
        f'{k}: in the model, not in the checkpoint' for k in current
        if k not in reference
    ]
    for key in reference:
        if key not in current:
            continue
        cur, ref = current[key].detach().cpu(), reference[key].detach().cpu()
        if cur.shape != ref.shape or cur.dtype != ref.dtype:
            problems.append(f'{key}: {tuple(cur.shape)} {cur.dtype} vs '
                            f'{tuple(ref.shape)} {ref.dtype}')
        elif not torch.equal(cur, ref):
            diff = (cur.double() - ref.double()).abs().max().item()
            problems.append(f'{key}: max abs difference {diff:.3g}')
    return problems


def check_backbone_unchanged(current: Mapping[str, torch.Tensor],
                             reference: Mapping[str, torch.Tensor],
                             what: str = 'backbone') -> int:
    """Raise :class:`BackboneChangedError` unless bit-identical.

    Returns:
        int: Number of tensors compared.
    """
    problems = backbone_differences(current, reference)
    if problems:
        shown = '\n  '.join(problems[:20])
        more = len(problems) - 20
        raise BackboneChangedError(
            f'{what}: {len(problems)} backbone tensors differ from the '
            f'pretraining checkpoint ({len(reference)} tensors):\n  {shown}' +
            (f'\n  ... and {more} more' if more > 0 else '') +
            '\nA linear evaluation must not change the backbone: keep '
            'frozen_stages=4 (all stages) and norm_eval=True (BN statistics '
            'frozen), and load the checkpoint the model was pretrained as.')
    return len(reference)


@HOOKS.register_module()
class LinearEvalHook(Hook):
    """Check that linear training leaves the pretrained backbone
    bit-identical to the checkpoint the model's ``init_cfg`` loaded.

    The checkpoint and its key prefix are the model's
    ``init_cfg.checkpoint`` and ``init_cfg.prefix`` (``'backbone.'`` when
    not given), as the runner's config holds them after ``--cfg-options``.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.reference: Optional[Mapping[str, torch.Tensor]] = None
        self.path: Optional[str] = None

    @staticmethod
    def _backbone(runner) -> torch.nn.Module:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return model.backbone

    @staticmethod
    def pretrained(runner) -> Tuple[str, str]:
        """``(checkpoint, prefix)`` of the model's ``init_cfg``."""
        init_cfg = runner.cfg.get('model', {}).get('init_cfg')
        if isinstance(init_cfg, (list, tuple)):  # the one naming a file
            init_cfg = next((c for c in init_cfg if c.get('checkpoint')), None)
        if not isinstance(init_cfg, dict) or not init_cfg.get('checkpoint'):
            raise ValueError(
                'LinearEvalHook compares the backbone with the checkpoint '
                'the model is initialised from, but model.init_cfg names '
                'none: use configs/benchmarks/_base_/simsiam_pretrained.py '
                '(SIMSIAM_CKPT=PATH)')
        return init_cfg['checkpoint'], init_cfg.get('prefix', BACKBONE_PREFIX)

    def _check(self, runner, when: str) -> None:
        state = self._backbone(runner).state_dict()
        num = check_backbone_unchanged(state, self.reference,
                                       f'{when} ({self.path})')
        runner.logger.info(f'linear sanity check {when}: all {num} backbone '
                           f'tensors are bit-identical to {self.path}')

    def before_train(self, runner) -> None:
        self.path, prefix = self.pretrained(runner)
        self.reference = backbone_state_dict(safe_load(self.path), prefix)
        self._check(runner, 'after loading')

    def after_train(self, runner) -> None:
        self._check(runner, 'after linear training')
