"""Weighted k-nearest-neighbour evaluation of frozen features.

The InstDisc protocol (Wu et al., CVPR 2018) that SimSiam's kNN numbers
use: the pooled backbone features of a labelled train and val split are
l2-normalised; each val sample takes its k most cosine-similar train
samples, and each neighbour votes for its own class with weight
``exp(sim / T)`` (T = 0.07). The class with the largest vote wins.

Memory stays bounded: the ``Nq x Nt`` similarity matrix is never built.
Queries and the train bank are both walked in chunks of ``chunk_size``
and a running top-k is merged chunk by chunk, so at most
``chunk_size x (chunk_size + k)`` similarities exist at once. A set
smaller than a chunk is simply one chunk.

``k`` larger than the train set is *clamped* to the train-set size with a
logged warning (every train sample then votes), so small monitoring
subsets still give a number; the clamped k is what :func:`effective_k`
returns and what ``tools/knn_eval.py`` writes to its JSON.
"""
import logging
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

#: The k of the InstDisc / SimSiam kNN protocol.
DEFAULT_KS = (10, 20, 100, 200)
#: Softmax temperature of the votes.
DEFAULT_TEMPERATURE = 0.07


def effective_k(k: int, num_train: int) -> int:
    """``k`` clamped to the train-set size."""
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    return min(k, num_train)


def nearest_neighbours(
        query: torch.Tensor,
        bank: torch.Tensor,
        k: int,
        chunk_size: int = 1024) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest dot products of each query row with the bank.

    Args:
        query (torch.Tensor): Nq x D.
        bank (torch.Tensor): Nt x D, ``k <= Nt``.
        k (int): Number of neighbours.
        chunk_size (int): Rows of ``query`` and of ``bank`` per block.
            Defaults to 1024.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: Similarities (Nq x k, sorted
        in descending order) and the bank indices of the neighbours
        (Nq x k).
    """
    if not 1 <= k <= bank.shape[0]:
        raise ValueError(f'k must be in [1, {bank.shape[0]}], got {k}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    sims, idxs = [], []
    for q_start in range(0, query.shape[0], chunk_size):
        q = query[q_start:q_start + chunk_size]  # B x D
        best_sim = q.new_empty(q.shape[0], 0)
        best_idx = torch.empty(
            q.shape[0], 0, dtype=torch.long, device=q.device)
        for t_start in range(0, bank.shape[0], chunk_size):
            block = bank[t_start:t_start + chunk_size]  # T x D
            sim = q @ block.T  # B x T
            idx = torch.arange(
                t_start, t_start + block.shape[0],
                device=q.device).expand_as(sim)
            cand_sim = torch.cat([best_sim, sim], dim=1)  # B x (k + T)
            cand_idx = torch.cat([best_idx, idx], dim=1)
            keep = min(k, cand_sim.shape[1])
            best_sim, pos = cand_sim.topk(keep, dim=1)  # sorted
            best_idx = cand_idx.gather(1, pos)
        sims.append(best_sim)
        idxs.append(best_idx)
    return torch.cat(sims), torch.cat(idxs)


def knn_class_scores(neighbour_sim: torch.Tensor,
                     neighbour_labels: torch.Tensor, num_classes: int,
                     temperature: float) -> torch.Tensor:
    """Votes ``exp(sim / T)`` summed per class, N x num_classes."""
    weights = (neighbour_sim / temperature).exp()  # N x k
    scores = weights.new_zeros(weights.shape[0], num_classes)
    return scores.scatter_add_(1, neighbour_labels, weights)


def knn_evaluate(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 val_feats: torch.Tensor,
                 val_labels: torch.Tensor,
                 ks: Sequence[int] = DEFAULT_KS,
                 temperature: float = DEFAULT_TEMPERATURE,
                 num_classes: Optional[int] = None,
                 chunk_size: int = 1024) -> Dict[str, float]:
    """Weighted kNN top-1 / top-5 accuracy (in %) of ``val`` given ``train``.

    Args:
        train_feats (torch.Tensor): Nt x D features (normalised here).
        train_labels (torch.Tensor): Nt integer labels.
        val_feats (torch.Tensor): Nv x D features.
        val_labels (torch.Tensor): Nv integer labels.
        ks (Sequence[int]): Numbers of neighbours; each k > Nt is clamped
            to Nt with a warning. Defaults to (10, 20, 100, 200).
        temperature (float): T of the ``exp(sim / T)`` votes.
            Defaults to 0.07.
        num_classes (int, optional): Defaults to 1 + the largest label.
        chunk_size (int): Block size of the neighbour search.
            Defaults to 1024.

    Returns:
        dict[str, float]: ``top1_k{k}`` and ``top5_k{k}`` for each
        requested k (keys use the requested k). Only classes that got a
        vote count for top-5 (with k < 5 neighbours it may be fewer than
        five classes); with fewer than five classes it is
        top-``num_classes``.

    Example:
        >>> feats = torch.eye(4).repeat(5, 1)  # 20 samples, 4 clusters
        >>> labels = torch.arange(4).repeat(5)
        >>> knn_evaluate(feats, labels, feats, labels, ks=(3,))
        {'top1_k3': 100.0, 'top5_k3': 100.0}
    """
    if train_feats.shape[0] == 0 or val_feats.shape[0] == 0:
        raise ValueError('kNN needs at least one train and one val sample, '
                         f'got {train_feats.shape[0]} and '
                         f'{val_feats.shape[0]}')
    if train_feats.shape[0] != train_labels.shape[0] or (
            val_feats.shape[0] != val_labels.shape[0]):
        raise ValueError('features and labels differ in length')
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    num_train = train_feats.shape[0]
    train_labels = train_labels.long().to(train_feats.device)
    val_labels = val_labels.long().to(train_feats.device)
    if num_classes is None:
        num_classes = int(max(train_labels.max(), val_labels.max())) + 1
    used = {k: effective_k(k, num_train) for k in ks}
    for k, k_used in used.items():
        if k_used < k:
            print_log(
                f'kNN: k={k} is larger than the {num_train} train samples; '
                f'using k={k_used} (every train sample votes)',
                logger='current',
                level=logging.WARNING)
    bank = F.normalize(train_feats.float(), dim=1)
    query = F.normalize(val_feats.float().to(bank.device), dim=1)
    sim, idx = nearest_neighbours(query, bank, max(used.values()), chunk_size)
    neighbour_labels = train_labels[idx]  # Nv x k_max
    top = min(5, num_classes)
    results: Dict[str, float] = {}
    for k, k_used in used.items():
        scores = knn_class_scores(sim[:, :k_used],
                                  neighbour_labels[:, :k_used], num_classes,
                                  temperature)
        best, pred = scores.topk(top, dim=1)  # Nv x top
        # a class without a vote is no prediction (ties at 0 are arbitrary)
        hit = (pred == val_labels[:, None]) & (best > 0)
        results[f'top1_k{k}'] = 100.0 * hit[:, 0].float().mean().item()
        results[f'top5_k{k}'] = 100.0 * hit.any(dim=1).float().mean().item()
    return results
