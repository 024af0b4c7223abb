"""tools/install.sh builds mmcv from its sdist when the wheel cache is empty.

The real build compiles for 13 minutes and downloads from PyPI. Here every
line of that branch runs (download, unpack, the C++-standard sed, ``pip
wheel``, the move into the cache, the install) on a stand-in: a tiny
``mmcv-2.1.0.tar.gz`` served from a local folder (``PIP_NO_INDEX`` /
``PIP_FIND_LINKS``), in a throw-away venv whose ``torch`` is a stub that
only answers the script's version probe. The script's seams
(``SIMSIAM_MM_SKIP_PINS``, ``SIMSIAM_MM_STACK_CHECK``) are documented at
its top. ``VENV`` is relative, as ``make install`` passes it: the build
``cd``s into the sdist, where a relative venv path no longer resolves.
"""
import glob
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMCV = 'mmcv-2.1.0'
KEY = 'mmcv-2.1.0-torch2.14.1-cp{}{}-cpu'.format(*sys.version_info[:2])

STANDIN_SETUP = '''\
import os
import sys

from setuptools import setup

CXX_FLAGS = ['-std=c++17']  # what mmcv 2.1.0's setup.py passes to the compiler
if 'bdist_wheel' in sys.argv:  # the build (not the metadata step of download)
    env = {k: os.environ.get(k) for k in ('MMCV_WITH_OPS', 'FORCE_CUDA')}
    with open(os.path.join('mmcv', '_build.py'), 'w') as f:
        f.write(f'CXX_FLAGS = {CXX_FLAGS!r}\\nENV = {env!r}\\n')
setup(name='mmcv', version='2.1.0', packages=['mmcv'])
'''

TORCH_STUB = {
    'torch/__init__.py':
    "from types import SimpleNamespace\n__version__ = '2.14.1+cpu'\n"
    'cuda = SimpleNamespace(is_available=lambda: False)\n'
    'version = SimpleNamespace(cuda=None)\n',
    'torch/utils/__init__.py':
    '',
    'torch/utils/cpp_extension.py':
    'CUDA_HOME = None\n',
}

STACK_CHECK = '''\
import importlib.util
import os.path as osp
import sys

import mmcv
import mmcv.ops  # noqa: F401
from mmcv import _build

assert mmcv.__version__ == '2.1.0'
assert osp.realpath(mmcv.__file__).startswith(osp.realpath(sys.prefix))
assert _build.CXX_FLAGS == ['-std=c++20'], _build.CXX_FLAGS  # the sed ran
assert _build.ENV['MMCV_WITH_OPS'] == '1' and _build.ENV['FORCE_CUDA'] == '0'
spec = importlib.util.find_spec('simsiam_mm')  # the editable install
assert spec.origin.startswith({root!r}), spec.origin
print('stand-in stack ok')
'''


