"""``--amp``: the optim wrapper chosen per device, and bfloat16 training on
CPU."""
import pytest
import torch
from _train_utils import DEMO, param_vector, tiny_demo_cfg

from simsiam_mm.engine import amp, runtime


def test_amp_choice_per_device():
    assert amp.amp_optim_wrapper_cfg('cpu')['type'] == 'CPUAmpOptimWrapper'
    bf16 = amp.amp_optim_wrapper_cfg('cuda', bf16_supported=True)
    assert (bf16['dtype'], bf16['loss_scale']) == ('bfloat16',
                                                   dict(enabled=False))
    fp16 = amp.amp_optim_wrapper_cfg('cuda', bf16_supported=False)
    assert (fp16['dtype'], fp16['loss_scale']) == ('float16', 'dynamic')
    with pytest.raises(ValueError, match='bfloat16'):
        amp.CPUAmpOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                      lr=0.1))


def test_amp_on_cpu_trains_in_bfloat16(tmp_path):
    cfg = tiny_demo_cfg(tmp_path)
    runtime.apply_train_args(
        cfg, str(DEMO), work_dir=str(tmp_path / 'wd'), amp=True)
    runner = runtime.build_runner(cfg)
    seen = []
    model = runner.model
    handle = model.backbone.conv1.register_forward_hook(
        lambda mod, inp, out: seen.append(out.dtype))
    runner.train()
    handle.remove()
    assert isinstance(runner.optim_wrapper, amp.CPUAmpOptimWrapper)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.isfinite(param_vector(model)).all()
    assert runner.iter == 2
