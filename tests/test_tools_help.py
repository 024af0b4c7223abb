"""Every ``tools/*.py -h`` answers at once and explains every option.

At once: nothing heavy (torch, the OpenMMLab packages, simsiam_mm,
matplotlib, scikit-learn) is imported to print the help; checked on the
modules loaded rather than on a clock. Explains: every argument has a help
text, and every option whose default is a value shows it. Parametrised over
the folder, so a new tool is covered the day it lands.
"""
import glob
import json
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'tools', '*.py'))
    if not osp.basename(p).startswith('_'))
HEAVY = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet',
         'simsiam_mm', 'matplotlib', 'sklearn')

# runs the tool as `python tools/X.py -h` would, records its parser and
# what was imported
PROBE = textwrap.dedent('''
    import argparse, contextlib, io, json, os.path as osp, runpy, sys
    tool = sys.argv[1]
    parsers = []
    parse = argparse.ArgumentParser.parse_known_args

    def spy(self, *args, **kwargs):
        parsers.append(self)
        return parse(self, *args, **kwargs)

    argparse.ArgumentParser.parse_known_args = spy
    sys.argv = [tool, '-h']
    sys.path.insert(0, osp.dirname(tool))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(tool, run_name='__main__')
            code = 'no exit'
        except SystemExit as exit_:
            code = exit_.code
    actions = [
        dict(options=a.option_strings or [a.dest], help=a.help,
             default=str(a.default),
             shown=not (a.default is None or a.default is False
                        or a.default == [] or a.default is argparse.SUPPRESS))
        for a in parsers[0]._actions
        if a.help is not argparse.SUPPRESS
        and not isinstance(a, argparse._HelpAction)
    ] if parsers else []
    print(json.dumps(dict(code=code, help=out.getvalue(), actions=actions,
                          modules=sorted(sys.modules))))
''')


def squash(text: str) -> str:
    return ''.join(text.split())  # argparse wraps lines, even at hyphens


@pytest.mark.parametrize('tool', TOOLS, ids=osp.basename)
def test_help_is_fast_and_complete(tool):
    proc = subprocess.run([sys.executable, '-c', PROBE, tool],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probe['code'] == 0, probe
    heavy = [m for m in probe['modules'] if m.split('.')[0] in HEAVY]
    assert not heavy, f'-h imported {heavy[:5]}: import them after parsing'
    assert probe['actions'], 'no argparse parser was used'
    text = squash(probe['help'])
    for action in probe['actions']:
        name = action['options'][-1]
        assert action['help'], f'{name} has no help text'
        assert squash(action['help'].split('%')[0]) in text, name
        if action['shown']:
            assert 'default:' + squash(action['default']) in text, name


def test_tools_mirror_the_library_defaults():
    """Two tools repeat a library constant to keep -h light."""
    from simsiam_mm.evaluation import export, knn
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import extract_backbone
        import knn_eval
    finally:
        sys.path.pop(0)
    assert extract_backbone.FORMATS == export.FORMATS
    assert knn_eval.DEFAULT_KS == knn.DEFAULT_KS
    assert knn_eval.DEFAULT_TEMPERATURE == knn.DEFAULT_TEMPERATURE
