"""Precise BatchNorm statistics before evaluation (detectron2's PreciseBN).

The transfer protocol of Table 5 of arXiv 2011.10566 is MoCo's detectron2
setting, whose C4-BN base config turns on ``TEST.PRECISE_BN``: the BN
layers train their statistics (SyncBN, nothing frozen), and before
evaluation their running averages, an EMA over weights that kept changing,
are replaced by the true mean over ``NUM_ITER = 200`` training batches of
the per-batch mean and variance, computed with the final weights.

mmpretrain's ``PreciseBNHook`` does not fit mmdet's runner: it forwards in
``mode='tensor'``, in which a two-stage detector sends test-time proposals
(1000 per image after NMS) through the RoI head, not the sampled training
RoIs the res5 BN of a C4 head trains on; and it iterates the training loop's
own dataloader, whose persistent workers then restart the training
iterator. :class:`PreciseBNHook` runs the training forward
(``mode='loss'``, as detectron2 calls the model in training mode) on a
dataloader of its own, and counts iterations as detectron2 does.
"""
import itertools
import logging
from typing import Iterator, List, Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from simsiam_mm.registry import HOOKS


def training_bn_layers(model: nn.Module) -> List[_BatchNorm]:
    """The BN layers in training mode that track running statistics."""
    return [
        m for m in model.modules()
        if isinstance(m, _BatchNorm) and m.training and m.track_running_stats
    ]


@torch.no_grad()
def update_bn_stats(model: nn.Module, batches: Iterator,
                    num_iters: int) -> int:
    """Set every training BN layer's running mean and variance to the mean
    over ``num_iters`` batches of its per-batch statistics.

    Args:
        model (nn.Module): An mmengine model in training mode (its
            ``data_preprocessor`` runs on each batch, then the forward in
            ``mode='loss'``).
        batches (Iterator): Yields dataloader batches.
        num_iters (int): How many batches to average over.

    Returns:
        int: The number of BN layers updated.

    Raises:
        ValueError: ``batches`` ran out first; the statistics are left as
            they were.
    """
    layers = training_bn_layers(model)
    if not layers:
        return 0
    momenta = [bn.momentum for bn in layers]
    saved = [(bn.running_mean.clone(), bn.running_var.clone())
             for bn in layers]
    means = [torch.zeros_like(bn.running_mean) for bn in layers]
    variances = [torch.zeros_like(bn.running_var) for bn in layers]
    for bn in layers:
        bn.momentum = 1.  # running stats := this batch's statistics
    done = 0
    try:
        for batch in itertools.islice(batches, num_iters):
            model(**model.data_preprocessor(batch, True), mode='loss')
            done += 1
            for bn, mean, var in zip(layers, means, variances):
                mean += bn.running_mean
                var += bn.running_var
        if done < num_iters:
            raise ValueError(f'precise BN: the data gave {done} batches, '
                             f'{num_iters} wanted')
    except BaseException:
        for bn, (mean, var) in zip(layers, saved):  # as they were
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
        raise
    finally:
        for bn, momentum in zip(layers, momenta):
            bn.momentum = momentum
    for bn, mean, var in zip(layers, means, variances):
        # the mean over processes of the mean over batches (each process
        # saw its own batches; SyncBN statistics are equal already)
        for total, running in ((mean, bn.running_mean), (var, bn.running_var)):
            total /= done
            all_reduce(total, op='mean')  # in place; no-op on one process
            running.copy_(total)
    return len(layers)


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Recompute the BN statistics after the last training iteration and
    before every evaluation during training (detectron2's ``PreciseBN``).

    The batches come from a dataloader built from the config's
    ``train_dataloader`` (the training augmentation, a fresh iterator that
    leaves the training one alone), without persistent workers; it is kept
    between calls and re-iterated when a finite sampler runs out.

    Args:
        num_iters (int): Training batches to average over, per process.
            Defaults to 200, detectron2's ``TEST.PRECISE_BN.NUM_ITER``.
    """

    priority = 'ABOVE_NORMAL'  # before the checkpoint of the same step

    def __init__(self, num_iters: int = 200) -> None:
        if num_iters < 1:
            raise ValueError(f'num_iters must be >= 1, got {num_iters}')
        self.num_iters = num_iters
        self._batches: Optional[Iterator] = None

    def _stream(self, runner) -> Iterator:
        config = runner.cfg.get('train_dataloader')
        if not config:
            raise ValueError('PreciseBNHook builds its batches from the '
                             "config's train_dataloader; the runner has none")
        loader = runner.build_dataloader(
            dict(config, persistent_workers=False), seed=runner.seed)
        while True:
            yield from loader

    def _due(self, runner, done: int, total: int) -> bool:
        """After the last step, or when the loop validates after this one."""
        loop = runner.train_loop
        if done >= total:
            return True
        return (runner.val_loop is not None and done >= loop.val_begin
                and done % loop.val_interval == 0)

    def _run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if self._batches is None:
            self._batches = self._stream(runner)
        num = update_bn_stats(model, self._batches, self.num_iters)
        print_log(
            f'precise BN: the statistics of {num} BN layers recomputed over '
            f'{self.num_iters} training batches',
            logger='current',
            level=logging.INFO)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        if self._due(runner, runner.iter + 1, runner.max_iters):
            self._run(runner)

    def after_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        if self._due(runner, runner.epoch + 1, runner.max_epochs):
            self._run(runner)
