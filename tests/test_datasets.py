"""Loading and datasets: unusual and bad image files, ImageNet folder and
list file, CIFAR-10 pickles, an unlabelled folder, the digits demo, and
every dataset base config. Each test writes the small files it reads."""
import glob
import io
import logging
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from _tools import load_tool
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from PIL import Image

from simsiam_mm.datasets import (BadImageError, SafeLoadImageFromFile,
                                 SampleKey, decode_image)
from simsiam_mm.registry import DATASETS, MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATASET_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', '_base_', 'datasets', '*.py')))


@pytest.fixture(autouse=True)
def simsiam_scope():
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        yield


def encode(img, fmt, **kwargs):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def photo(height=30, width=40, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.5)


def png16(array):
    """16-bit PNG bytes; ``array`` is H x W or RGB H x W x 3 uint16."""
    if array.ndim == 3:
        array = array[..., ::-1]  # OpenCV writes BGR
    ok, data = cv2.imencode('.png', np.ascontiguousarray(array))
    assert ok
    return data.tobytes()


def jpeg(img=None, **kwargs):
    return encode(
        Image.fromarray(photo() if img is None else img),
        'JPEG',
        quality=95,
        **kwargs)


# ------------------------------------------- valid but unusual: converted

RED = (200, 30, 40)


def solid(mode, value, size=(8, 6)):
    return Image.new(mode, size, value)


def png(img):
    return encode(img, 'PNG')


RGBA = solid('RGBA', RED + (0, ))
PALETTE = solid('RGB', RED).convert('P', palette=Image.ADAPTIVE)
GREY16 = np.full((6, 8), 257 * 100, np.uint16)
RGB16 = np.full((6, 8, 3), (65535, 32896, 0), np.uint16)
RED_CMYK = solid('CMYK', (0, 255, 255, 0))
# R = 255 (1 - C)(1 - K) = 255 * 127/255 * 127/255 = 63, and so on
CMYK_MIXED = solid('CMYK', (128, 0, 64, 128))

UNUSUAL = [
    # name, encoded file, expected RGB, tolerance
    ('grey png', png(solid('L', 77)), (77, 77, 77), 0),
    ('grey jpeg', encode(solid('L', 77), 'JPEG'), (77, 77, 77), 2),
    ('rgba png, alpha dropped', png(RGBA), RED, 0),
    ('la png', png(solid('LA', (90, 10))), (90, 90, 90), 0),
    ('palette png', png(PALETTE), RED, 0),
    ('16-bit grey png', png16(GREY16), (100, 100, 100), 0),
    ('16-bit rgb png', png16(RGB16), (255, 128, 0), 0),
    ('cmyk jpeg, pure', encode(RED_CMYK, 'JPEG', quality=98), (255, 0, 0), 3),
    ('cmyk jpeg, mixed', encode(CMYK_MIXED, 'JPEG',
                                quality=98), (63, 127, 95), 3),
    ('gif (PIL fallback)', encode(solid('RGB', RED), 'GIF'), RED, 3),
    ('webp', encode(solid('RGB', RED), 'WEBP', lossless=True), RED, 0),
    ('bmp', encode(solid('RGB', RED), 'BMP'), RED, 0),
]


@pytest.mark.parametrize(
    'name, data, expected, atol', UNUSUAL, ids=[c[0] for c in UNUSUAL])
def test_unusual_images_become_rgb_uint8(name, data, expected, atol):
    img = decode_image(data, name)
    assert img.dtype == np.uint8 and img.shape == (6, 8, 3)
    np.testing.assert_allclose(
        img.reshape(-1, 3), np.broadcast_to(expected, (48, 3)), atol=atol)


def test_channel_order_and_exif_orientation():
    img = photo()
    data = jpeg(img)
    rgb = decode_image(data)
    np.testing.assert_array_equal(
        decode_image(data, channel_order='bgr'), rgb[..., ::-1])
    assert np.abs(rgb.astype(int) - img).mean() < 5  # JPEG loss
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated = decode_image(jpeg(img, exif=exif.tobytes()))
    assert rotated.shape == (40, 30, 3)
    with pytest.raises(ValueError, match='channel_order'):
        decode_image(data, channel_order='rgba')


