from .heads import SimSiamPredictor, SimSiamProjector
from .losses import negative_similarity, simsiam_loss
from .simsiam import SimSiam

__all__ = [
    'SimSiam', 'SimSiamProjector', 'SimSiamPredictor', 'negative_similarity',
    'simsiam_loss'
]
