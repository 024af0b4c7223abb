from .predictor_lr import FixedLRHook, SimSiamOptimWrapperConstructor

__all__ = ['FixedLRHook', 'SimSiamOptimWrapperConstructor']
