"""Every URL scheme of mmengine's CheckpointLoader, and the functions that
download checkpoints, read them with the safe loader.

A server on 127.0.0.1 (started and stopped by each test) serves a poisoned
and a benign checkpoint; ``open-mmlab://`` resolves through a temporary
``$MMENGINE_HOME/open_mmlab.json``, ``torchvision://`` / ``modelzoo://``
and ``mmcls://`` through their URL maps monkeypatched to the server,
``pavi://`` and ``s3://`` through stand-in client modules.
"""
import datetime
import json
import re
import shutil
import sys
import types
import zipfile

import mmengine.fileio.io as fileio_io
import mmengine.utils.dl_utils as dl_utils
import mmengine.utils.dl_utils.hub as dl_hub
import pytest
import torch
import torch.utils.model_zoo
from _checkpoint_payloads import (SystemPayload, Tiny, assert_same,
                                  make_runner, marker_in, poisoned_copy, serve)
from _subproc import run_python
from mmengine.runner import checkpoint as mme
from mmengine.runner import load_checkpoint

from simsiam_mm import checkpoint as ck
from simsiam_mm.engine.pretrained_init import SimSiamPretrained


@pytest.fixture(scope='module')
def benign(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('benign')
    make_runner(work_dir, 2).train()
    return work_dir / 'epoch_2.pth'


class Source:
    """The served folder, the server's URL and the ways to name a file."""

    def __init__(self, root, url, monkeypatch):
        self.root = root
        self.url = url
        self.monkeypatch = monkeypatch
        self.home = root / 'mmengine_home'
        self.home.mkdir()
        self.blobs = {}

    def add(self, name, path):
        shutil.copy(path, self.root / name)
        self.blobs[name] = (self.root / name).read_bytes()

    def uri(self, scheme, name):
        url = f'{self.url}/{name}'
        if scheme == 'http':
            return url
        if scheme in ('open-mmlab', 'openmmlab'):
            self._open_mmlab({f'key_{name}': url})
            return f'{scheme}://key_{name}'
        if scheme == 'open-mmlab (file)':
            (self.home / 'local').mkdir(exist_ok=True)
            shutil.copy(self.root / name, self.home / 'local' / name)
            self._open_mmlab({f'file_{name}': f'local/{name}'})
            return f'open-mmlab://file_{name}'
        if scheme in ('torchvision', 'modelzoo'):
            self.monkeypatch.setattr(mme, 'get_torchvision_models',
                                     lambda: {f'net_{name}': url})
            return f'{scheme}://net_{name}'
        if scheme == 'mmcls':
            self.monkeypatch.setattr(mme, 'get_mmcls_models',
                                     lambda: {f'net_{name}': url})
            return f'mmcls://net_{name}'
        if scheme == 'pavi':
            self._pavi()
            return f'pavi://models/{name}'
        if scheme == 's3':
            self._petrel()
            return f's3://bucket/{name}'
        raise KeyError(scheme)

    def _open_mmlab(self, entries):
        path = self.home / 'open_mmlab.json'
        known = json.loads(path.read_text()) if path.exists() else {}
        known.update(entries)
        path.write_text(json.dumps(known))

    def _pavi(self):
        blobs = self.blobs

        class Model:

            def __init__(self, path):
                self.name = path.rsplit('/', 1)[-1]

            def download(self, target):
                with open(target, 'wb') as f:
                    f.write(blobs[self.name])

        modelcloud = types.SimpleNamespace(get=Model)
        self.monkeypatch.setitem(sys.modules, 'pavi',
                                 types.SimpleNamespace(modelcloud=modelcloud))

    def _petrel(self):
        blobs = self.blobs

        class Client:

            def __init__(self, conf_path=None, enable_mc=True):
                pass

            def Get(self, path):
                return blobs[path.rsplit('/', 1)[-1]]

        client = types.ModuleType('petrel_client.client')
        client.Client = Client
        package = types.ModuleType('petrel_client')
        package.client = client
        self.monkeypatch.setitem(sys.modules, 'petrel_client', package)
        self.monkeypatch.setitem(sys.modules, 'petrel_client.client', client)
        self.monkeypatch.setattr(fileio_io, 'backend_instances', {})


@pytest.fixture
def source(tmp_path, monkeypatch):
    root = tmp_path / 'served'
    root.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with serve(root) as url:
        src = Source(root, url, monkeypatch)
        monkeypatch.setenv('MMENGINE_HOME', str(src.home))
        yield src


SCHEMES = [
    'http', 'open-mmlab', 'openmmlab', 'open-mmlab (file)', 'torchvision',
    'modelzoo', 'mmcls', 'pavi', 's3'
]


@pytest.mark.parametrize('scheme', SCHEMES)
def test_every_scheme_refuses_a_payload(source, benign, tmp_path, scheme):
    marker = marker_in(tmp_path)
    source.add(
        'bad.pth',
        poisoned_copy(benign, tmp_path / 'bad.pth', marker, 'os.system'))
    uri = source.uri(scheme, 'bad.pth')
    for load in (lambda: mme.CheckpointLoader.load_checkpoint(uri),
                 lambda: load_checkpoint(Tiny(), uri)):
        with pytest.raises(ck.UnsafeCheckpointError) as err:
            load()
        assert uri in str(err.value) or 'bad.pth' in str(err.value)
        assert 'posix.system' in str(err.value)
        assert not marker.exists()


@pytest.mark.parametrize('scheme', SCHEMES)
def test_every_scheme_loads_a_benign_checkpoint(source, benign, scheme):
    source.add('good.pth', benign)
    uri = source.uri(scheme, 'good.pth')
    loaded = mme.CheckpointLoader.load_checkpoint(uri)
    reference = ck.safe_load(str(benign))
    if scheme == 'mmcls':  # mmengine keeps backbone.* without the prefix
        reference = dict(
            state_dict={
                k[len('backbone.'):]: v
                for k, v in reference['state_dict'].items()
                if k.startswith('backbone.')
            })
    assert_same(loaded, reference)


def test_module_functions_called_directly_refuse_a_payload(
        source, benign, tmp_path):
    marker = marker_in(tmp_path)
    bad = poisoned_copy(benign, tmp_path / 'bad.pth', marker, 'eval')
    source.add('bad.pth', bad)
    url = source.uri('http', 'bad.pth')
    calls = {
        'mmengine load_from_http':
        lambda: mme.load_from_http(url),
        'mmengine load_from_local':
        lambda: mme.load_from_local(str(bad)),
        'mmengine load_url':
        lambda: dl_utils.load_url(url),
        'mmengine hub load_url':
        lambda: dl_hub.load_url(url),
        'mmengine checkpoint load_url':
        lambda: mme.load_url(url),
        # even when the caller asks for full unpickling
        'torch.hub':
        lambda: torch.hub.load_state_dict_from_url(url, weights_only=False),
        'torch model_zoo':
        lambda: torch.utils.model_zoo.load_url(url),
        'mmengine load_from_openmmlab':
        lambda: mme.load_from_openmmlab(source.uri('open-mmlab', 'bad.pth')),
        'mmengine load_from_torchvision':
        lambda: mme.load_from_torchvision(
            source.uri('torchvision', 'bad.pth')),
        'mmengine load_from_mmcls':
        lambda: mme.load_from_mmcls(source.uri('mmcls', 'bad.pth')),
        'mmengine load_from_pavi':
        lambda: mme.load_from_pavi(source.uri('pavi', 'bad.pth')),
        'mmengine load_from_ceph':
        lambda: mme.load_from_ceph(source.uri('s3', 'bad.pth')),
    }
    for what, call in calls.items():
        with pytest.raises(ck.UnsafeCheckpointError, match='builtins.eval'):
            call()
        assert not marker.exists(), what


def test_runner_and_initializers_refuse_a_url_payload(source, benign,
                                                      tmp_path):
    marker = marker_in(tmp_path)
    source.add(
        'bad.pth',
        poisoned_copy(benign, tmp_path / 'bad.pth', marker, 'os.system'))
    url = source.uri('http', 'bad.pth')
    pretrained = dict(type='Pretrained', checkpoint=url)
    paths = {
        'load_from':
        lambda: make_runner(tmp_path / 'a', load_from=url).load_or_resume(),
        'resume':
        lambda: make_runner(tmp_path / 'b', load_from=url, resume=True).
        load_or_resume(),
        'init_cfg Pretrained':
        lambda: Tiny(init_cfg=pretrained).init_weights(),
        'SimSiamPretrained':
        lambda: SimSiamPretrained(url)(Tiny()),
        'load_checkpoint':
        lambda: load_checkpoint(Tiny(), url),
    }
    for what, load in paths.items():
        with pytest.raises(ck.UnsafeCheckpointError) as err:
            load()
        assert url in str(err.value), what
        assert not marker.exists(), what


def test_a_url_is_trusted_only_by_name(source, benign, tmp_path, monkeypatch):
    legacy = ck.safe_load(str(benign))
    legacy['meta']['day'] = datetime.date(2020, 1, 2)
    torch.save(legacy, tmp_path / 'legacy.pth')
    source.add('legacy.pth', tmp_path / 'legacy.pth')
    url = source.uri('http', 'legacy.pth')
    with pytest.raises(
            ck.UnsafeCheckpointError,
            match=re.escape(f'--trust-checkpoint {url}')):
        load_checkpoint(Tiny(), url)
    monkeypatch.setenv(ck.ENV_TRUSTED, url)
    assert mme.load_from_http(url)['meta']['day'] == datetime.date(2020, 1, 2)


def _zipped_legacy(folder, name, obj):
    """torch.hub's legacy zip: one legacy checkpoint in a zip."""
    legacy = folder / f'{name}.pth'
    torch.save(obj, legacy, _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(folder / f'{name}.zip', 'w') as archive:
        archive.write(legacy, f'{name}.pth')
    return folder / f'{name}.zip'


def test_torch_hub_legacy_zip_is_unwrapped_and_checked(source, tmp_path):
    source.add('good.zip', _zipped_legacy(tmp_path, 'good', {'x': 1}))
    assert mme.load_from_http(source.uri('http', 'good.zip')) == {'x': 1}
    marker = marker_in(tmp_path)
    source.add('bad.zip',
               _zipped_legacy(tmp_path, 'bad', {'x': SystemPayload(marker)}))
    with pytest.raises(ck.UnsafeCheckpointError, match='posix.system'):
        mme.load_from_http(source.uri('http', 'bad.zip'))
    assert not marker.exists()


def test_torchvision_imported_first_still_gets_the_safe_download():
    """torchvision's ``Weights.get_state_dict`` holds torch.hub's function
    under its own name, imported before simsiam_mm in this interpreter."""
    out = run_python("""
        import json
        import torchvision.models
        import simsiam_mm
        from simsiam_mm.checkpoint import remote
        from torchvision.models import _api
        print(json.dumps(_api.load_state_dict_from_url is remote.load_url))
    """)
    assert out is True
