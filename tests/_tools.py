"""Import a script of ``tools/`` as a module, as Python runs it.

A script's own folder is first on ``sys.path`` when Python runs it, which
is how the tools find their shared ``_common`` module; this does the same
while the script's top level runs.
"""
import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / 'tools'


def load_tool(name: str):
    """``tools/<name>.py`` as a fresh module object."""
    spec = importlib.util.spec_from_file_location(f'{name}_tool',
                                                  TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(TOOLS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module
