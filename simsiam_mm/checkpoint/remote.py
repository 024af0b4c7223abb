"""mmengine's checkpoint sources, each ending in :func:`.loader.safe_load`.

mmengine 0.10.7 reads a checkpoint with a plain ``torch.load`` in
``load_from_local``, ``load_from_pavi``, ``load_from_ceph`` and the local
branch of ``load_from_openmmlab``; ``load_from_http`` (and through it
``torchvision://``, ``modelzoo://``, ``mmcls://`` and URL entries of
``open-mmlab://``) calls ``torch.hub.load_state_dict_from_url``, whose
``weights_only`` is False. The functions here have the same signatures
and do the same resolving and caching, then read the bytes with
:func:`~.loader.safe_load`. :func:`load_url` replaces
``torch.hub.load_state_dict_from_url`` and its aliases.
"""
import io
import logging
import os
import os.path as osp
import zipfile
from tempfile import TemporaryDirectory
from typing import Any, Optional
from urllib.parse import urlparse

import torch
from mmengine import fileio
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mme

from . import limits
from .errors import CheckpointSizeError
from .loader import safe_load


def _unwrap_legacy_zip(path: str, model_dir: str, url: str) -> str:
    """torch.hub accepts a zip holding one legacy checkpoint, which it
    extracts next to the download (a torch zip checkpoint has several
    records). Its declared size is checked first."""
    if not zipfile.is_zipfile(path):
        return path
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) != 1 or members[0].is_dir():
            return path
        member = members[0]
        size = osp.getsize(path)
        if member.file_size > limits.MAX_EXPANSION * size:
            raise CheckpointSizeError(
                f'Refusing to load checkpoint {url}: the zip {path} would '
                f'expand to {limits.human(member.file_size)} from '
                f'{limits.human(size)}.')
        limits.check_limit(url, 'its zipped file holds', member.file_size,
                           limits.max_bytes())
        return archive.extract(member, model_dir)  # strips '..' and roots


def load_url(url: str,
             model_dir: Optional[str] = None,
             map_location: Any = None,
             progress: bool = True,
             check_hash: bool = False,
             file_name: Optional[str] = None,
             weights_only: Optional[bool] = None) -> Any:
    """``torch.hub.load_state_dict_from_url``, read with ``safe_load``.

    Downloads to the same cache (``<hub dir>/checkpoints`` or
    ``model_dir``), under the same name, with the same hash check.
    ``weights_only`` is accepted and ignored: only the person running the
    command can trust a file (``--trust-checkpoint URL``).
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or osp.basename(urlparse(url).path)
    cached = osp.join(model_dir, filename)
    if not osp.exists(cached):
        hash_prefix = None
        if check_hash:
            match = torch.hub.HASH_REGEX.search(filename)
            hash_prefix = match.group(1) if match else None
        print_log(f'Downloading {url} to {cached}', logger='current')
        torch.hub.download_url_to_file(
            url, cached, hash_prefix, progress=progress)
    cached = _unwrap_legacy_zip(cached, model_dir, url)
    return safe_load(cached, map_location, name=url)


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine's ``load_from_local``."""
    return safe_load(filename, map_location)


def load_from_http(filename: str,
                   map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: Optional[bool] = None) -> Any:
    """mmengine's ``load_from_http``: rank 0 downloads first; a progress
    bar on a terminal."""
    if progress is None:
        progress = os.isatty(0)
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = load_url(
            filename,
            model_dir=model_dir,
            map_location=map_location,
            progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = load_url(
                filename,
                model_dir=model_dir,
                map_location=map_location,
                progress=progress)
    return checkpoint


def load_from_pavi(filename: str, map_location: Any = None) -> Any:
    """mmengine's ``load_from_pavi`` (``pavi://`` model cloud)."""
    if not filename.startswith('pavi://'):
        raise ValueError(f'expected a pavi:// path, got {filename}')
    try:
        from pavi import modelcloud
    except ImportError as err:
        raise ImportError('Please install pavi to load checkpoint from '
                          'modelcloud.') from err
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_load(downloaded, map_location, name=filename)


def load_from_ceph(filename: str,
                   map_location: Any = None,
                   backend: str = 'petrel') -> Any:
    """mmengine's ``load_from_ceph`` (``s3://``, ``petrel://``)."""
    file_backend = fileio.get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_load(buffer, map_location, name=filename)


def load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    """mmengine's ``load_from_openmmlab``: the name is looked up in
    mmengine's model list and ``$MMENGINE_HOME/open_mmlab.json``; a URL is
    downloaded, anything else is a file under ``$MMENGINE_HOME``."""
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') \
        else 'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated = mme.get_deprecated_model_names()
    if model_name in deprecated:
        print_log(
            f'{prefix}{model_name} is deprecated in favor of '
            f'{prefix}{deprecated[model_name]}',
            logger='current',
            level=logging.WARNING)
        model_name = deprecated[model_name]
    model_url = mme.get_external_models()[model_name]
    if model_url.startswith(('http://', 'https://')):
        return mme.load_from_http(model_url, map_location=map_location)
    path = osp.join(mme._get_mmengine_home(), model_url)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} can not be found.')
    return safe_load(path, map_location, name=filename)
