"""Evaluation: kNN, feature extraction, backbone export, linear check."""
from .export import (FORMATS, NoBackboneError, backbone_state_dict,
                     export_backbone, load_backbone, to_detectron2,
                     to_torchvision)
from .features import extract_features
from .knn import DEFAULT_KS, DEFAULT_TEMPERATURE, knn_evaluate
from .linear import (BackboneChangedError, LinearEvalHook,
                     check_backbone_unchanged)

__all__ = [
    'BackboneChangedError', 'DEFAULT_KS', 'DEFAULT_TEMPERATURE', 'FORMATS',
    'LinearEvalHook', 'NoBackboneError', 'backbone_state_dict',
    'check_backbone_unchanged', 'export_backbone', 'extract_features',
    'knn_evaluate', 'load_backbone', 'to_detectron2', 'to_torchvision'
]
