"""Errors that name the wrong config key and the closest valid names.

mmengine silently ignores a misspelt top-level key (``train_dataloder``)
and reports a wrong ``type`` or argument without saying where in the config
it is. :func:`check_top_level_keys` runs before the runner is built;
:func:`explain_build_error` turns a registry ``KeyError`` or an unexpected
keyword ``TypeError`` raised while building into a :class:`ConfigError`
naming the config path and the closest names (``difflib``).
"""
import difflib
import inspect
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import Registry

# Keys read by mmengine's Runner.from_cfg / wrap_model, by the OpenMMLab
# train/test tools, and by simsiam_mm.
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters', 'runner_type',
    'custom_imports', 'compile', 'cfg', 'gpu_ids', 'tta_model', 'tta_pipeline',
    'strategy', 'vis_backends', 'train_pipeline', 'test_pipeline',
    'val_pipeline', 'knn_pipeline', 'knn_train_dataloader',
    'knn_val_dataloader'
})
# Keys that are refused, with the reason.
REFUSED_KEYS = {
    'trusted_checkpoints':
    'a config file cannot grant trust to a checkpoint (a config that comes '
    'with a checkpoint could trust it). Remove the key; trust a checkpoint '
    'when you run the command: --trust-checkpoint PATH, or '
    'SIMSIAM_MM_TRUSTED_CHECKPOINTS=PATH',
}


class ConfigError(KeyError):
    """A config key or type that does not exist, with suggestions."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ''


def _close(word: str, names, n: int = 3, cutoff: float = 0.6) -> List[str]:
    return difflib.get_close_matches(word, sorted(set(names)), n, cutoff)


def check_top_level_keys(cfg: Config, cutoff: float = 0.85) -> None:
    """Refuse a top-level key that is a near miss of a key mmengine reads.

    Config variables (``lr``, ``dim``, ``batch_size`` ...) are fine: only a
    key that is *not* known but is within ``cutoff`` similarity of a known
    one is taken for a typo.

    Raises:
        ConfigError: naming the key and the closest valid keys.
    """
    for key in cfg.keys():
        if key in REFUSED_KEYS:
            raise ConfigError(f'Config key {key!r} is refused: '
                              f'{REFUSED_KEYS[key]}.')
        if key in RUNNER_KEYS or key.startswith('_'):
            continue
        close = _close(key, RUNNER_KEYS, cutoff=cutoff)
        if close:
            raise ConfigError(
                f'Config key {key!r} is not read by the runner and would be '
                f'ignored; did you mean {" or ".join(map(repr, close))}?')


def _paths(node: Any, prefix: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dict in a config tree with its dotted path."""
    if isinstance(node, dict):
        yield prefix, node
        for key, value in node.items():
            yield from _paths(value, f'{prefix}.{key}' if prefix else key)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _paths(value, f'{prefix}[{i}]')


def _build_frame(exc: BaseException) -> Optional[dict]:
    """Locals of the innermost mmengine ``build_from_cfg`` in the traceback.
    """
    found = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == 'build_from_cfg' and \
                'registry' in frame.f_locals:
            found = dict(frame.f_locals)
        tb = tb.tb_next
    return found


def _visible_names(registry: Registry) -> List[str]:
    names = []
    node = registry
    while node is not None:
        node.import_from_location()
        names += list(node.module_dict)
        node = node.parent
    return names


def _accepted_args(obj: Any) -> List[str]:
    """Keyword names a class (walking up through ``**kwargs``) accepts."""
    names: List[str] = []
    classes = inspect.getmro(obj) if inspect.isclass(obj) else [obj]
    for cls in classes:
        func = cls.__init__ if inspect.isclass(cls) else cls
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            break
        names += [
            p.name for p in params.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD,
                          p.KEYWORD_ONLY) and p.name != 'self'
        ]
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return names


def explain_build_error(exc: BaseException,
                        cfg: Config) -> Optional[ConfigError]:
    """A :class:`ConfigError` for a wrong ``type`` or argument, else None.

    Args:
        exc (BaseException): What building (``Runner.from_cfg``,
            ``runner.train()``) raised.
        cfg (Config): The config that was built.
    """
    frame = _build_frame(exc)
    if frame is None:
        return None
    registry = frame['registry']
    obj_type = frame.get('obj_type')
    message = str(exc)
    if isinstance(exc, KeyError) and isinstance(obj_type, str) and \
            'registry' in message:
        where = [
            f'{path}.type' if path else 'type'
            for path, d in _paths(cfg._cfg_dict.to_dict())
            if d.get('type') == obj_type
        ] or ['(not found in the config: built by code)']
        close = _close(obj_type.split('.')[-1], _visible_names(registry))
        hint = (f'did you mean {" or ".join(map(repr, close))}?'
                if close else 'no similar name is registered.')
        return ConfigError(
            f'{", ".join(where)} = {obj_type!r} is not a registered '
            f'{registry.name} type in scope {registry.scope!r}; {hint}')
    if isinstance(exc, TypeError) and 'unexpected keyword argument' in \
            message and 'obj_cls' in frame:
        obj_cls = frame['obj_cls']
        bad = message.rsplit("'", 2)[-2] if message.count("'") >= 2 else ''
        if bad not in (frame.get('args') or {}):
            return None  # raised deeper than this build, not by the config
        name = getattr(obj_cls, '__name__', str(obj_cls))
        where = [
            f'{path}.{bad}' if path else bad
            for path, d in _paths(cfg._cfg_dict.to_dict())
            if bad in d and str(d.get('type', '')).split('.')[-1] == name
        ] or [bad]
        close = _close(bad, _accepted_args(obj_cls))
        hint = (f'did you mean {" or ".join(map(repr, close))}?' if close else
                f'valid arguments: {", ".join(_accepted_args(obj_cls))}.')
        return ConfigError(f'{", ".join(where)}: {name} has no argument '
                           f'{bad!r}; {hint}')
    return None
