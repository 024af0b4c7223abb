"""SimSiam, Algorithm 1 of arXiv 2011.10566.

    for x in loader:
        x1, x2 = aug(x), aug(x)           # two views, one encoder pass each
        z1, z2 = f(x1), f(x2)             # projections, N x d
        p1, p2 = h(z1), h(z2)             # predictions, N x d
        L = D(p1, z2) / 2 + D(p2, z1) / 2  # D with stop-grad on z

``f`` is ``backbone`` + global average pooling + ``neck`` (the projector);
``h`` is ``head`` (the predictor); ``D`` and the stop-gradient are in
:mod:`simsiam_mm.models.losses`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from torch import nn

from simsiam_mm.registry import MODELS, SCOPE
from .losses import SIMILARITIES, SYMMETRIES, simsiam_loss

Views = Union[torch.Tensor, Sequence[torch.Tensor]]


def effective_rank(z: torch.Tensor) -> torch.Tensor:
    """Effective rank of a batch of z/||z||, as a fraction of min(N, d).

    exp of the entropy of the normalised singular values (Roy & Vetterli,
    2007): 1 when the batch spreads evenly over min(N, d) directions,
    1/min(N, d) when every sample lies on one line. It sees the collapse
    ``z_std`` cannot: with the projector's output BN (no affine) a
    collapse to z = +-v keeps every channel's std, so z_std stays at
    1/sqrt(d), while the rank falls to one direction.
    """
    z = z.detach().float()
    # a non-finite z (a diverging run) gives NaN, for NaNGuardHook to
    # report, instead of an eigensolver error; no host sync
    finite = torch.isfinite(z).all()
    z = F.normalize(torch.nan_to_num(z, 0.0, 0.0, 0.0), dim=1)
    # singular values from the eigenvalues of the smaller Gram matrix: the
    # same numbers as svdvals, and much cheaper than an SVD of z
    gram = z @ z.T if z.shape[0] <= z.shape[1] else z.T @ z
    eig = torch.linalg.eigvalsh(gram)
    # round-off puts ~eps * size * max on the zero eigenvalues; drop it
    tol = eig.max() * gram.shape[0] * torch.finfo(eig.dtype).eps
    s = torch.where(eig > tol, eig, torch.zeros_like(eig)).sqrt()
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    rank = entropy.exp() / min(z.shape)
    return torch.where(finite, rank, torch.full_like(rank, float('nan')))


def _build(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build a sub-module in this scope, whatever the caller's scope is.

    A ``type='simsiam_mm.SimSiam'`` built from an mmdet or mmpretrain config
    still finds ``SimSiamProjector`` (ours) and ``ResNet`` (mmpretrain's,
    our parent scope).
    """
    if isinstance(cfg, nn.Module):
        return cfg
    with DefaultScope.overwrite_default_scope(SCOPE):
        return MODELS.build(cfg)


