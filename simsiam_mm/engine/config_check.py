"""Errors that name the wrong config key and the closest valid names.

mmengine silently ignores a misspelt top-level key (``train_dataloder``)
and reports a wrong ``type`` or argument without saying where in the config
it is. :func:`check_top_level_keys` runs before the runner is built.
:func:`explain_build_error` runs only once building has failed: it turns the
registry ``KeyError`` of an unknown type, or the ``TypeError`` of an
unexpected keyword argument, into a :class:`ConfigError` naming the config
path and the closest names (``difflib``). It reads the error message, the
config and the registries (never the traceback); whatever it cannot place
is re-raised unchanged, so it never rejects a config mmengine would build.
"""
import difflib
import inspect
import re
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import Registry

from .mmengine_compat import parse_missing_type

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


def _registries() -> Iterator[Registry]:
    """Every registry node: mmengine's roots and all their descendants."""
    import mmengine.registry as roots
    stack = [r for r in vars(roots).values() if isinstance(r, Registry)]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            yield node
            stack.extend(node.children.values())


def _visible_names(registry: Registry) -> List[str]:
    """Names a build in ``registry`` can reach (itself and its parents)."""
    names = []
    node = registry
    while node is not None:
        node.import_from_location()
        names += list(node.module_dict)
        node = node.parent
    return names


def _registered(type_: Any) -> List[Any]:
    """Every object registered under the name of ``type_`` in any scope
    (``type_`` itself if it is not a name)."""
    if not isinstance(type_, str):
        return [type_]
    name = type_.split('.')[-1]
    return [
        node.module_dict[name] for node in _registries()
        if name in node.module_dict
    ]


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


def _rejects(obj: Any, owner: Optional[str], arg: str) -> bool:
    """Whether building ``obj`` can raise "``owner`` got an unexpected
    keyword argument ``arg``"."""
    if inspect.isclass(obj):
        names = [c.__name__ for c in inspect.getmro(obj)]
    else:
        names = [getattr(obj, '__name__', '')]
    return (owner is None or owner in names) and \
        arg not in _accepted_args(obj)


# Python >= 3.10 names the function: "SGD.__init__() got an unexpected ..."
_UNEXPECTED = re.compile(r"^(?:(?P<func>[\w.]+)\(\) )?.*got an unexpected "
                         r"keyword argument '(?P<arg>\w+)'")


def _unknown_type(exc: KeyError, tree: dict) -> Optional[ConfigError]:
    parsed = parse_missing_type(exc)
    if parsed is None:
        return None
    obj_type, scope, registry_name = parsed
    registry = next((r for r in _registries()
                     if r.name == registry_name and r.scope == scope), None)
    if registry is None:
        return None
    where = [
        f'{path}.type' if path else 'type'
        for path, d in _paths(tree) if d.get('type') == obj_type
    ] or ['(not found in the config: built by code)']
    close = _close(obj_type.split('.')[-1], _visible_names(registry))
    hint = (f'did you mean {" or ".join(map(repr, close))}?'
            if close else 'no similar name is registered.')
    return ConfigError(f'{", ".join(where)} = {obj_type!r} is not a '
                       f'registered {registry_name} type in scope '
                       f'{scope!r}; {hint}')


def _unexpected_argument(exc: TypeError, tree: dict) -> Optional[ConfigError]:
    match = _UNEXPECTED.match(str(exc))
    if match is None:
        return None
    bad = match['arg']
    func = match['func'] or ''
    if func.endswith('__init__'):  # a class; Python < 3.10 omits its name
        func = func[:-len('__init__')].rstrip('.')
    owner = func.split('.')[-1] if func else None
    found = []
    for path, d in _paths(tree):
        if bad not in d or 'type' not in d:
            continue
        objs = [o for o in _registered(d['type']) if _rejects(o, owner, bad)]
        if objs:
            found.append((f'{path}.{bad}' if path else bad, objs[0]))
    if not found:
        return None  # raised deeper than the config, or not by a build
    obj = found[0][1]
    name = getattr(obj, '__name__', str(obj))
    accepted = _accepted_args(obj)
    close = _close(bad, accepted)
    hint = (f'did you mean {" or ".join(map(repr, close))}?'
            if close else f'valid arguments: {", ".join(accepted)}.')
    return ConfigError(f'{", ".join(p for p, _ in found)}: {name} has no '
                       f'argument {bad!r}; {hint}')


def explain_build_error(exc: BaseException,
                        cfg: Config) -> Optional[ConfigError]:
    """A :class:`ConfigError` for a wrong ``type`` or argument, else None.

    Args:
        exc (BaseException): What building (``Runner.from_cfg``,
            ``runner.train()``) raised.
        cfg (Config): The config that was built.
    """
    tree = cfg.to_dict()
    if isinstance(exc, KeyError):
        return _unknown_type(exc, tree)
    if isinstance(exc, TypeError):
        return _unexpected_argument(exc, tree)
    return None
