"""Bad image files: every one is a ``BadImageError`` naming it, in both
modes, through ``decode_image`` and through the real loader with workers;
skip mode keeps training and counts the skipped files exactly.

The fuzz corpus is made here: one small textured image encoded in every
format the loader reads, then cut at many points (every cut must be
rejected: a truncated file is an error even where a decoder would return
part of it) and with random bytes overwritten (decoded or rejected, never
another exception).
"""
import io
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from PIL import Image

from simsiam_mm.datasets import (BadImageError, SafeLoadImageFromFile,
                                 SeededSampler, decode_image)
from simsiam_mm.datasets.loading import file_problem, skipped_in_batch
from simsiam_mm.registry import DATASETS

HEIGHT, WIDTH = 36, 52


def texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.2)


def pil_bytes(fmt: str, img=None, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(texture() if img is None else img).save(
        buffer, fmt, **kwargs)
    return buffer.getvalue()


def png16() -> bytes:
    bgr = texture()[..., ::-1].astype(np.uint16) * 257  # OpenCV writes BGR
    ok, data = cv2.imencode('.png', bgr)
    assert ok
    return data.tobytes()


def jpeg_with_thumbnail() -> bytes:
    """A JPEG whose APP1 segment holds a whole JPEG (as an EXIF thumbnail):
    an end-of-image marker that is not the file's end."""
    main = pil_bytes('JPEG', quality=90)
    thumb = pil_bytes('JPEG', texture(1)[:8, :8], quality=50)
    payload = b'Exif\x00\x00' + thumb
    segment = b'\xff\xe1' + (len(payload) + 2).to_bytes(2, 'big') + payload
    return main[:2] + segment + main[2:]


FORMATS = {
    'jpeg': lambda: pil_bytes('JPEG', quality=90),
    'progressive jpeg':
    lambda: pil_bytes('JPEG', quality=90, progressive=True),
    'jpeg with thumbnail': jpeg_with_thumbnail,
    'png': lambda: pil_bytes('PNG'),
    '16-bit png': png16,
    'gif': lambda: pil_bytes('GIF'),
    'bmp': lambda: pil_bytes('BMP'),
    'webp': lambda: pil_bytes('WEBP', quality=80),
    'lossless webp': lambda: pil_bytes('WEBP', lossless=True),
    'tiff': lambda: pil_bytes('TIFF'),
    'deflate tiff': lambda: pil_bytes('TIFF', compression='tiff_deflate'),
}
CORPUS = {name: make() for name, make in FORMATS.items()}


def cut_points(data: bytes, count: int = 40) -> list:
    """Spread over the file, the first and last bytes densely, and right
    after every byte that could pass for the end of a GIF (';') or of a
    JPEG (FF D9)."""
    size = len(data)
    spread = np.linspace(1, size - 1, count).astype(int).tolist()
    ends = [size - k for k in range(1, 17)] + list(range(1, 17))
    false_ends = [
        i + 1 for i, byte in enumerate(data)
        if byte == 0x3B or data[i - 1:i + 1] == b'\xff\xd9'
    ]
    return sorted({c for c in spread + ends + false_ends if 0 < c < size})


def overwritten(data: bytes, rng: np.random.Generator) -> bytes:
    out = np.frombuffer(data, np.uint8).copy()
    count = int(rng.integers(1, 9))
    out[rng.integers(0, len(out), count)] = rng.integers(0, 256, count)
    return out.tobytes()


def assert_decoded_or_named(data: bytes, name: str) -> str:
    """decode_image returns H x W x 3 uint8 or raises BadImageError naming
    ``name``; returns 'ok' or 'bad'."""
    try:
        img = decode_image(data, name)
    except BadImageError as error:
        assert name in str(error) and error.path == name and error.reason
        return 'bad'
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 1
    return 'ok'


@pytest.mark.parametrize('fmt', list(CORPUS))
def test_whole_files_decode(fmt):
    img = decode_image(CORPUS[fmt], fmt)
    assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
    tolerance = 40 if 'jpeg' in fmt or fmt in ('gif', 'webp') else 0
    error = float(np.abs(img.astype(int) - texture()).mean())
    assert error <= tolerance / 4
    assert file_problem(CORPUS[fmt]) is None


@pytest.mark.parametrize('fmt', list(CORPUS))
def test_every_cut_is_rejected_and_named(fmt):
    """Rejected by the end-of-file check itself, whatever the decoders of
    this machine would make of the cut file (a cut within the 8 bytes of
    the format's signature is 'not an image')."""
    data = CORPUS[fmt]
    for cut in cut_points(data):
        name = f'/data/{fmt}@{cut}'
        with pytest.raises(BadImageError) as info:
            decode_image(data[:cut], name)
        assert info.value.path == name, cut
        assert str(info.value).startswith(f'bad image {name}: ')
        if cut >= 8:
            assert info.value.reason.startswith('truncated'), (cut, info)
            assert file_problem(data[:cut])[0] == 'truncated', cut


@pytest.mark.parametrize('fmt', list(CORPUS))
def test_overwritten_bytes_decode_or_raise_bad_image_error(fmt):
    rng = np.random.default_rng(sum(map(ord, fmt)))
    outcomes = [
        assert_decoded_or_named(
            overwritten(CORPUS[fmt], rng), f'/data/{fmt}#{trial}')
        for trial in range(60)
    ]
    assert outcomes.count('ok') + outcomes.count('bad') == 60


def test_truncated_jpeg_is_rejected_even_where_a_decoder_returns_it():
    """libjpeg returns a cut JPEG with grey rows (OpenCV builds differ on
    passing that on); the end-of-image check decides, not the decoder."""
    data = CORPUS['jpeg']
    cut = data[:len(data) * 2 // 3]
    assert file_problem(cut) == ('truncated', 'JPEG', 'no end-of-image '
                                 'marker after the last scan')
    with pytest.raises(BadImageError, match='truncated JPEG'):
        decode_image(cut, 'x.jpg')
    # trailing bytes after the end marker (some cameras) are fine
    assert decode_image(data + b'\x00' * 64).shape == (HEIGHT, WIDTH, 3)


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_header_claiming_a_huge_image_is_rejected_before_decoding(fmt):
    """20000 x 20000 in the header of a small file: OpenCV would allocate
    1.2 GB (under its own limit of 2^30 pixels) and fill it with grey."""
    data = bytearray(CORPUS[fmt])
    side = (20000).to_bytes(2, 'big')
    if fmt == 'jpeg':
        sof = data.index(b'\xff\xc0')
        data[sof + 5:sof + 9] = side + side  # height, width
    else:
        data[16:24] = b'\x00\x00' + side + b'\x00\x00' + side
    with pytest.raises(BadImageError, match='claims 20000 x 20000 pixels'):
        decode_image(bytes(data), f'huge.{fmt}')


def test_pil_errors_at_open_are_bad_image_errors():
    """PIL raises plain OSError / DecompressionBombError from Image.open
    for some files (issue 13: 'Truncated File Read' escaped)."""
    header = CORPUS['gif'][:13]  # a GIF header, then nothing
    with pytest.raises(BadImageError, match='x.gif'):
        decode_image(header, 'x.gif')
    huge = bytearray(CORPUS['gif'])
    huge[6:10] = b'\xff\xff\xff\xff'  # 65535 x 65535 logical screen
    with pytest.raises(BadImageError, match='huge.gif'):
        decode_image(bytes(huge), 'huge.gif')


# --------------------------------------------------- through the real loader


def write_folder(root, bad: dict, good: int) -> list:
    """``good`` good PNGs and the ``bad`` files (name -> bytes) in one
    folder; returns the bad files' paths."""
    os.makedirs(root, exist_ok=True)
    for i in range(good):
        cv2.imwrite(osp.join(root, f'good_{i:03d}.png'), texture(i + 2))
    paths = []
    for name, data in bad.items():
        path = osp.join(root, name)
        with open(path, 'wb') as f:
            f.write(data)
        paths.append(path)
    return paths


def bad_corpus() -> dict:
    """One cut and one overwritten-and-rejected file of every format."""
    rng = np.random.default_rng(0)
    bad = {}
    for i, (fmt, data) in enumerate(CORPUS.items()):
        stem = fmt.replace(' ', '_').replace('-', '')
        ext = {
            'jpeg': 'jpg',
            'tiff': 'tif',
            'webp': 'png'
        }.get(fmt.split()[-1], 'png')
        if fmt.endswith(('gif', 'webp')):  # no .gif in the folder scan
            ext = 'png'
        bad[f'cut_{stem}.{ext}'] = data[:len(data) * (i + 1) //
                                        (len(CORPUS) + 2)]
    for trial in range(200):  # overwritten files that are rejected
        fmt = list(CORPUS)[trial % len(CORPUS)]
        data = overwritten(CORPUS[fmt], rng)
        if assert_decoded_or_named(data, 'probe') == 'bad':
            bad[f'overwritten_{trial}.jpg'] = data
        if len(bad) >= len(CORPUS) + 6:
            break
    bad['empty.png'] = b''
    return bad


def folder_dataset(root, skip: bool):
    return DATASETS.build(
        dict(
            type='CustomDataset',
            data_prefix=str(root),
            with_label=False,
            pipeline=[
                dict(type='SafeLoadImageFromFile', skip_bad_images=skip),
                dict(type='SimSiamViews', size=16, blur_prob=0.),
                dict(type='PackInputs'),
            ]))


def loader(dataset, num_workers=2, batch_size=4, seed=0):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=SeededSampler(dataset, shuffle=True, seed=seed),
        num_workers=num_workers,
        collate_fn=default_collate,
        timeout=120)


def test_every_bad_file_stops_the_loader_naming_it(tmp_path):
    """skip_bad_images=False, 2 workers: each bad file raises its own
    BadImageError in the main process (the iterator goes on after each,
    so every file is seen)."""
    bad_paths = write_folder(tmp_path, bad_corpus(), good=6)
    dataset = folder_dataset(tmp_path, skip=False)
    named, batches = [], 0
    batches_iter = iter(loader(dataset, batch_size=1))
    while True:
        try:
            next(batches_iter)
            batches += 1
        except StopIteration:
            break
        except BadImageError as error:
            # rebuilt from the worker's message, which quotes ours
            named += re.findall(r'bad image (\S+): ', str(error))
    assert sorted(named) == sorted(bad_paths)
    assert batches == 6


def spy_on_skips(monkeypatch, path: str) -> None:
    """Record every skip in ``path``, from any (forked) worker process."""
    original = SafeLoadImageFromFile._skip

    def spy(transform, error, key):
        with open(path, 'a') as f:
            f.write(f'{error.path}\n')
        return original(transform, error, key)

    monkeypatch.setattr(SafeLoadImageFromFile, '_skip', spy)


def test_skip_mode_loader_yields_good_samples_and_counts_exactly(
        tmp_path, monkeypatch):
    """skip_bad_images=True, 3 workers, 2 epochs: only good images come
    out, and the per-sample skip counts summed in the main process equal
    the skips that happened in the workers."""
    bad = bad_corpus()
    bad_paths = write_folder(tmp_path / 'data', bad, good=20)
    skips = str(tmp_path / 'skips.txt')
    spy_on_skips(monkeypatch, skips)
    dataset = folder_dataset(tmp_path / 'data', skip=True)
    data = loader(dataset, num_workers=3, batch_size=5)
    for epoch in range(2):
        data.sampler.set_epoch(epoch)
        open(skips, 'w').close()
        counted, seen = 0, []
        for batch in data:
            counted += skipped_in_batch(batch)
            seen += [s.img_path for s in batch['data_samples']]
            assert all(v.shape[1:] == (3, 16, 16) for v in batch['inputs'])
        skipped = open(skips).read().split()
        assert counted == len(skipped) >= len(bad)
        assert set(skipped) == set(bad_paths)  # each one visited
        assert len(seen) == len(dataset)
        assert not set(seen) & set(bad_paths)