# ------------------------------------------------ bad files: clear errors


def truncated_jpeg():
    data = jpeg()
    return data[:len(data) * 2 // 3]


def truncated_png():
    data = encode(Image.fromarray(photo()), 'PNG')
    return data[:len(data) // 2]


def corrupt_jpeg():
    data = bytearray(jpeg())
    data[20:200] = bytes(range(180))  # wreck the tables after SOI
    return bytes(data)


BAD = {
    'empty': (b'', 'empty file'),
    'text': (b'name,label\ncat,1\n' * 20, 'not an image'),
    'truncated jpeg': (truncated_jpeg(), 'truncated JPEG'),
    'truncated png': (truncated_png(), 'truncated PNG|corrupt PNG'),
    'corrupt jpeg': (corrupt_jpeg(), 'corrupt|truncated|not an image'),
}


@pytest.mark.parametrize('name', list(BAD))
def test_bad_files_raise_naming_file_and_reason(name, tmp_path):
    data, reason = BAD[name]
    path = tmp_path / f'{name.replace(" ", "_")}.jpg'
    path.write_bytes(data)
    with pytest.raises(BadImageError, match=reason) as info:
        SafeLoadImageFromFile()(dict(img_path=str(path)))
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert info.value.reason


def test_missing_file_is_a_bad_image(tmp_path):
    path = str(tmp_path / 'gone.jpg')
    with pytest.raises(BadImageError, match='cannot read'):
        SafeLoadImageFromFile()(dict(img_path=path))


class _ListHandler(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


def test_skip_bad_images_logs_and_keys_the_replacement(tmp_path):
    logger = MMLogger.get_instance('test_skip_bad_images')
    handler = _ListHandler()
    logger.addHandler(handler)
    load = TRANSFORMS.build(
        dict(type='SafeLoadImageFromFile', skip_bad_images=True))
    good = tmp_path / 'good.jpg'
    good.write_bytes(jpeg())
    bad = tmp_path / 'empty.jpg'
    bad.write_bytes(BAD['empty'][0])
    key = SampleKey(3, seed=0, epoch=1)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert load(dict(img_path=str(bad), sample_idx=key)) is None
    assert load.num_skipped == 1
    assert len(handler.messages) == 1 and 'empty.jpg' in handler.messages[0]
    # mmengine's BaseDataset now draws the replacement with np.random: a
    # function of the key, not of the process's generator
    drawn = np.random.randint(0, 1000)
    out = load(dict(img_path=str(good), sample_idx=7))  # the replacement
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert out['img'].shape == (30, 40, 3)
    assert out['ori_shape'] == out['img_shape'] == (30, 40)
    replaced = out['sample_idx']
    assert isinstance(replaced, SampleKey) and replaced == 7
    assert (replaced.seed, replaced.epoch, replaced.origin,
            replaced.attempt) == (0, 1, 3, 1)
    draws = {1: [], 2: []}
    for epoch in (1, 1, 2):
        np.random.seed(epoch * 99 + len(draws[1]))  # any worker state
        load(dict(img_path=str(bad), sample_idx=SampleKey(3, 0, epoch)))
        draws[epoch].append(np.random.randint(0, 1000))
        load(dict(img_path=str(good), sample_idx=7))
    assert draws[1] == [drawn, drawn]
    assert draws[2] != [drawn]  # the epoch changes the replacement
    # a plain index (another sampler) still counts the skip
    assert load(dict(img_path=str(bad), sample_idx=4)) is None
    plain = load(dict(img_path=str(good), sample_idx=9))['sample_idx']
    assert (plain.seed, plain.origin, plain.attempt) == (None, 4, 1)
    # a fresh key is not mistaken for a replacement
    assert load(dict(img_path=str(good),
                     sample_idx=SampleKey(5, 0, 1)))['sample_idx'].attempt == 0
    logger.removeHandler(handler)


def unlabelled_folder(root, bad=None):
    """Three 30 x 40 JPEGs in nested folders (+ a bad one), and a .txt."""
    os.makedirs(root / 'a' / 'deeper')
    paths = [
        root / 'x.jpg', root / 'a' / 'y.jpg', root / 'a' / 'deeper' / 'z.png'
    ]
    for i, path in enumerate(paths):
        cv2.imwrite(str(path), photo(seed=i))
    (root / 'notes.txt').write_text('not an image, not listed')
    if bad is not None:
        (root / 'a' / 'bad.jpg').write_bytes(bad)
    return paths


def folder_dataset(root, skip=False):
    return DATASETS.build(
        dict(
            type='CustomDataset',
            data_prefix=str(root),
            with_label=False,
            pipeline=[
                dict(type='SafeLoadImageFromFile', skip_bad_images=skip),
                dict(type='PackInputs')
            ]))


def test_bad_file_stops_the_loader_with_its_name(tmp_path):
    unlabelled_folder(tmp_path, bad=BAD['truncated jpeg'][0])
    loader = torch.utils.data.DataLoader(
        folder_dataset(tmp_path), batch_size=None, num_workers=1, timeout=60)
    batches = iter(loader)
    with pytest.raises(BadImageError, match=r'bad\.jpg: truncated JPEG'):
        for _ in batches:
            pass
    batches._shutdown_workers()  # now, not at garbage collection


def test_skip_bad_images_keeps_the_loader_going(tmp_path):
    unlabelled_folder(tmp_path, bad=b'')
    dataset = folder_dataset(tmp_path, skip=True)
    assert len(dataset) == 4
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=1, timeout=60)
    paths = [sample['data_samples'].img_path for sample in loader]
    assert len(paths) == 4
    assert not any(p.endswith('bad.jpg') for p in paths)


# ---------------------------------------------------------------- datasets


def test_any_folder_without_labels(tmp_path):
    paths = unlabelled_folder(tmp_path)
    dataset = folder_dataset(tmp_path)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert sorted(d['img_path']
                  for d in infos) == sorted(str(p) for p in paths)
    assert all('gt_label' not in d for d in infos)
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 30, 40)
    assert 'gt_label' not in sample['data_samples']


def load_config(name, **dataset_overrides):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', name))
    return cfg


def build_from(cfg, loader_key, **overrides):
    dataset = cfg[loader_key]['dataset']
    dataset.update(overrides)
    return DATASETS.build(dataset)


def labels(dataset):
    return [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]


def write_imagenet(root):
    """2 classes x 2 JPEGs per split, plus meta/{train,val}.txt."""
    lines = {'train': [], 'val': []}
    for split in lines:
        for label, wnid in enumerate(['n01440764', 'n01443537']):
            os.makedirs(root / split / wnid)
            for i in range(2):
                name = f'{wnid}/{wnid}_{i}.JPEG'
                cv2.imwrite(
                    str(root / split / name),
                    photo(60, 80, seed=label * 10 + i))
                lines[split].append(f'{name} {label}')
    return lines


def test_imagenet_folder_and_list_file(tmp_path):
    lines = write_imagenet(tmp_path)
    cfg = load_config('imagenet_simsiam.py')
    # folder layout (ImageNet's 1000 classes narrowed to the two written)
    folder = build_from(
        cfg,
        'train_dataloader',
        data_root=str(tmp_path),
        metainfo=dict(classes=('tench', 'goldfish')))
    assert len(folder) == 4
    assert labels(folder) == [0, 0, 1, 1]
    views = folder[0]['inputs']
    assert len(views) == 2 and views[0].shape == (3, 224, 224)
    assert views[0].dtype == torch.uint8
    # list file: meta/train.txt is used when present
    os.makedirs(tmp_path / 'meta')
    for split, split_lines in lines.items():
        (tmp_path / 'meta' /
         f'{split}.txt').write_text('\n'.join(split_lines[::-1]) + '\n')
    listed = build_from(
        load_config('imagenet_simsiam.py'),
        'train_dataloader',
        data_root=str(tmp_path))
    assert labels(listed) == [1, 1, 0, 0]
    for name, key in [('imagenet_knn.py', 'knn_val_dataloader'),
                      ('imagenet_linear.py', 'val_dataloader')]:
        val = build_from(load_config(name), key, data_root=str(tmp_path))
        sample = val[3]
        assert sample['inputs'].shape == (3, 224, 224)
        assert int(sample['data_samples'].gt_label) == 0


def views_on_the_device(cfg, dataset, n=2):
    """Collate ``n`` samples and run the config's data preprocessor."""
    from mmengine.dataset import default_collate
    batch = default_collate([dataset[i] for i in range(n)])
    preprocessor = MODELS.build(cfg.data_preprocessor)
    return preprocessor(batch, training=True)['inputs']


def test_imagenet_with_views_on_the_device(tmp_path):
    write_imagenet(tmp_path)
    cfg = load_config('imagenet_simsiam_deviceaug.py')
    dataset = build_from(
        cfg,
        'train_dataloader',
        data_root=str(tmp_path),
        metainfo=dict(classes=('tench', 'goldfish')))
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 384, 384)
    assert sample['data_samples'].ori_shape == (60, 80)
    views = views_on_the_device(cfg, dataset)
    assert [v.shape for v in views] == [(2, 3, 224, 224)] * 2
    assert views[0].dtype == torch.float32
    assert not torch.allclose(views[0], views[1])


