"""Mixed precision for ``--amp``, on GPUs and on CPUs.

The choice, made once by :func:`amp_optim_wrapper_cfg`:

========================  =================================================
device                    optim wrapper
========================  =================================================
CUDA with bf16 (Ampere+)  mmengine ``AmpOptimWrapper``, bfloat16, no loss
                          scaling (bf16 has float32's exponent range)
older CUDA GPUs           ``AmpOptimWrapper``, float16, dynamic loss scale
CPU                       :class:`CPUAmpOptimWrapper`: bfloat16 autocast
========================  =================================================

mmengine's ``AmpOptimWrapper`` asserts a GPU, hence the CPU wrapper. CPU
bf16 autocast runs on any x86/ARM CPU and is fast where the CPU has bf16
instructions (AVX512-BF16 / AMX); elsewhere it is a correctness feature
(same code path as a bf16 GPU run) rather than a speed-up.
"""
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from simsiam_mm.registry import OPTIM_WRAPPERS, SCOPE


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU bfloat16 autocast.

    Convolutions and matrix products run in bfloat16; the weights, their
    gradients and the optimizer state stay float32. No loss scaling is
    needed: bfloat16 keeps float32's exponent range.

    Args:
        dtype (str | torch.dtype): Only ``'bfloat16'``: CPU autocast has no
            float16 path worth using. Defaults to ``'bfloat16'``.
        **kwargs: Passed to ``OptimWrapper``.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError('CPUAmpOptimWrapper supports only bfloat16 '
                             f'(CPU autocast), got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


def amp_optim_wrapper_cfg(device: str,
                          bf16_supported: Optional[bool] = None) -> dict:
    """The optim-wrapper type and arguments ``--amp`` selects.

    Args:
        device (str): ``'cuda'`` or ``'cpu'`` (what mmengine's
            ``get_device`` returns; other accelerators are treated as CUDA by
            mmengine's ``AmpOptimWrapper``).
        bf16_supported (bool, optional): Whether the GPU computes in bf16;
            asked from torch when None.

    Returns:
        dict: Keys to merge into ``cfg.optim_wrapper``.
    """
    if device == 'cpu':
        return dict(type='CPUAmpOptimWrapper', _scope_=SCOPE)
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if bf16_supported:
        return dict(
            type='AmpOptimWrapper',
            dtype='bfloat16',
            loss_scale=dict(enabled=False))
    return dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
