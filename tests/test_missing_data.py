"""Missing or empty training data stops ``tools/train.py`` with one clear
error naming the path (and, for the demo data, the command that makes it)
as the last lines of the output, instead of a traceback."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from simsiam_mm.datasets import (DataNotFoundError, check_dataset,
                                 check_train_data)
from simsiam_mm.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'
HINT = '`python tools/prepare_demo_data.py`'


def train(cwd: Path, *options: str) -> list:
    """``tools/train.py`` on the demo config from ``cwd``; the output's
    lines (stdout and stderr as a terminal shows them)."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(REPO),
                                         env.get('PYTHONPATH',
                                                 '')]).rstrip(os.pathsep)
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'train.py'),
        str(DEMO), *options
    ],
                          cwd=cwd,
                          env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert 'Traceback' not in proc.stdout, proc.stdout[-3000:]
    return proc.stdout.rstrip('\n').split('\n')


def image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 8), 128, np.uint8))


def test_missing_demo_data_root(tmp_path):
    lines = train(tmp_path)  # no data/digits under the working directory
    assert len(lines) == 2
    assert lines[0].startswith(f'data error in {DEMO}: ')
    assert 'train_dataloader.dataset.data_root: the folder data/digits/ ' \
        f'does not exist (working directory {tmp_path})' in lines[0]
    assert HINT in lines[1]


def test_demo_folder_without_images(tmp_path):
    (tmp_path / 'data' / 'digits' / 'train' / '0').mkdir(parents=True)
    (tmp_path / 'data' / 'digits' / 'train' / '0' / 'notes.txt').touch()
    lines = train(tmp_path)
    assert 'no image files' in lines[-2]
    assert 'in data/digits/train, read as data/digits/train/**/<image>' \
        in lines[-2]
    assert HINT in lines[-1]


@pytest.mark.slow
def test_list_file_naming_missing_files(tmp_path):
    """The list is read by the dataset: the check on the built dataset
    stops the run (after mmengine's environment and config lines)."""
    root = tmp_path / 'mine'
    image(root / 'train' / 'a' / 'there.png')
    image(root / 'val' / '0' / 'v.png')
    (root / 'train.txt').write_text('a/gone_1.png\na/gone_2.png\n')
    lines = train(tmp_path, '--cfg-options',
                  f'train_dataloader.dataset.data_root={root}',
                  'train_dataloader.dataset.ann_file=train.txt',
                  f'knn_train_dataloader.dataset.data_root={root}',
                  f'knn_val_dataloader.dataset.data_root={root}')
    assert len(lines) > 100  # the runner started
    assert lines[-1] == (
        f'data error in {DEMO}: 2 of 2 checked training files do not exist, '
        f'e.g. {root}/train/a/gone_1.png (listed by ann_file '
        f'{root}/train.txt).')  # not the demo data: no hint


# ------------------------------------------------- the checks themselves


def cfg_with(**dataset) -> Config:
    return Config(dict(train_dataloader=dict(dataset=dataset)))


def test_config_checks(tmp_path):
    image(tmp_path / 'imagenet' / 'train' / 'n1' / 'x.JPEG')
    check_train_data(
        cfg_with(
            type='ImageNet',
            data_root=str(tmp_path / 'imagenet'),
            split='train'))
    with pytest.raises(DataNotFoundError, match='image folder .*val does'):
        check_train_data(
            cfg_with(
                type='ImageNet',
                data_root=str(tmp_path / 'imagenet'),
                split='val'))
    # ImageNet reads meta/val.txt instead when it is there
    (tmp_path / 'imagenet' / 'meta').mkdir()
    (tmp_path / 'imagenet' / 'meta' / 'val.txt').write_text('x 0\n')
    check_train_data(
        cfg_with(
            type='ImageNet', data_root=str(tmp_path / 'imagenet'),
            split='val'))
    # labelled folders: images directly in the root are not read
    image(tmp_path / 'flat' / 'x.png')
    with pytest.raises(DataNotFoundError, match='flat/<class>/<image>'):
        check_train_data(
            cfg_with(type='CustomDataset', data_prefix=str(tmp_path / 'flat')))
    check_train_data(
        cfg_with(
            type='CustomDataset',
            data_prefix=str(tmp_path / 'flat'),
            with_label=False))
    with pytest.raises(
            DataNotFoundError,
            match=r'ann_file: the list file '
            r'.*flat/list\.txt does not exist'):
        check_train_data(
            cfg_with(
                type='CustomDataset',
                data_root=str(tmp_path / 'flat'),
                ann_file='list.txt'))
    # wrappers are followed; remote, downloading and other datasets pass
    with pytest.raises(DataNotFoundError, match=r'dataset\.dataset\.data_'):
        check_train_data(
            cfg_with(
                type='RepeatDataset',
                times=2,
                dataset=dict(
                    type='CustomDataset', data_root=str(tmp_path / 'none'))))
    check_train_data(cfg_with(type='CIFAR10', data_root='s3://b/c'))
    check_train_data(
        cfg_with(type='CIFAR10', data_root=str(tmp_path / 'c'), download=True))
    with pytest.raises(DataNotFoundError, match='cifar'):
        check_train_data(
            cfg_with(type='CIFAR10', data_root=str(tmp_path / 'cifar')))
    check_train_data(Config(dict(model=dict())))


def folder(root, ann_file='', skip=False, **kwargs):
    return DATASETS.build(
        dict(
            type='CustomDataset',
            data_root=str(root),
            ann_file=ann_file,
            with_label=False,
            **kwargs,
            pipeline=[
                dict(type='SafeLoadImageFromFile', skip_bad_images=skip)
            ]))


def test_built_dataset_checks(tmp_path, caplog):
    for i in range(40):
        image(tmp_path / f'{i:02d}.png')
    check_dataset(folder(tmp_path))
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(
            DataNotFoundError, match='list file .*empty.txt is '
            'empty'):  # before mmengine fails to build it
        check_train_data(
            cfg_with(
                type='CustomDataset',
                data_root=str(tmp_path),
                ann_file='empty.txt'))
    (tmp_path / 'empty.txt').write_text('')
    empty = folder(tmp_path, 'empty.txt', serialize_data=False)
    with pytest.raises(DataNotFoundError, match='empty .*empty.txt'):
        check_dataset(empty)
    listed = [f'{i:02d}.png' for i in range(40)] + ['gone.png']
    (tmp_path / 'list.txt').write_text('\n'.join(listed))
    with pytest.raises(DataNotFoundError, match=r'1 of 16 checked .*gone'):
        check_dataset(folder(tmp_path, 'list.txt'))
    check_dataset(folder(tmp_path, 'list.txt', skip=True))  # warned
    # skip mode cannot skip every file
    (tmp_path / 'none.txt').write_text('a.png\nb.png\n')
    with pytest.raises(DataNotFoundError, match='2 of 2'):
        check_dataset(folder(tmp_path, 'none.txt', skip=True))
