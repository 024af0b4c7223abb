"""The mmengine internals simsiam_mm relies on are those it was written
against; another mmengine version is reported, not asserted."""
import warnings

import pytest
from mmengine.hooks import CheckpointHook

from simsiam_mm.engine import AtomicCheckpointHook
from simsiam_mm.engine import mmengine_compat as compat
from simsiam_mm.registry import MODELS


def test_the_mmengine_code_we_override_or_restate_is_unchanged():
    changed = compat.changed_internals()
    assert not changed, (
        'mmengine code that simsiam_mm overrides, re-states or relies on has '
        f'changed: {", ".join(changed)}. Read each against the seams in '
        'simsiam_mm/engine/mmengine_compat.py, adapt them, run the resume '
        'and checkpoint tests, then update PINNED.')


def test_a_change_or_a_removal_is_reported(monkeypatch):
    name = 'mmengine.runner.EpochBasedTrainLoop.run'
    monkeypatch.setitem(compat.PINNED, name, '0' * 64)
    assert compat.changed_internals() == [name]
    monkeypatch.setitem(compat.PINNED, name, compat.source_fingerprint(name))
    gone = 'mmengine.hooks.CheckpointHook._no_such_method'
    assert compat.source_fingerprint(gone) == ''
    monkeypatch.setitem(compat.PINNED, gone, '0' * 64)
    assert compat.changed_internals() == [gone]


def test_another_mmengine_version_warns():
    with pytest.warns(
            compat.MMEngineVersionWarning,
            match=r'mmengine==0\.10\.7, found 0\.11\.0'):
        assert not compat.check_mmengine_version('0.11.0')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert compat.check_mmengine_version(compat.TESTED_VERSION)


def test_a_missing_hook_point_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(CheckpointHook, '_save_checkpoint_with_step')
    with pytest.raises(
            RuntimeError,
            match='CheckpointHook._save_checkpoint_with_step does '
            'not exist'):
        AtomicCheckpointHook(interval=1)


def test_the_registry_error_of_an_unknown_type_is_parsed():
    with pytest.raises(KeyError) as err:
        MODELS.build(dict(type='NoSuchModel'))
    assert compat.parse_missing_type(err.value) == ('NoSuchModel',
                                                    'simsiam_mm', 'model')
    assert compat.parse_missing_type(KeyError('model')) is None
