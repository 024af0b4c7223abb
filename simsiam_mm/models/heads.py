"""The two MLP heads of SimSiam (Sec. 3, "Baseline settings", of arXiv
2011.10566, and its appendix D for CIFAR).

Both heads take and return ``N x C`` tensors. The layer order is written out
in ``__init__`` so that it can be checked against the paper at a glance.
"""
from typing import List, Optional

import torch
from mmcv.cnn import build_norm_layer
from torch import nn

from simsiam_mm.registry import MODELS


def _fc_block(in_channels: int,
              out_channels: int,
              norm_cfg: Optional[dict],
              relu: bool,
              affine: bool = True) -> List[nn.Module]:
    """``fc -> [BN] -> [ReLU]``; the fc has a bias only if no BN follows."""
    layers: List[nn.Module] = [
        nn.Linear(in_channels, out_channels, bias=norm_cfg is None)
    ]
    if norm_cfg is not None:
        layers.append(
            build_norm_layer(dict(norm_cfg, affine=affine), out_channels)[1])
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


@MODELS.register_module()
class SimSiamProjector(nn.Module):
    """Projection MLP of the encoder f.

    Paper: "The projection MLP (in f) has BN applied to each fully-connected
    (fc) layer, including its output fc. Its output fc has no ReLU. The
    hidden fc is 2048-d. This MLP has 3 layers." The output BN has no
    learnable affine (official code: ``BatchNorm1d(affine=False)``).

    Args:
        in_channels (int): Width of the pooled backbone feature.
        hid_channels (int): Hidden width. Defaults to 2048.
        out_channels (int): Output width d. Defaults to 2048.
        num_layers (int): Number of fc layers; 3 for ImageNet, 2 for the
            CIFAR recipe (Appendix D). Defaults to 3.
        norm_cfg (dict): Norm layer config; ``BN1d`` by default, ``SyncBN``
            in the multi-GPU ImageNet configs.
            Defaults to ``dict(type='BN1d')``.
        hidden_norm (bool): BN after the hidden fc layers (Table 3).
            Defaults to True.
        out_norm (bool): BN after the output fc (Table 3). Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int = 2048,
                 out_channels: int = 2048,
                 num_layers: int = 3,
                 norm_cfg: Optional[dict] = None,
                 hidden_norm: bool = True,
                 out_norm: bool = True) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f'num_layers must be >= 2, got {num_layers}')
        norm_cfg = norm_cfg or dict(type='BN1d')
        hid_norm = norm_cfg if hidden_norm else None
        layers: List[nn.Module] = []
        width = in_channels
        for _ in range(num_layers - 1):  # fc -> BN -> ReLU
            layers += _fc_block(width, hid_channels, hid_norm, relu=True)
            width = hid_channels
        # output fc -> BN (no affine), no ReLU
        layers += _fc_block(
            width,
            out_channels,
            norm_cfg if out_norm else None,
            relu=False,
            affine=False)
        self.mlp = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)  # N x d


@MODELS.register_module()
class SimSiamPredictor(nn.Module):
    """Prediction MLP h.

    Paper: "The prediction MLP (h) has BN applied to its hidden fc layers.
    Its output fc does not have BN or ReLU. This MLP has 2 layers. The
    dimension of h's input and output (z and p) is d = 2048, and h's hidden
    layer's dimension is 512, making h a bottleneck structure."

    Args:
        in_channels (int): d. Defaults to 2048.
        hid_channels (int): Bottleneck width, d/4. Defaults to 512.
        out_channels (int): d. Defaults to 2048.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN1d')``.
        hidden_norm (bool): BN after the hidden fc (Table 3).
            Defaults to True.
        out_norm (bool): BN after the output fc as well (Table 3's unstable
            "all" variant). Defaults to False.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 512,
                 out_channels: int = 2048,
                 norm_cfg: Optional[dict] = None,
                 hidden_norm: bool = True,
                 out_norm: bool = False) -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN1d')
        layers = _fc_block(
            in_channels,
            hid_channels,
            norm_cfg if hidden_norm else None,
            relu=True)
        # output fc (with bias): no BN, no ReLU
        layers += _fc_block(
            hid_channels,
            out_channels,
            norm_cfg if out_norm else None,
            relu=False)
        self.mlp = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z)  # N x d
