"""Missing or empty training data: one clear error, before training.

Two checks, each where the information is:

* :func:`check_train_data`, on the config, before the runner is built
  (``tools/train.py`` calls it): ``data_root``, ``ann_file`` and the image
  folder of the training dataset (and of the kNN monitor's) exist, and an
  image folder read without a list file holds at least one image. These
  are the cases in which the dataset's own constructor would fail with a
  traceback.
* :func:`check_dataset`, on the built dataset (:class:`~simsiam_mm.datasets.
  seeding.SeededSampler` calls it): it is not empty, and the files it lists
  exist (a spread of up to 16 is checked, so a list file of a million
  images costs 16 ``stat`` calls).

Both raise :class:`DataNotFoundError` naming the path; for the demo data
(``data/digits``) the message says how to make it.
"""
import os
import os.path as osp
from typing import List, Optional

from mmengine.logging import MMLogger

#: Where ``tools/prepare_demo_data.py`` writes the demo data by default.
DEMO_DATA = osp.join('data', 'digits')
DEMO_HINT = ('The demo data (data/digits) is written by '
             '`python tools/prepare_demo_data.py`.')
#: mmpretrain's ``CustomDataset`` default extensions.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')
NUM_CHECKED = 16


class DataNotFoundError(FileNotFoundError):
    """Training data that is missing or empty; the message names the path.

    Args:
        message (str): What is missing, where. A single positional string
            (mmengine and DataLoader workers rebuild errors from it).
    """


def _is_demo(path: str) -> bool:
    parts = osp.normpath(osp.abspath(path)).split(os.sep)
    return any(parts[i:i + 2] == ['data', 'digits']
               for i in range(len(parts) - 1))


def _error(message: str, path: str) -> DataNotFoundError:
    if _is_demo(path):
        message = f'{message}\n{DEMO_HINT}'
    return DataNotFoundError(message)


def _remote(path: str) -> bool:
    return '://' in path


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _has_image(folder: str, extensions, subfolders_only: bool) -> bool:
    for current, _, files in os.walk(folder, followlinks=True):
        if subfolders_only and current == folder:
            continue
        if any(f.lower().endswith(extensions) for f in files):
            return True
    return False


def _is_folder_dataset(type_name) -> bool:
    """Whether the type is mmpretrain's ``CustomDataset`` or a subclass
    (``ImageNet``): images found by scanning ``data_prefix``."""
    from mmpretrain.datasets import CustomDataset

    from simsiam_mm.registry import DATASETS
    cls = type_name if isinstance(type_name, type) else None
    if cls is None and isinstance(type_name, str):
        try:
            cls = DATASETS.get(type_name)
        except (KeyError, ValueError):
            cls = None
    return isinstance(cls, type) and issubclass(cls, CustomDataset)


def check_dataset_cfg(cfg: dict, where: str) -> None:
    """Check the paths of one dataset config (see the module doc).

    Args:
        cfg (dict): The dataset config (wrappers are followed through
            ``dataset`` / ``datasets``).
        where (str): Its key in the config, for messages.

    Raises:
        DataNotFoundError: A path is missing or the folder has no images.
    """
    if not isinstance(cfg, dict):
        return
    if isinstance(cfg.get('dataset'), dict):
        check_dataset_cfg(cfg['dataset'], f'{where}.dataset')
    for i, sub in enumerate(cfg.get('datasets') or ()):
        check_dataset_cfg(sub, f'{where}.datasets[{i}]')
    if cfg.get('backend_args') or cfg.get('download'):
        return  # remote storage, or a dataset that fetches itself
    root = cfg.get('data_root') or ''
    if not isinstance(root, str) or _remote(root):
        return
    if root and not osp.isdir(root):
        raise _error(
            f'{where}.data_root: the folder {root} does not exist '
            f'(working directory {os.getcwd()}).', root)
    ann_file = cfg.get('ann_file') or ''
    if ann_file:
        path = _join(root, ann_file)
        if not osp.isfile(path):
            raise _error(
                f'{where}.ann_file: the list file {path} does not exist.',
                path)
        with open(path, 'rb') as f:
            if not f.read(1 << 16).strip():
                raise _error(
                    f'{where}.ann_file: the list file {path} is '
                    'empty.', path)
    if not _is_folder_dataset(cfg.get('type')):
        return
    prefix = cfg.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    split = cfg.get('split') or ''
    if split and not prefix:  # mmpretrain's ImageNet: data_root/<split>
        prefix = split
    if split and not ann_file and \
            osp.isfile(_join(root, osp.join('meta', f'{split}.txt'))):
        return  # ImageNet reads meta/<split>.txt when it is there
    folder = _join(root, prefix) if prefix else root
    if not folder:
        return
    if not osp.isdir(folder):
        raise _error(
            f'{where}.data_prefix: the image folder {folder} does not exist.',
            folder)
    if ann_file:
        return
    extensions = tuple(e.lower()
                       for e in cfg.get('extensions') or IMAGE_EXTENSIONS)
    with_label = cfg.get('with_label', True)
    if not _has_image(folder, extensions, subfolders_only=with_label):
        layout = (f'{folder}/<class>/<image>'
                  if with_label else f'{folder}/**/<image>')
        raise _error(
            f'{where}: no image files ({", ".join(extensions)}) in '
            f'{folder}, read as {layout}.', folder)


