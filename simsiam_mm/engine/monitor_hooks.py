"""Online monitors of a SimSiam run: kNN accuracy and collapse.

* :class:`KNNMonitorHook` runs the weighted kNN evaluation of
  :mod:`simsiam_mm.evaluation.knn` on a labelled subset every N epochs and
  logs ``knn/top1_k{K}`` (and ``knn/top5_k{K}``) to the message hub, the
  log and the visualizer (``vis_data/scalars.json``).
* :class:`CollapseMonitorHook` watches the per-channel std of z/||z||
  (``z_std``, Fig. 2 of arXiv 2011.10566: about 1/sqrt(d) when healthy, 0
  when collapsed) and the effective rank of z (``z_rank``), logs
  ``z_std x sqrt(d)`` as ``train/z_std_x_sqrt_d`` and warns, or stops the
  run, when either stays below its threshold.
"""
import math
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.data import Subset

from simsiam_mm.evaluation.features import extract_features
from simsiam_mm.evaluation.knn import DEFAULT_TEMPERATURE, knn_evaluate
from simsiam_mm.registry import DATASETS, HOOKS

COLLAPSE_HELP = (
    'Representation collapse: every image is mapped to (nearly) the same '
    'projection z, so the SimSiam loss reaches its minimum -1 while the '
    'features carry no information. The per-channel std of z/||z|| '
    '(z_std) is about 1/sqrt(d) for a healthy run and goes to 0 when it '
    'collapses (Fig. 2 of arXiv 2011.10566); a collapse to z = +-v, which '
    'the projector\'s output BN allows, keeps z_std but drives the '
    'effective rank of z (z_rank) to 1/min(N, d). What to try: check the '
    'stop-gradient is on (stop_gradient=True) and that the predictor is '
    'present and trained (not frozen, its lr constant); lower the lr; use '
    'the full two-view augmentation (RandomResizedCrop scale (0.2, 1), '
    'color jitter, grayscale, blur); a larger batch (BatchNorm statistics '
    'need a few dozen samples per view); keep BN in the projector and '
    'predictor hidden layers.')


