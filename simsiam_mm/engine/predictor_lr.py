"""The predictor's constant learning rate, in one place.

Paper (Sec. 4.2, Table 1c): "we find it is beneficial to keep lr of h
constant [...] 68.1 vs 67.7 with decayed lr". Two pieces work together and
live only here:

* :class:`SimSiamOptimWrapperConstructor` builds exactly two parameter
  groups, the encoder and the predictor (``model.head``), and marks the
  predictor's with ``fixed_lr=True`` (``fix_predictor_lr=False`` gives the
  decayed-lr ablation). Two groups instead of mmengine's one group per
  parameter also keep the fused multi-tensor SGD step.
* :class:`FixedLRHook` sets every ``fixed_lr`` group back to its
  ``initial_lr`` before each iteration, whatever the schedulers did.
  ``initial_lr`` is recorded by mmengine's schedulers *after*
  ``auto_scale_lr`` has scaled the groups, so the predictor keeps the
  scaled initial lr (mmpretrain's ``SimSiamHook`` resets it to the unscaled
  config value). Warmup does not touch the predictor either.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn

from simsiam_mm.registry import HOOKS, OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SimSiamOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Two parameter groups: encoder, and predictor with ``fixed_lr``.

    ``paramwise_cfg`` keys:

    * ``fix_predictor_lr`` (bool): mark the predictor group
      ``fixed_lr=True``. Defaults to True.
    * ``predictor_prefix`` (str): parameter-name prefix of the predictor.
      Defaults to ``'head.'``.

    Frozen parameters (``requires_grad=False``) are left out. Weight decay
    applies to every parameter, BN included, as in the paper.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.fix_predictor_lr = paramwise_cfg.pop('fix_predictor_lr', True)
        self.predictor_prefix = paramwise_cfg.pop('predictor_prefix', 'head.')
        if paramwise_cfg:
            raise KeyError('SimSiamOptimWrapperConstructor supports only '
                           "paramwise_cfg keys 'fix_predictor_lr' and "
                           f"'predictor_prefix', got {sorted(paramwise_cfg)}")
        super().__init__(optim_wrapper_cfg, None)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = getattr(model, 'module', model)
        encoder, predictor = [], []
        for name, param in model.named_parameters():
            if param.requires_grad:
                is_pred = name.startswith(self.predictor_prefix)
                (predictor if is_pred else encoder).append(param)
        groups = [dict(params=encoder)]
        if predictor:
            groups.append(
                dict(params=predictor, fixed_lr=self.fix_predictor_lr))
        optimizer_cfg = dict(self.optimizer_cfg, params=groups)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))


@HOOKS.register_module()
class FixedLRHook(Hook):
    """Hold every ``fixed_lr`` param group at its ``initial_lr``.

    Runs first (``HIGHEST``) in ``before_train_iter``, so the optimizer step
    and the logged lr (``train/lr_predictor``) both see the fixed value.
    """

    priority = 'HIGHEST'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if hasattr(wrapper,
                                               'values') else [wrapper]
        for wrap in wrappers:
            for group in wrap.optimizer.param_groups:
                if group.get('fixed_lr'):
                    group['lr'] = group.get('initial_lr', group['lr'])
                    runner.message_hub.update_scalar('train/lr_predictor',
                                                     group['lr'])
