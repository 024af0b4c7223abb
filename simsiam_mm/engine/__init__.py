from .amp import CPUAmpOptimWrapper
from .hooks import AtomicCheckpointHook, NaNGuardHook, WorkDirError
from .monitor_hooks import CollapseError, CollapseMonitorHook, KNNMonitorHook
from .precise_bn import PreciseBNHook
from .predictor_lr import FixedLRHook, SimSiamOptimWrapperConstructor
from .pretrained_init import SimSiamPretrained
from .resume import ResumableEpochBasedTrainLoop
from .runtime import PortableRunner

__all__ = [
    'FixedLRHook', 'SimSiamOptimWrapperConstructor', 'CollapseError',
    'CollapseMonitorHook', 'KNNMonitorHook', 'SimSiamPretrained',
    'AtomicCheckpointHook', 'CPUAmpOptimWrapper', 'NaNGuardHook',
    'PortableRunner', 'PreciseBNHook', 'ResumableEpochBasedTrainLoop',
    'WorkDirError'
]
