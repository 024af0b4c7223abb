"""Backbone-only weights for other codebases.

A SimSiam checkpoint holds ``state_dict['backbone.*']`` with mmpretrain's
ResNet names (``conv1``, ``bn1``, ``layer1..4``, ``downsample.0/1``), which
are torchvision's names too. Three formats are written:

* ``mmpretrain``: ``{'state_dict': {name: tensor}, 'meta': ...}`` without the
  ``backbone.`` prefix; loads into mmpretrain/mmdet ``ResNet`` with
  ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``.
* ``torchvision``: a bare state dict; ``torchvision.models.resnet50()``
  loads it with ``strict=False`` leaving exactly ``fc.weight`` and
  ``fc.bias`` missing.
* ``detectron2``: a pickle ``{'model': {name: ndarray}, '__author__': ...,
  'matching_heuristics': True}`` with detectron2's ResNet names
  (``stem.conv1``, ``res2..res5`` = ``layer1..4``, ``convN.norm``,
  ``shortcut``), the format of MoCo's detectron2 transfer.
"""
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, Mapping

import torch

from simsiam_mm.checkpoint import safe_load

FORMATS = ('mmpretrain', 'torchvision', 'detectron2')
BACKBONE_PREFIX = 'backbone.'

# torchvision / mmpretrain ResNet names, without the backbone prefix
_STEM = re.compile(r'^(conv1|bn1)\.(\w+)$')
_BLOCK = re.compile(r'^layer([1-4])\.(\d+)\.'
                    r'(conv[1-3]|bn[1-3]|downsample\.[01])\.(\w+)$')
# detectron2 names
_D2_STEM = re.compile(r'^stem\.conv1\.(?:norm\.)?(\w+)$')
_D2_BLOCK = re.compile(r'^res([2-5])\.(\d+)\.(conv[1-3]|shortcut)\.'
                       r'(norm\.)?(\w+)$')


class NoBackboneError(KeyError):
    """The checkpoint has no ``backbone.*`` weights."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def backbone_state_dict(
        checkpoint: Mapping[str, Any],
        prefix: str = BACKBONE_PREFIX) -> 'OrderedDict[str, torch.Tensor]':
    """The backbone tensors of a loaded checkpoint, prefix removed.

    Accepts an mmengine checkpoint (``{'state_dict': ...}``) or a bare
    state dict.

    Raises:
        NoBackboneError: No key starts with ``prefix``.
    """
    state = checkpoint.get('state_dict', checkpoint)
    out = OrderedDict((key[len(prefix):], value)
                      for key, value in state.items()
                      if key.startswith(prefix))
    if not out:
        sample = ', '.join(list(state)[:5]) or 'nothing'
        raise NoBackboneError(
            f'no {prefix!r} weights in the checkpoint (its keys start with: '
            f'{sample}); expected a SimSiam checkpoint written by '
            'tools/train.py')
    return out


def load_backbone(
        path: str,
        prefix: str = BACKBONE_PREFIX) -> 'OrderedDict[str, torch.Tensor]':
    """Read a checkpoint with :func:`safe_load`; its backbone tensors."""
    return backbone_state_dict(safe_load(path, 'cpu'), prefix)


def _check_resnet_names(state: Mapping[str, torch.Tensor]) -> None:
    bad = [k for k in state if not (_STEM.match(k) or _BLOCK.match(k))]
    if bad:
        raise ValueError(
            'not a torchvision-style ResNet backbone (e.g. a deep-stem '
            f'ResNetV1c/d or another architecture): {bad[:5]}')


def to_torchvision(
        state: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """mmpretrain ResNet names are torchvision's: checked, copied as is."""
    _check_resnet_names(state)
    return OrderedDict((k, v.clone()) for k, v in state.items())


def detectron2_name(name: str) -> str:
    """``layer1.0.bn2.running_var`` -> ``res2.0.conv2.norm.running_var``."""
    match = _STEM.match(name)
    if match:
        layer, field = match.groups()
        return ('stem.conv1.'
                if layer == 'conv1' else 'stem.conv1.norm.') + field
    match = _BLOCK.match(name)
    if not match:
        raise ValueError(f'not a torchvision-style ResNet name: {name}')
    stage, block, layer, field = match.groups()
    head = f'res{int(stage) + 1}.{block}.'
    if layer == 'downsample.0':
        return f'{head}shortcut.{field}'
    if layer == 'downsample.1':
        return f'{head}shortcut.norm.{field}'
    if layer.startswith('bn'):
        return f'{head}conv{layer[2]}.norm.{field}'
    return f'{head}{layer}.{field}'


def torchvision_name(d2_name: str) -> str:
    """Inverse of :func:`detectron2_name`."""
    match = _D2_STEM.match(d2_name)
    if match:
        norm = '.norm.' in d2_name
        return ('bn1.' if norm else 'conv1.') + match.group(1)
    match = _D2_BLOCK.match(d2_name)
    if not match:
        raise ValueError(f'not a detectron2 ResNet name: {d2_name}')
    stage, block, layer, norm, field = match.groups()
    head = f'layer{int(stage) - 1}.{block}.'
    if layer == 'shortcut':
        return f'{head}downsample.{1 if norm else 0}.{field}'
    return f'{head}{"bn" if norm else "conv"}{layer[4]}.{field}'


def to_detectron2(state: Mapping[str, torch.Tensor],
                  author: str = 'simsiam_mm') -> Dict[str, Any]:
    """The detectron2 ``.pkl`` payload (``num_batches_tracked`` dropped:
    detectron2's frozen BN has no such buffer)."""
    _check_resnet_names(state)
    model = OrderedDict((detectron2_name(k), v.detach().cpu().numpy())
                        for k, v in state.items()
                        if not k.endswith('num_batches_tracked'))
    return {'model': model, '__author__': author, 'matching_heuristics': True}


def export_backbone(checkpoint_path: str,
                    out_path: str,
                    fmt: str = 'mmpretrain') -> Dict[str, Any]:
    """Write the backbone of a SimSiam checkpoint in format ``fmt``.

    Returns:
        dict: What was written (``format``, ``num_tensors``, ``out``).
    """
    if fmt not in FORMATS:
        raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')
    state = load_backbone(checkpoint_path)
    if fmt == 'mmpretrain':
        payload: Any = dict(
            state_dict=state,
            meta=dict(source=checkpoint_path, exported_by='simsiam_mm'))
        torch.save(payload, out_path)
        num = len(state)
    elif fmt == 'torchvision':
        payload = to_torchvision(state)
        torch.save(payload, out_path)
        num = len(payload)
    else:
        payload = to_detectron2(state)
        with open(out_path, 'wb') as f:
            pickle.dump(payload, f)
        num = len(payload['model'])
    return dict(format=fmt, num_tensors=num, out=out_path)