class CollapseError(RuntimeError):
    """Raised by :class:`CollapseMonitorHook` with ``stop=True``."""


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class CollapseMonitorHook(Hook):
    """Warn, or stop, when the representation collapses.

    Reads the model's ``z_std`` and ``z_rank`` (the loss dict's monitor
    entries, which mmengine also records as ``train/z_std`` and
    ``train/z_rank``) every iteration, logs ``train/z_std_x_sqrt_d`` (1 =
    the paper's healthy level, 0 = collapsed) and counts consecutive
    iterations in which either is below its threshold.

    Args:
        threshold (float): Collapse level as a fraction of 1/sqrt(d), i.e.
            a bound on ``z_std * sqrt(d)``. Defaults to 0.2: a run is
            flagged when the std has fallen to a fifth of the healthy level
            (the paper's runs without stop-gradient go to 0). At small
            scale a collapsing run may level off well above 0, because the
            projector's output BN keeps every channel's batch variance at
            1: raise the threshold for such runs, or watch the rank
            (measured levels: docs/monitoring.md).
        patience (int): Consecutive iterations below ``threshold`` before
            acting. Defaults to 100.
        stop (bool): Raise :class:`CollapseError` (ends the run at once)
            instead of only warning. Defaults to False.
        dim (int, optional): d, the projector's output width. Defaults to
            ``model.neck.out_channels``.
        key (str): The loss-dict entry to read. Defaults to ``'z_std'``.
        rank_threshold (float, optional): Collapse level of ``z_rank``, the
            effective rank of z as a fraction of min(N, d) (1 / min(N, d)
            when every sample lies on one line). Defaults to 0.1, a tenth
            of the available directions: set for a full collapse, not for
            the partial one of a short run (docs/monitoring.md).
            None watches ``z_std`` only (also what happens when the model
            logs no ``z_rank``, e.g. mmpretrain's SimSiam).
        rank_key (str): The loss-dict entry of the rank. Defaults to
            ``'z_rank'``.
    """

    priority = 'NORMAL'  # after RuntimeInfoHook, before LoggerHook

    def __init__(self,
                 threshold: float = 0.2,
                 patience: int = 100,
                 stop: bool = False,
                 dim: Optional[int] = None,
                 key: str = 'z_std',
                 rank_threshold: Optional[float] = 0.1,
                 rank_key: str = 'z_rank') -> None:
        if threshold <= 0:
            raise ValueError(f'threshold must be > 0, got {threshold}')
        if rank_threshold is not None and not 0 < rank_threshold <= 1:
            raise ValueError('rank_threshold must be in (0, 1] or None, got '
                             f'{rank_threshold}')
        if patience < 1:
            raise ValueError(f'patience must be >= 1, got {patience}')
        self.threshold = threshold
        self.patience = patience
        self.stop = stop
        self.dim = dim
        self.key = key
        self.rank_threshold = rank_threshold
        self.rank_key = rank_key
        self.below = 0  # consecutive iterations below the threshold
        self.collapsed_at: Optional[int] = None  # iteration of the alarm

    def before_train(self, runner) -> None:
        if self.dim is None:
            neck = getattr(_unwrap(runner.model), 'neck', None)
            self.dim = getattr(neck, 'out_channels', None)
            if self.dim is None:
                raise ValueError('CollapseMonitorHook: cannot read d from '
                                 'model.neck.out_channels; pass dim=d')

    def _read(self, runner, outputs: Optional[dict],
              key: str) -> Optional[float]:
        if outputs and key in outputs:
            return float(outputs[key])
        name = f'train/{key}'
        if name in runner.message_hub.log_scalars:
            return float(runner.message_hub.get_scalar(name).current())
        return None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        z_std = self._read(runner, outputs, self.key)
        if z_std is None:
            return
        ratio = z_std * math.sqrt(self.dim)
        runner.message_hub.update_scalar('train/z_std_x_sqrt_d', ratio)
        rank = None
        if self.rank_threshold is not None:
            rank = self._read(runner, outputs, self.rank_key)
        # `not x >= t` is True for NaN: NaN is not healthy
        std_low = not ratio >= self.threshold
        rank_low = rank is not None and not rank >= self.rank_threshold
        if not (std_low or rank_low):
            self.below = 0
            return
        self.below += 1
        if self.below != self.patience:
            return
        self.collapsed_at = runner.iter + 1
        what = (f'z_std x sqrt(d) has stayed below {self.threshold}'
                if std_low else 'the effective rank of z (z_rank) has stayed '
                f'below {self.rank_threshold}')
        now = f'z_std x sqrt(d) {ratio:.4f}'
        if rank is not None:
            now += f', z_rank {rank:.4f}'
        message = (f'{what} for {self.patience} iterations (now {now} at '
                   f'iteration {runner.iter + 1}, d={self.dim}). '
                   f'{COLLAPSE_HELP}')
        runner.logger.warning(message)
        if self.stop:
            raise CollapseError(message)


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Weighted kNN accuracy of the backbone during pretraining.

    Every ``interval`` epochs (iterations if ``by_epoch=False``) and at the
    end of training, the pooled backbone features of a labelled train and
    val subset are extracted in eval mode and scored with
    :func:`~simsiam_mm.evaluation.knn.knn_evaluate`. Results go to the
    message hub (``knn/top1_k{K}``, ``knn/top5_k{K}``), the log and the
    visualizer's scalars (``vis_data/scalars.json``, at step
    ``runner.iter``).

    Args:
        train_dataloader (dict, optional): Dataloader config of the
            labelled kNN bank (single view, deterministic pipeline ending in
            ``PackInputs``). Defaults to None: the config's
            ``knn_train_dataloader`` (``configs/_base_/datasets/*_knn.py``).
        val_dataloader (dict, optional): Dataloader config of the labelled
            queries. Defaults to None: the config's ``knn_val_dataloader``.
        interval (int): Evaluate every ``interval`` epochs. Defaults to 1.
        k (Sequence[int]): Numbers of neighbours; each k > the bank size is
            clamped. Defaults to (20, 200).
        temperature (float): Vote temperature. Defaults to 0.07.
        max_samples (int, optional): Use at most this many samples of each
            split, spread evenly over the dataset (folders are sorted by
            class). Defaults to None (all).
        by_epoch (bool): Count ``interval`` in epochs. Defaults to True.
        before_train (bool): Also evaluate the untrained network, the
            baseline. Defaults to False.
        chunk_size (int): Block size of the neighbour search.
            Defaults to 1024.
    """

    priority = 'LOW'

    def __init__(self,
                 train_dataloader: Optional[dict] = None,
                 val_dataloader: Optional[dict] = None,
                 interval: int = 1,
                 k: Sequence[int] = (20, 200),
                 temperature: float = DEFAULT_TEMPERATURE,
                 max_samples: Optional[int] = None,
                 by_epoch: bool = True,
                 before_train: bool = False,
                 chunk_size: int = 1024) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.train_cfg = train_dataloader
        self.val_cfg = val_dataloader
        self.interval = interval
        self.ks = tuple(k)
        self.temperature = temperature
        self.max_samples = max_samples
        self.by_epoch = by_epoch
        self.eval_before_train = before_train
        self.chunk_size = chunk_size
        self.loaders: Dict[str, object] = {}
        self.history: list = []

    def _loader(self, runner, split: str):
        if split not in self.loaders:
            cfg = self.train_cfg if split == 'train' else self.val_cfg
            key = f'knn_{split}_dataloader'
            if cfg is None:
                cfg = runner.cfg.get(key)
            if cfg is None:
                raise KeyError(
                    f'KNNMonitorHook needs {split}_dataloader=dict(...) or '
                    f'a config variable {key} (a labelled single-view '
                    'split, e.g. from configs/_base_/datasets/*_knn.py)')
            cfg = dict(cfg)
            dataset = cfg.pop('dataset')
            if isinstance(dataset, dict):
                dataset = DATASETS.build(dataset)
            if self.max_samples and len(dataset) > self.max_samples:
                idx = np.linspace(0, len(dataset) - 1, self.max_samples)
                dataset = Subset(dataset, np.unique(idx.round().astype(int)))
            cfg.setdefault('sampler', dict(type='DefaultSampler'))
            cfg['sampler'] = dict(cfg['sampler'], shuffle=False)
            cfg.setdefault('collate_fn', dict(type='default_collate'))
            self.loaders[split] = runner.build_dataloader(
                dict(cfg, dataset=dataset), seed=runner.seed)
        return self.loaders[split]

    def evaluate(self, runner, epoch: int, step: int) -> Dict[str, float]:
        """Run the kNN evaluation now; returns ``{'top1_k20': ...}``.

        Args:
            epoch (int): Completed epochs, for the log.
            step (int): Completed iterations, the scalars' step.
        """
        model = _unwrap(runner.model)
        train_feats, train_labels = extract_features(
            model, self._loader(runner, 'train'))
        val_feats, val_labels = extract_features(model,
                                                 self._loader(runner, 'val'))
        result = [None]
        if get_rank() == 0:
            result[0] = knn_evaluate(
                train_feats,
                train_labels,
                val_feats,
                val_labels,
                ks=self.ks,
                temperature=self.temperature,
                chunk_size=self.chunk_size)
            result[0]['num_train'] = float(len(train_labels))
            result[0]['num_val'] = float(len(val_labels))
        broadcast_object_list(result)
        metrics = result[0]
        scalars = {
            f'knn/{name}': value
            for name, value in metrics.items() if name.startswith('top')
        }
        for name, value in scalars.items():
            runner.message_hub.update_scalar(name, value)
        runner.visualizer.add_scalars(dict(scalars, epoch=epoch), step=step)
        summary = ', '.join(f'k={k} top1 {metrics[f"top1_k{k}"]:.2f} '
                            f'top5 {metrics[f"top5_k{k}"]:.2f}'
                            for k in self.ks)
        runner.logger.info(
            f'kNN monitor (epoch {epoch}, iter {step}, '
            f'{int(metrics["num_train"])} train / {int(metrics["num_val"])} '
            f'val, T={self.temperature}): {summary}')
        self.history.append(dict(metrics, epoch=epoch, iter=step))
        return metrics

    def before_train(self, runner) -> None:
        if self.eval_before_train:
            self.evaluate(runner, runner.epoch, runner.iter)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or self.is_last_train_epoch(runner)):
            self.evaluate(runner, runner.epoch + 1, runner.iter)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not self.by_epoch and (self.every_n_train_iters(
                runner, self.interval) or self.is_last_train_iter(runner)):
            self.evaluate(runner, runner.epoch, runner.iter + 1)
