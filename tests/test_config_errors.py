"""Config typos are named, with the closest valid name; errors that do not
come from the config pass through unchanged."""

import pytest
from _tools import load_tool
from _train_utils import DEMO, in_process_cfg, write_images

from simsiam_mm.engine import runtime
from simsiam_mm.engine.config_check import ConfigError, explain_build_error


def _load_train_tool():
    return load_tool('train')


def test_wrong_top_level_key_is_named_with_the_closest_key(tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f'_base_ = [{str(DEMO)!r}]\n'
                      'param_schedulers = []\n')
    with pytest.raises(SystemExit) as exit_:
        _load_train_tool().main([str(config), '--work-dir', str(tmp_path)])
    assert "'param_schedulers'" in str(exit_.value)
    assert "did you mean 'param_scheduler'" in str(exit_.value)


@pytest.mark.parametrize('options, expected', [
    (dict(model=dict(backbone=dict(type='ResNet_CIFARR'))),
     "model.backbone.type = 'ResNet_CIFARR' is not a registered model type "
     "in scope 'simsiam_mm'; did you mean 'ResNet_CIFAR'"),
    (dict(optim_wrapper=dict(optimizer=dict(momentom=0.9))),
     "optim_wrapper.optimizer.momentom: SGD has no argument 'momentom'; "
     "did you mean 'momentum'"),
])
def test_wrong_type_or_argument_is_named_with_the_closest(
        tmp_path, options, expected):
    data = write_images(tmp_path / 'digits', 8)
    cfg = in_process_cfg(
        DEMO,
        tmp_path,
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root=data)))
    cfg.merge_from_dict(options)
    runtime.apply_train_args(cfg, str(DEMO), work_dir=str(tmp_path))
    with pytest.raises(ConfigError) as err:
        runtime.run(cfg)
    assert expected in str(err.value)


@pytest.mark.parametrize('exc', [
    KeyError('momentum'),
    TypeError("zoom() got an unexpected keyword argument 'zzz'"),
    TypeError("SGD.__init__() got an unexpected keyword argument "
              "'momentum'"),
])
def test_an_error_the_config_does_not_explain_passes_through(exc):
    """Unknown key, a keyword no config dict holds, and one the class
    accepts (raised deeper down): None, so the caller re-raises as is."""
    from mmengine.config import Config
    cfg = Config(
        dict(optim_wrapper=dict(optimizer=dict(type='SGD', momentum=0.9))))
    assert explain_build_error(exc, cfg) is None
