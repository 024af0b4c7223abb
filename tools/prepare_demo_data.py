"""Write scikit-learn's bundled UCI digits as an image-folder dataset.

    python tools/prepare_demo_data.py [--out data/digits] [--size 32]

The 1,797 8 x 8 handwritten digits (10 classes) ship inside scikit-learn,
so nothing is downloaded. They are split 80/20, stratified by class with a
fixed seed (1,438 train / 359 val), upsampled with bicubic interpolation to
``--size`` pixels (the CIFAR ResNet-18 of the demo takes 16-32 px) and
written as 8-bit greyscale PNGs::

    data/digits/train/<class>/<index>.png    <index>: row in load_digits()
    data/digits/val/<class>/<index>.png
    data/digits/prepared.json                what was written, and how

so the demo goes through mmpretrain's ``CustomDataset`` exactly like a
user's folder. Idempotent: rerunning with the same arguments checks the
files and writes nothing; other arguments rewrite the folder.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np

SPLITS = ('train', 'val')
STAMP = 'prepared.json'


def split_indices(labels: np.ndarray, val_fraction: float, seed: int) -> dict:
    """Stratified split: ``round(val_fraction * n_c)`` of each class to val.

    Returns:
        dict: ``{'train': sorted indices, 'val': sorted indices}``.
    """
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_val = int(round(val_fraction * len(members)))
        val.extend(rng.permutation(members)[:n_val].tolist())
    val = np.sort(np.asarray(val, dtype=int))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return dict(train=train, val=val)


def to_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """A digit (values 0-16) to ``uint8`` 0-255 at ``size x size``."""
    image = image.astype(np.float32) * (255. / 16.)
    if size != image.shape[0]:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def expected_files(labels: np.ndarray, splits: dict) -> dict:
    return {
        split:
        [osp.join(split, str(labels[i]), f'{i:04d}.png') for i in indices]
        for split, indices in splits.items()
    }


def prepare(out: str,
            size: int = 32,
            val_fraction: float = 0.2,
            seed: int = 0) -> dict:
    """Write (or verify) the dataset; returns the stamp it leaves."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    labels = digits.target
    splits = split_indices(labels, val_fraction, seed)
    files = expected_files(labels, splits)
    stamp = dict(
        source='sklearn.datasets.load_digits (UCI optical digits)',
        size=size,
        val_fraction=val_fraction,
        seed=seed,
        classes=[str(c) for c in range(10)],
        counts={
            split: len(names)
            for split, names in files.items()
        })

    stamp_path = osp.join(out, STAMP)
    if osp.exists(stamp_path):
        with open(stamp_path) as f:
            previous = json.load(f)
        complete = all(
            osp.exists(osp.join(out, name)) for names in files.values()
            for name in names)
        if previous == stamp and complete:
            print(f'{out}: up to date ({_summary(stamp)}); nothing written')
            return stamp
    for split in SPLITS:
        shutil.rmtree(osp.join(out, split), ignore_errors=True)
    for split, indices in splits.items():
        for index, name in zip(indices, files[split]):
            path = osp.join(out, name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            if not cv2.imwrite(path, to_uint8(digits.images[index], size)):
                raise OSError(f'could not write {path}')
    with open(stamp_path, 'w') as f:
        json.dump(stamp, f, indent=2)
    print(f'{out}: wrote {_summary(stamp)}')
    return stamp


def _summary(stamp: dict) -> str:
    counts = stamp['counts']
    return (f"{counts['train']} train + {counts['val']} val greyscale PNGs, "
            f"{stamp['size']}x{stamp['size']} px, 10 classes, "
            f"{{train,val}}/<class>/<index>.png")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description='Write the UCI digits bundled with scikit-learn as an '
        'image folder (no download).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/digits', help='output folder')
    parser.add_argument(
        '--size', type=int, default=32, help='side of the images in pixels')
    parser.add_argument(
        '--val-fraction',
        type=float,
        default=0.2,
        help='share of each class written to val/')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the train/val split')
    args = parser.parse_args(argv)
    if args.size < 8:
        parser.error('--size must be >= 8')
    if not 0 < args.val_fraction < 1:
        parser.error('--val-fraction must be in (0, 1)')
    return prepare(args.out, args.size, args.val_fraction, args.seed)


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