@MODELS.register_module()
class SimSiam(BaseModel):
    """SimSiam: "Siamese networks [...] without negative sample pairs,
    large batches, or momentum encoders".

    Args:
        backbone (dict): The backbone, e.g. mmpretrain's
            ``ResNet(depth=50, zero_init_residual=True)``.
        neck (dict): The projection MLP (:class:`SimSiamProjector`).
        head (dict, optional): The prediction MLP h
            (:class:`SimSiamPredictor`); ``None`` removes it (h = identity,
            Table 1a: collapses).
        data_preprocessor (dict, optional): Takes the list of views.
            Defaults to mmpretrain's ``SelfSupDataPreprocessor`` without
            normalisation (the view pipeline normalises).
        stop_gradient (bool): Fig. 2 ablation; False collapses.
            Defaults to True.
        freeze_head (bool): "h fixed as random initialization"
            (Table 1b: does not converge). Defaults to False.
        symmetry (str): ``'symmetric'`` (default), ``'asymmetric'`` or
            ``'asymmetric_2x'`` (Sec. 4.6; the last needs four views).
        similarity (str): ``'cosine'`` (default) or ``'cross_entropy'``
            (Sec. 4.5).
        views_in_one_pass (bool): Opt-in: concatenate the views into one
            encoder pass. Faster on small batches but BatchNorm then sees
            both views at once, which is *not* the paper's method.
            Defaults to False (one pass per view, BN statistics per view).
        channels_last (bool): Run the backbone in channels-last memory
            format (a speed option, same numbers). Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 stop_gradient: bool = True,
                 freeze_head: bool = False,
                 symmetry: str = 'symmetric',
                 similarity: str = 'cosine',
                 views_in_one_pass: bool = False,
                 channels_last: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if symmetry not in SYMMETRIES:
            raise ValueError(
                f'symmetry must be one of {SYMMETRIES}, got {symmetry!r}')
        if similarity not in SIMILARITIES:
            raise ValueError(f'similarity must be one of {SIMILARITIES}, '
                             f'got {similarity!r}')
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        super().__init__(
            data_preprocessor=_build(data_preprocessor), init_cfg=init_cfg)
        self.backbone = _build(backbone)
        self.neck = _build(neck)
        self.head = nn.Identity() if head is None else _build(head)
        self.stop_gradient = stop_gradient
        self.freeze_head = freeze_head
        self.symmetry = symmetry
        self.similarity = similarity
        self.views_in_one_pass = views_in_one_pass
        self.channels_last = channels_last
        if freeze_head:
            self.head.requires_grad_(False)
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def extract_feat(self, inputs: Views) -> torch.Tensor:
        """Pooled last-stage backbone features ("pool5"), N x C.

        These are the features of linear and kNN evaluation. A list of
        views uses the first.
        """
        if not isinstance(inputs, torch.Tensor):
            inputs = inputs[0]
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        feat = self.backbone(inputs)[-1]  # N x C x H x W
        return torch.flatten(F.adaptive_avg_pool2d(feat, 1), 1)  # N x C

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder f: backbone, pooling and projector, N x d."""
        return self.neck(self.extract_feat(x))

    def loss(self,
             inputs: Sequence[torch.Tensor],
             data_samples: Optional[list] = None) -> Dict[str, torch.Tensor]:
        """The SimSiam loss and, as non-loss entries, the monitors.

        Monitors (no extra forward): ``z_std``, the per-channel std of
        z/||z|| averaged over channels (Fig. 2: about 1/sqrt(d) when
        healthy, 0 when collapsed); ``z_cos``, the mean cosine
        similarity of the two views' projections; and ``z_rank``, see
        :func:`effective_rank`.
        """
        if isinstance(inputs, torch.Tensor) or len(inputs) < 2:
            raise ValueError('SimSiam needs a list of at least two views per '
                             'batch; check the pipeline (e.g. '
                             'TwoViewTransform / MultiView)')
        if self.views_in_one_pass:
            n = inputs[0].shape[0]
            zs = list(self.encode(torch.cat(list(inputs))).split(n))
        else:
            zs = [self.encode(x) for x in inputs]  # BN statistics per view
        ps = [self.head(z) for z in zs]
        loss = simsiam_loss(ps, zs, self.symmetry, self.similarity,
                            self.stop_gradient)
        with torch.no_grad():
            z_std = torch.stack(
                [F.normalize(z, dim=1).std(dim=0).mean() for z in zs]).mean()
            z_cos = F.cosine_similarity(zs[0], zs[1], dim=1).mean()
            z_rank = torch.stack([effective_rank(z) for z in zs]).mean()
        return dict(loss=loss, z_std=z_std, z_cos=z_cos, z_rank=z_rank)

    def forward(
        self,
        inputs: Views,
        data_samples: Optional[list] = None,
        mode: str = 'tensor'
    ) -> Union[Dict[str, torch.Tensor], Tuple[torch.Tensor], torch.Tensor]:
        """``loss``: the loss dict; ``tensor``: the backbone's feature maps;
        ``predict``: the pooled features of :meth:`extract_feat`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            if not isinstance(inputs, torch.Tensor):
                inputs = inputs[0]
            return self.backbone(inputs)
        if mode == 'predict':
            return self.extract_feat(inputs)
        raise ValueError(f'mode must be loss, tensor or predict, got {mode!r}')
