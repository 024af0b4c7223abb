"""Pooled backbone features of a labelled dataloader, for kNN and t-SNE."""
from typing import Iterable, Optional, Tuple

import torch
from mmengine.dist import collect_results, get_world_size
from mmengine.model import is_model_wrapper
from torch import nn


def _labels(data_samples) -> torch.Tensor:
    if not data_samples or not hasattr(data_samples[0], 'gt_label'):
        raise ValueError(
            'feature extraction needs labelled samples: the dataloader must '
            'yield data_samples with gt_label (a single-view pipeline that '
            "ends in dict(type='PackInputs') on a labelled dataset)")
    return torch.cat([s.gt_label.reshape(-1)[:1] for s in data_samples])


@torch.no_grad()
def extract_features(
    model: nn.Module,
    dataloader: Iterable,
    max_batches: Optional[int] = None
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Run ``model.extract_feat`` over a labelled dataloader.

    The model runs in eval mode (BatchNorm uses, and does not update, its
    running statistics) under ``no_grad``; its previous mode is restored
    afterwards. Batches go through the model's own data preprocessor.

    In a distributed run every rank extracts its shard of the sampler and
    the features are gathered, in dataset order, on rank 0.

    Args:
        model (nn.Module): A model with ``extract_feat(inputs) -> N x C``
            and ``data_preprocessor`` (e.g. :class:`SimSiam`), possibly
            wrapped (DDP).
        dataloader (Iterable): Yields mmengine data batches
            (``dict(inputs=..., data_samples=[DataSample(gt_label)])``).
        max_batches (int, optional): Stop after this many batches.

    Returns:
        tuple: Features N x C (float32, CPU) and labels N (long), or
        ``(None, None)`` on ranks other than 0.
    """
    if is_model_wrapper(model):
        model = model.module
    was_training = model.training
    on_gpu = any(p.is_cuda for p in model.parameters())
    model.eval()
    feats, labels = [], []
    try:
        for i, data_batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            data = model.data_preprocessor(data_batch, False)
            feat = model.extract_feat(data['inputs'])  # N x C
            feats.append(feat.float().cpu())
            labels.append(_labels(data['data_samples']).long().cpu())
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError('the dataloader yielded no batch')
    feat, label = torch.cat(feats), torch.cat(labels)
    if get_world_size() == 1:
        return feat, label
    size = len(dataloader.dataset)  # type: ignore[attr-defined]
    rows = collect_results(
        list(zip(feat, label)), size, device='gpu' if on_gpu else 'cpu')
    if rows is None:
        return None, None
    return (torch.stack([r[0]
                         for r in rows]), torch.stack([r[1] for r in rows]))