def check_train_data(cfg) -> None:
    """Check the dataset configs of ``train_dataloader`` and, when a
    ``KNNMonitorHook`` will read them, of the ``knn_*_dataloader``s, before
    training (see the module doc). A config without them passes.

    Raises:
        DataNotFoundError: A path is missing or the folder has no images.
    """
    keys = ['train_dataloader']
    hooks = cfg.get('custom_hooks') or []
    if any('KNNMonitorHook' in str(h.get('type')) for h in hooks
           if isinstance(h, dict)):
        keys += sorted(k for k in cfg.keys()
                       if k.startswith('knn_') and k.endswith('dataloader'))
    for key in keys:
        loader = cfg.get(key)
        if isinstance(loader, dict):
            check_dataset_cfg(loader.get('dataset'), f'{key}.dataset')


def _spread(n: int, k: int) -> List[int]:
    """Up to ``k`` indices spread over ``range(n)``, first and last
    included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _source(dataset) -> str:
    for name in ('ann_file', 'img_prefix', 'data_root'):
        value = getattr(dataset, name, None)
        if value:
            return f'{name} {value}'
    return type(dataset).__name__


def check_dataset(dataset, skip_bad_images: Optional[bool] = None) -> None:
    """Check a built training dataset (see the module doc).

    Args:
        dataset: An mmengine dataset.
        skip_bad_images (bool, optional): Whether the pipeline skips bad
            files: then missing listed files are only warned about (they
            are skipped when loaded). Defaults to None: read from the
            dataset's ``SafeLoadImageFromFile``.

    Raises:
        DataNotFoundError: The dataset is empty, or listed files are
            missing (and not skipped).
    """
    if len(dataset) == 0:
        where = _source(dataset)
        raise _error(f'The training dataset is empty ({where}).', where)
    get_info = getattr(dataset, 'get_data_info', None)
    if get_info is None:
        return
    checked = _spread(len(dataset), NUM_CHECKED)
    paths = [get_info(i).get('img_path') for i in checked]
    paths = [p for p in paths if isinstance(p, str) and not _remote(p)]
    missing = [p for p in paths if not osp.isfile(p)]
    if not missing:
        return
    message = (f'{len(missing)} of {len(paths)} checked training files do '
               f'not exist, e.g. {missing[0]} (listed by '
               f'{_source(dataset)}).')
    if skip_bad_images is None:
        skip_bad_images = _skips_bad_images(dataset)
    if skip_bad_images and len(missing) < len(paths):
        MMLogger.get_current_instance().warning(
            f'{message} They will be skipped.')
        return
    raise _error(message, missing[0])


def _skips_bad_images(dataset) -> bool:
    pipeline = getattr(dataset, 'pipeline', None)
    return any(
        getattr(t, 'skip_bad_images', False)
        for t in getattr(pipeline, 'transforms', ()))
