"""Config text found inside a checkpoint is data, never code.

mmengine writes the run's config as Python text into every checkpoint
(``meta['cfg']``, ``message_hub['runtime_info']['cfg']``; mmcv wrote
``meta['config']``) and reads it back with ``Config.fromstring``, which
*executes* it: ``Runner.resume`` (for a GPU-count check) and
``BaseInferencer`` (``DetInferencer(model=None, weights=PATH)`` builds the
model from it). A file whose config reads
``gpu_ids = [__import__('os').system(...)]`` passes any pickle allow-list,
since it is only a string.

:func:`remember` records every string of a checkpoint loaded by
:func:`simsiam_mm.checkpoint.safe_load`; ``Config.fromstring``, once
:func:`install` has run, parses a remembered string with
:func:`parse_data` (assignments of literals and ``dict(...)``, the form
``Config.pretty_text`` writes) and raises on anything else. Other strings
go to mmengine unchanged.
"""
import ast
import json
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

import yaml
from mmengine.config import Config

from .errors import UnsafeCheckpointError

_KEPT_LOADS = 16  # checkpoints whose strings are remembered
_loads: 'OrderedDict[int, Dict[str, str]]' = OrderedDict()
_count = 0


class NotPlainData(ValueError):
    """Config text that is not a sequence of ``NAME = literal``."""


def remember(texts: Dict[str, str]) -> None:
    """Record the strings of one loaded checkpoint (text -> where it was,
    e.g. ``"meta['cfg'] of work_dir/epoch_1.pth"``)."""
    global _count
    _count += 1
    _loads[_count] = texts
    while len(_loads) > _KEPT_LOADS:
        _loads.popitem(last=False)


def origin(text: Any) -> Optional[str]:
    """Where ``text`` was read from, if it came out of a checkpoint."""
    if not isinstance(text, str):
        return None
    for texts in reversed(_loads.values()):
        if text in texts:
            return texts[text]
    return None


def _snippet(text: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(text, node) or type(node).__name__
    segment = ' '.join(segment.split())
    return segment if len(segment) <= 80 else segment[:77] + '...'


def _value(text: str, node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and node.value is not Ellipsis:
        return node.value
    if isinstance(node, ast.List):
        return [_value(text, e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(text, e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_value(text, e) for e in node.elts}
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {
            _value(text, k): _value(text, v)
            for k, v in zip(node.keys, node.values)
        }
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args and \
            all(k.arg is not None for k in node.keywords):
        return {k.arg: _value(text, k.value) for k in node.keywords}
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)) and isinstance(
                node.operand, ast.Constant) and type(
                    node.operand.value) in (int, float, complex):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    raise NotPlainData(f'line {node.lineno}: `{_snippet(text, node)}` is '
                       'not a literal')


def parse_data(text: str) -> Dict[str, Any]:
    """Read Python config text as data, without running any of it.

    Accepts what ``Config.pretty_text`` writes: ``NAME = value`` lines whose
    values are literals (numbers, strings, ``None``, ``True``), lists,
    tuples, sets, dicts and ``dict(key=value, ...)``; and bare strings.

    Raises:
        NotPlainData: anything else (a call, a name, an import, an
            attribute ...), naming the line.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise NotPlainData(f'not valid Python ({type(err).__name__})') \
            from None
    out: Dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(
                node.value, ast.Constant) and isinstance(
                    node.value.value, str):
            continue  # a docstring
        if not isinstance(node, ast.Assign) or not all(
                isinstance(t, ast.Name) for t in node.targets):
            raise NotPlainData(f'line {node.lineno}: `{_snippet(text, node)}`'
                               ' is not an assignment NAME = value')
        try:
            value = _value(text, node.value)
        except RecursionError:
            raise NotPlainData(f'line {node.lineno}: nested too deeply') \
                from None
        for target in node.targets:
            out[target.id] = value
    return out


def config_from_checkpoint_text(text: str, file_format: str,
                                where: str) -> Config:
    """A :class:`Config` of the data in ``text``; nothing is executed, no
    ``_base_`` file is read and no ``custom_imports`` module is imported.

    Raises:
        UnsafeCheckpointError: ``text`` is not plain data, naming ``where``.
    """
    try:
        if file_format == '.py':
            data = parse_data(text)
        elif file_format == '.json':
            data = json.loads(text)
        else:  # '.yaml' / '.yml': no !!python tags
            data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise NotPlainData(f'it holds a {type(data).__name__}, not a dict')
    except (NotPlainData, ValueError, TypeError, yaml.YAMLError) as err:
        raise UnsafeCheckpointError(
            f'Refusing to run the config text of {where}: a config inside a '
            f'checkpoint is read as data only, and this one is not plain '
            f'data ({err}).') from None
    return Config(data, cfg_text=text)


_original_fromstring: Optional[Callable[..., Config]] = None


def _fromstring(cfg_str: str, file_format: str) -> Config:
    """``Config.fromstring`` that reads checkpoint strings as data."""
    where = origin(cfg_str)
    if where is None or file_format not in ('.py', '.json', '.yaml', '.yml'):
        return _original_fromstring(cfg_str, file_format)
    return config_from_checkpoint_text(cfg_str, file_format, where)


def install() -> None:
    """Route ``mmengine.Config.fromstring`` through :func:`_fromstring`."""
    global _original_fromstring
    if _original_fromstring is None:
        _original_fromstring = Config.fromstring
        Config.fromstring = staticmethod(_fromstring)