def write_tree(root: str, files: dict) -> None:
    for rel, text in files.items():
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def standin_sdist(folder: str) -> str:
    """``mmcv-2.1.0.tar.gz`` as PyPI lays it out, a few lines inside."""
    src = osp.join(folder, 'src', MMCV)
    write_tree(
        src, {
            'setup.py': STANDIN_SETUP,
            'mmcv/__init__.py': "__version__ = '2.1.0'\n",
            'mmcv/ops.py': '',
            'PKG-INFO': 'Metadata-Version: 2.1\nName: mmcv\nVersion: 2.1.0\n',
        })
    index = osp.join(folder, 'index')
    os.makedirs(index)
    path = osp.join(index, MMCV + '.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        tar.add(src, arcname=MMCV)
    return index


def shim_site(folder: str) -> str:
    """pip, setuptools and wheel of this interpreter (symlinked, never
    installed into), and the torch stub: what the seam
    SIMSIAM_MM_SKIP_PINS=1 expects the venv to hold already."""
    site = osp.join(folder, 'shim')
    os.makedirs(site)
    for name in ('pip', 'setuptools', 'wheel', 'pkg_resources',
                 '_distutils_hack'):
        spec = importlib.util.find_spec(name)
        assert spec, f'{name} is not in {sys.prefix} (install.sh installs it)'
        pkg = osp.dirname(spec.origin)
        os.symlink(pkg, osp.join(site, name))
        dists = glob.glob(osp.join(osp.dirname(pkg), f'{name}-*.dist-info'))
        for dist in dists:
            os.symlink(dist, osp.join(site, osp.basename(dist)))
    write_tree(site, TORCH_STUB)
    return site


def repo_copy(folder: str) -> str:
    """The script and what its editable install needs, in a scratch repo
    (nothing is written into this checkout)."""
    repo = osp.join(folder, 'repo')
    os.makedirs(osp.join(repo, 'tools'))
    shutil.copy(osp.join(ROOT, 'tools', 'install.sh'), osp.join(repo, 'tools'))
    for name in ('setup.py', 'setup.cfg', 'README.md'):
        shutil.copy(osp.join(ROOT, name), repo)
    shutil.copytree(
        osp.join(ROOT, 'simsiam_mm'),
        osp.join(repo, 'simsiam_mm'),
        ignore=shutil.ignore_patterns('__pycache__'))
    return repo


@pytest.fixture(params=['relative', 'absolute'])
def setup_env(tmp_path, request):
    """A scratch repo, a bare venv named by a relative VENV (as `make
    install` passes it) or an absolute one, an empty cache."""
    tmp = str(tmp_path)
    repo = repo_copy(tmp)
    venv = '.venv' if request.param == 'relative' else osp.join(repo, '.venv')
    subprocess.run(
        [sys.executable, '-m', 'venv', '--without-pip',
         osp.join(repo, venv)],
        check=True)
    site, = glob.glob(osp.join(repo, venv, 'lib', 'python*', 'site-packages'))
    with open(osp.join(site, 'standin.pth'), 'w') as f:
        f.write(shim_site(tmp) + '\n')
    check = osp.join(tmp, 'check_stack.py')
    with open(check, 'w') as f:
        f.write(STACK_CHECK.format(root=osp.realpath(repo)))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(('PIP_', 'PYTHON', 'VIRTUAL_ENV'))
    }
    env.update(
        VENV=venv,
        SIMSIAM_MM_CACHE=osp.join(tmp, 'cache'),
        SIMSIAM_MM_SKIP_PINS='1',
        SIMSIAM_MM_STACK_CHECK=check,
        PIP_NO_INDEX='1',
        PIP_FIND_LINKS=standin_sdist(tmp),
        PIP_DISABLE_PIP_VERSION_CHECK='1',
        PIP_NO_CACHE_DIR='1',
        MAX_JOBS='1')
    return repo, env, site


def install(repo: str, env: dict) -> str:
    proc = subprocess.run(['bash', 'tools/install.sh'],
                          cwd=repo,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output


def test_build_branch_from_a_relative_or_absolute_venv(setup_env):
    repo, env, site = setup_env
    cache = osp.join(env['SIMSIAM_MM_CACHE'], 'wheels', KEY)

    out = install(repo, env)
    assert f'building {KEY} from source' in out
    assert 'stand-in stack ok' in out
    wheels = glob.glob(osp.join(cache, 'mmcv-2.1.0-*.whl'))
    assert len(wheels) == 1, os.listdir(osp.dirname(cache))
    assert not osp.exists(cache + '.tmp')  # moved into place, not copied
    assert osp.isfile(osp.join(site, 'mmcv', '_build.py'))  # installed
    stamp = osp.join(repo, '.venv', '.simsiam_mm_stamp')
    assert osp.isfile(stamp)

    # idempotent: the stamp matches and the check passes, nothing to do
    assert 'nothing to do' in install(repo, env)

    # a new venv on the same machine takes the cached wheel, no build
    os.remove(stamp)
    shutil.rmtree(osp.join(site, 'mmcv'))
    for dist in glob.glob(osp.join(site, 'mmcv-*.dist-info')):
        shutil.rmtree(dist)
    out = install(repo, env)
    assert f'using cached {cache}' in out and 'building' not in out
    assert 'stand-in stack ok' in out
