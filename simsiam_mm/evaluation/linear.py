"""Linear evaluation on a frozen SimSiam backbone, with its sanity check.

The official ``main_lincls.py`` asserts, after training, that no backbone
weight moved. Here that is code run by every linear config:

* the config names the pretraining checkpoint with ONE top-level variable,
  ``checkpoint = '{{$SIMSIAM_CKPT:work_dirs/.../epoch_N.pth}}'`` in the
  shipped configs, so the environment variable ``SIMSIAM_CKPT`` names it
  as it does for the mmdet transfer configs; overridable with
  ``--cfg-options checkpoint=PATH``. mmengine's ``--cfg-options`` does not
  re-evaluate values derived from it, so :class:`LinearEvalHook` reads
  ``runner.cfg.checkpoint`` at ``before_run`` and writes
  ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
  into the backbone before the runner initialises weights (mmpretrain's
  ``--cfg-options model.backbone.init_cfg.checkpoint=PATH`` works too; two
  different overrides are an error). No checkpoint, or a path that is not
  a file, is an error: never a silent random init.
* right after initialisation (``before_train``) the backbone must equal
  the checkpoint's ``backbone.*`` tensors bit for bit (mmengine's
  ``Pretrained`` init loads with ``strict=False`` and would only warn on a
  mismatch), and after training (``after_train``) it must still: every
  weight and every BatchNorm statistic. Otherwise
  :class:`BackboneChangedError` stops the run.

:func:`check_backbone_unchanged` is the same check for
``tools/check_linear.py``.
"""
import os.path as osp
from typing import List, Mapping, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

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
    """Load the pretrained backbone from ``cfg.checkpoint``; check that
    linear training leaves it bit-identical.

    Args:
        checkpoint (str, optional): The pretraining checkpoint. Defaults to
            None: read the config's top-level ``checkpoint`` variable at
            run time, so ``--cfg-options checkpoint=PATH`` takes effect.
        prefix (str): Key prefix of the backbone in the checkpoint.
            Defaults to ``'backbone.'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 prefix: str = BACKBONE_PREFIX) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.reference: Optional[Mapping[str, torch.Tensor]] = None
        self.path: Optional[str] = None

    @staticmethod
    def _backbone(runner) -> torch.nn.Module:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return model.backbone

    @staticmethod
    def _resolve(runner, from_init: Optional[str]) -> Optional[str]:
        """The checkpoint the user asked for.

        The config writes ``checkpoint`` into ``init_cfg`` at parse time, so
        the two differ only when one of them was overridden on the command
        line; the overridden one (different from the config file's value)
        wins. Both overridden to different paths is an error.
        """
        top = runner.cfg.get('checkpoint')
        if not from_init or from_init == top:
            return top
        default_top, default_init = top, from_init
        filename = getattr(runner.cfg, 'filename', None)
        if filename and osp.isfile(filename):
            original = Config.fromfile(filename)
            default_top = original.get('checkpoint')
            default_init = original.get('model',
                                        {}).get('backbone',
                                                {}).get('init_cfg',
                                                        {}).get('checkpoint')
        if top != default_top and from_init == default_init:
            return top
        if from_init != default_init and top == default_top:
            return from_init
        raise ValueError(
            f'the config\'s checkpoint ({top}) and '
            f'model.backbone.init_cfg.checkpoint ({from_init}) disagree: '
            'set the pretraining checkpoint with --cfg-options '
            'checkpoint=PATH only')

    def before_run(self, runner) -> None:
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # test / val only: the trained checkpoint is loaded
        backbone = self._backbone(runner)
        init_cfg = backbone.init_cfg
        from_init = init_cfg.get('checkpoint') if isinstance(init_cfg,
                                                             dict) else None
        path = self.checkpoint or self._resolve(runner, from_init)
        if not path:
            raise ValueError(
                'linear evaluation needs the pretraining checkpoint: set '
                'the environment variable SIMSIAM_CKPT=PATH (read by the '
                'shipped configs), `checkpoint = PATH` in the config or '
                'pass --cfg-options checkpoint=PATH')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'pretraining checkpoint {path} not found; set '
                'SIMSIAM_CKPT=PATH or pass --cfg-options checkpoint=PATH '
                '(the epoch_N.pth of a SimSiam run)')
        backbone.init_cfg = dict(
            type='Pretrained', checkpoint=path, prefix=self.prefix)
        self.path = path
        self.reference = backbone_state_dict(safe_load(path), self.prefix)

    def _check(self, runner, when: str) -> None:
        if self.reference is None:
            return
        state = self._backbone(runner).state_dict()
        num = check_backbone_unchanged(state, self.reference,
                                       f'{when} ({self.path})')
        runner.logger.info(f'linear sanity check {when}: all {num} backbone '
                           f'tensors are bit-identical to {self.path}')

    def before_train(self, runner) -> None:
        self._check(runner, 'after loading')

    def after_train(self, runner) -> None:
        self._check(runner, 'after linear training')