def write_cifar10(root, per_batch=3):
    """The python-pickle layout: 5 train batches, test_batch, batches.meta.

    Returns the (images HWC, labels) written to the test batch.
    """
    folder = root / 'cifar-10-batches-py'
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    names = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
    for name in names:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        # rows of 3072 bytes: the red plane, then green, then blue
        data = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        entry = {
            'batch_label': name,
            'data': data,
            'labels': labels,
            'filenames': [f'{name}_{i}.png' for i in range(per_batch)]
        }
        with open(folder / name, 'wb') as f:
            pickle.dump(entry, f)
    classes = [
        'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
        'horse', 'ship', 'truck'
    ]
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': classes, 'num_vis': 3072}, f)
    return images, labels


@pytest.fixture
def unchecked_cifar_md5(monkeypatch):
    """mmpretrain checks the real files' md5 sums; ours are fakes."""
    from mmpretrain.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, 'train_list',
                        [[name, None] for name, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, 'test_list',
                        [[name, None] for name, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, 'meta', dict(CIFAR10.meta, md5=None))


def test_cifar10_pickles(tmp_path, unchecked_cifar_md5):
    images, labels = write_cifar10(tmp_path)
    train = build_from(
        load_config('cifar10_simsiam.py'),
        'train_dataloader',
        data_root=str(tmp_path))
    assert len(train) == 15
    views = train[0]['inputs']
    assert [v.shape for v in views] == [(3, 32, 32)] * 2
    test = build_from(
        load_config('cifar10_knn.py'),
        'knn_val_dataloader',
        data_root=str(tmp_path))
    assert len(test) == 3 and test.metainfo['classes'][0] == 'airplane'
    for i in range(3):
        sample = test[i]
        # RGB, H x W x 3 as written, packed to 3 x 32 x 32
        assert torch.equal(sample['inputs'],
                           torch.from_numpy(images[i]).permute(2, 0, 1))
        assert int(sample['data_samples'].gt_label) == labels[i]


def test_cifar10_with_views_on_the_device(tmp_path, unchecked_cifar_md5):
    write_cifar10(tmp_path)
    cfg = load_config('cifar10_simsiam_deviceaug.py')
    dataset = build_from(cfg, 'train_dataloader', data_root=str(tmp_path))
    views = views_on_the_device(cfg, dataset, n=4)
    assert [v.shape for v in views] == [(4, 3, 32, 32)] * 2


def test_cifar10_missing_is_an_error_not_a_download(tmp_path):
    cfg = load_config('cifar10_simsiam.py')
    with pytest.raises(RuntimeError, match='Cannot find CIFAR10'):
        build_from(cfg, 'train_dataloader', data_root=str(tmp_path))


def test_digits_demo_tool_and_configs(tmp_path, capsys):
    tool = load_tool('prepare_demo_data')
    out = str(tmp_path / 'digits')
    stamp = tool.main(['--out', out, '--size', '16'])
    assert stamp['counts'] == dict(train=1438, val=359)
    assert 'wrote 1438 train + 359 val' in capsys.readouterr().out
    tool.main(['--out', out, '--size', '16'])
    assert 'nothing written' in capsys.readouterr().out
    files = glob.glob(osp.join(out, '*', '*', '*.png'))
    assert len(files) == 1797
    img = cv2.imread(files[0], cv2.IMREAD_UNCHANGED)
    assert img.shape == (16, 16) and img.dtype == np.uint8
    # stratified: each class has round(20 %) of its digits in val
    from sklearn.datasets import load_digits
    per_class = np.bincount(load_digits().target)
    for label, n in enumerate(per_class):
        assert len(os.listdir(osp.join(out, 'val',
                                       str(label)))) == round(0.2 * n)

    train = build_from(
        load_config('digits_simsiam.py'), 'train_dataloader', data_root=out)
    assert len(train) == 1438
    assert [v.shape for v in train[0]['inputs']] == [(3, 32, 32)] * 2
    val = build_from(
        load_config('digits_knn.py'), 'knn_val_dataloader', data_root=out)
    assert len(val) == 359 and val.metainfo['classes'] == tuple('0123456789')
    sample = val[len(val) - 1]
    assert sample['inputs'].shape == (3, 32, 32)
    assert int(sample['data_samples'].gt_label) == 9
    linear = build_from(
        load_config('digits_linear.py'), 'train_dataloader', data_root=out)
    assert len(linear) == 1438


@pytest.mark.parametrize(
    'path', DATASET_CONFIGS, ids=[osp.basename(p) for p in DATASET_CONFIGS])
def test_dataset_config_names_resolvable_types(path):
    cfg = Config.fromfile(path)
    loaders = [key for key in cfg if key.endswith('dataloader')]
    assert loaders, 'a dataset base defines at least one loader'
    for key in loaders:
        loader = cfg[key]
        assert loader['collate_fn'] == dict(type='default_collate')
        assert '_scope_' not in str(loader)
        dataset = loader['dataset']
        assert DATASETS.get(dataset['type']) is not None, dataset['type']
        for step in dataset['pipeline']:
            assert TRANSFORMS.get(step['type']) is not None, step['type']
    if 'data_preprocessor' in cfg:
        # SelfSup/ClsDataPreprocessor live in mmpretrain.models, which the
        # model side of the package imports; make sure of it here
        import mmpretrain.models  # noqa: F401

        # the pipelines yield uint8 RGB: normalise, never flip channels
        assert MODELS.get(cfg.data_preprocessor['type']) is not None
        assert not cfg.data_preprocessor.get('to_rgb', False)
        assert len(cfg.data_preprocessor['mean']) == 3


def test_pil_fallback_rescales_16_bit():
    from simsiam_mm.datasets.loading import _pil_to_rgb
    grey16 = Image.fromarray(np.array([[0, 65535], [32896, 257]], np.uint16))
    assert grey16.mode.startswith('I;16')
    np.testing.assert_array_equal(
        _pil_to_rgb(grey16)[..., 0], [[0, 255], [128, 1]])
    assert _pil_to_rgb(grey16).shape == (2, 2, 3)
