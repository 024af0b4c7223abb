"""The SimSiam objective, Eq. (1)-(4) of arXiv 2011.10566.

The stop-gradient of the paper lives here and nowhere else: ``_target``.
"""
from typing import Sequence

import torch
import torch.nn.functional as F

SIMILARITIES = ('cosine', 'cross_entropy')
SYMMETRIES = ('symmetric', 'asymmetric', 'asymmetric_2x')


def _target(z: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
    """stopgrad(z): "z is treated as a constant" (Eq. 3)."""
    return z.detach() if stop_gradient else z


def negative_similarity(p: torch.Tensor,
                        z: torch.Tensor,
                        similarity: str = 'cosine',
                        stop_gradient: bool = True) -> torch.Tensor:
    """D(p, stopgrad(z)), averaged over the batch.

    Paper: "D(p1, z2) = - p1/||p1||2 . z2/||z2||2" (Eq. 1); the
    cross-entropy variant of Sec. 4.5 is "D(p1, z2) = -softmax(z2) .
    log softmax(p1)".

    Args:
        p (torch.Tensor): Predictions, N x d.
        z (torch.Tensor): Projections of the other view, N x d.
        similarity (str): ``'cosine'`` or ``'cross_entropy'``.
        stop_gradient (bool): Treat z as a constant. Defaults to True.

    Returns:
        torch.Tensor: Scalar loss; -1 is the minimum of the cosine form.
    """
    z = _target(z, stop_gradient)
    if similarity == 'cosine':
        return -F.cosine_similarity(p, z, dim=1).mean()
    if similarity == 'cross_entropy':
        return -(F.softmax(z, dim=1) * F.log_softmax(p, dim=1)).sum(1).mean()
    raise ValueError(f'similarity must be one of {SIMILARITIES}, '
                     f'got {similarity!r}')


def simsiam_loss(ps: Sequence[torch.Tensor],
                 zs: Sequence[torch.Tensor],
                 symmetry: str = 'symmetric',
                 similarity: str = 'cosine',
                 stop_gradient: bool = True) -> torch.Tensor:
    """The loss over the views of one batch.

    ``symmetric`` (Eq. 2): L = 1/2 D(p1, z2) + 1/2 D(p2, z1).
    ``asymmetric`` (Sec. 4.6): L = D(p1, z2) only.
    ``asymmetric_2x``: the asymmetric loss on two independent pairs per
    image (four views), "which has the same number of pairs" as symmetric.

    Args:
        ps (Sequence[torch.Tensor]): Predictions, one N x d per view.
        zs (Sequence[torch.Tensor]): Projections, one N x d per view.
        symmetry (str): One of :data:`SYMMETRIES`.
        similarity (str): One of :data:`SIMILARITIES`.
        stop_gradient (bool): See :func:`negative_similarity`.

    Returns:
        torch.Tensor: The scalar loss.
    """
    if symmetry == 'symmetric':
        pairs = [(0, 1), (1, 0)]
    elif symmetry == 'asymmetric':
        pairs = [(0, 1)]
    elif symmetry == 'asymmetric_2x':
        pairs = [(0, 1), (2, 3)]
    else:
        raise ValueError(
            f'symmetry must be one of {SYMMETRIES}, got {symmetry!r}')
    needed = max(max(pair) for pair in pairs) + 1
    if len(ps) < needed:
        raise ValueError(f'symmetry={symmetry!r} needs {needed} views per '
                         f'image, the batch has {len(ps)}')
    losses = [
        negative_similarity(ps[i], zs[j], similarity, stop_gradient)
        for i, j in pairs
    ]
    return sum(losses) / len(losses)
