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

    python tools/prepare_demo_data.py --detection [--out data/digits_det]

writes the detection set of ``make transfer-demo`` instead: black
``--canvas`` px canvases holding a few of the same digits at random
positions and sizes (no two overlapping), one box per digit (the tight box
of its ink) and its class, in COCO format::

    data/digits_det/train/<image>.png        the small labelled split
    data/digits_det/val/<image>.png          the validation split
    data/digits_det/pool/<image>.png         --pool-images N (default 0):
                                             an unlabelled pool of canvases
                                             for pretraining on canvases
    data/digits_det/annotations/{train,val,pool}.json
                                             (pool.json only records where
                                             its digits come from)
    data/digits_det/labelled/<class>/<index>.png
                                             the digits of the train
                                             canvases, 32 px (what a
                                             supervised init may learn from)
    data/digits_det/prepared.json

The digits come from the same stratified split as above (same ``--seed``
and ``--val-fraction``): train canvases take digits of the ``train`` side
(each digit image at most once), pool canvases cycle through the ``train``
side, val canvases only use the ``val`` side. Nothing that pretraining
(the pool canvases, or ``data/digits/train``) or the labelled split holds
is a validation digit image. Each annotation keeps its source row of
``load_digits()`` as ``digit_index``. Each split draws from its own seeded
stream: the val canvases do not depend on the other counts, and a smaller
train split is a prefix of a larger one.
"""
import json
import os
import os.path as osp
import shutil
import sys
from typing import List, Optional, Tuple

import cv2
import numpy as np
from _common import make_parser

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


# ------------------------------------------------------- detection set
DET_SPLITS = ('train', 'val')
LABELLED = 'labelled'  # the train canvases' digits as a class folder
POOL = 'pool'  # unlabelled canvases of train-side digits, for pretraining
INK = 64  # a pasted pixel at or above this (0-255) counts for the box


def _place(rng: np.random.Generator,
           canvas: int,
           side: int,
           taken: list,
           tries: int = 100) -> Optional[tuple]:
    """Top-left corner of a ``side`` px square inside the canvas that
    overlaps none of the squares in ``taken``; None when ``tries`` random
    corners all collide."""
    for _ in range(tries):
        x, y = (int(v) for v in rng.integers(0, canvas - side + 1, 2))
        if all(x + side <= tx or tx + ts <= x or y + side <= ty or ty + ts <= y
               for tx, ty, ts in taken):
            return x, y
    return None


def make_canvases(images: np.ndarray, labels: np.ndarray, queue: List[int],
                  n_images: int, canvas: int, sizes: Tuple[int, int],
                  per_canvas: Tuple[int,
                                    int], rng: np.random.Generator) -> list:
    """``n_images`` canvases; digits are taken in order from ``queue``.

    Each canvas asks for ``per_canvas`` (inclusive range) digits of side
    ``sizes`` (inclusive range, px); a digit that finds no free place is
    left out (and not consumed). Pixels are the maximum of canvas and
    digit.

    Returns:
        list[tuple]: ``(image uint8 H x W, [(label, x, y, w, h,
        digit_index)])`` per canvas; the box is the tight box of the
        pixels >= ``INK``.
    """
    out, pos = [], 0
    for _ in range(n_images):
        img = np.zeros((canvas, canvas), np.uint8)
        taken, objects = [], []
        for _ in range(int(rng.integers(per_canvas[0], per_canvas[1] + 1))):
            if pos >= len(queue):
                raise ValueError(
                    f'{n_images} canvases need more than the {len(queue)} '
                    'digits available; ask for fewer images')
            side = int(rng.integers(sizes[0], sizes[1] + 1))
            corner = _place(rng, canvas, side, taken)
            if corner is None:
                continue
            index = queue[pos]
            pos += 1
            x, y = corner
            patch = to_uint8(images[index], side)
            view = img[y:y + side, x:x + side]
            np.maximum(view, patch, out=view)
            rows = np.flatnonzero((patch >= INK).any(1))
            cols = np.flatnonzero((patch >= INK).any(0))
            objects.append(
                (int(labels[index]), x + int(cols[0]), y + int(rows[0]),
                 int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1),
                 int(index)))
            taken.append((x, y, side))
        out.append((img, objects))
    return out


def coco_json(canvases: list, canvas: int) -> dict:
    """COCO instances dict; category id = digit + 1, name = the digit."""
    images, annotations = [], []
    for image_id, (_, objects) in enumerate(canvases):
        images.append(
            dict(
                id=image_id,
                file_name=f'{image_id:05d}.png',
                width=canvas,
                height=canvas))
        for label, x, y, w, h, index in objects:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=label + 1,
                    bbox=[float(x), float(y),
                          float(w), float(h)],
                    area=float(w * h),
                    iscrowd=0,
                    digit_index=index))
    categories = [dict(id=c + 1, name=str(c)) for c in range(10)]
    return dict(
        info=dict(description='UCI digits (sklearn) on canvases, '
                  'tools/prepare_demo_data.py --detection'),
        images=images,
        annotations=annotations,
        categories=categories)


def prepare_detection(out: str,
                      canvas: int = 64,
                      n_train: int = 100,
                      n_val: int = 200,
                      n_pool: int = 0,
                      sizes: Tuple[int, int] = (12, 28),
                      per_canvas: Tuple[int, int] = (2, 4),
                      val_fraction: float = 0.2,
                      seed: int = 0) -> dict:
    """Write (or verify) the detection set; returns the stamp it leaves.

    Train canvases take distinct digits of the ``train`` side of the
    stratified split (in a seeded random order); val canvases cycle
    through seeded permutations of the ``val`` side; the ``n_pool``
    unlabelled pool canvases (``pool/``, no annotations) through those of
    the ``train`` side.
    """
    if not 8 <= sizes[0] <= sizes[1] <= canvas:
        raise ValueError(f'digit sizes {sizes} must satisfy 8 <= min <= '
                         f'max <= canvas ({canvas})')
    if not 1 <= per_canvas[0] <= per_canvas[1]:
        raise ValueError(f'digits per canvas {per_canvas}: need '
                         '1 <= min <= max')
    from sklearn.datasets import load_digits
    digits = load_digits()
    labels = digits.target
    pools = split_indices(labels, val_fraction, seed)
    # one stream per split, none the split's own: the val canvases do not
    # depend on the other counts, and a smaller train split is a prefix of
    # a larger one
    sets = {}
    for stream, (split, n, side) in enumerate(
        (('train', n_train, 'train'), ('val', n_val, 'val'),
         (POOL, n_pool, 'train')),
            start=1):
        rng = np.random.default_rng([seed, stream])
        if split == 'train':  # each labelled digit image once
            queue = rng.permutation(pools[side]).tolist()
        else:  # cycled: each image about as often as the others
            cycles = max(1, -(-n * per_canvas[1] // len(pools[side])))
            queue = np.concatenate([
                rng.permutation(pools[side]) for _ in range(cycles)
            ]).tolist()
        sets[split] = make_canvases(digits.images, labels, queue, n, canvas,
                                    sizes, per_canvas, rng)
    # the pool's json only records where its digits come from (the
    # pretraining reads pool/*.png without labels)
    jsons = {split: coco_json(c, canvas) for split, c in sets.items()}
    labelled = sorted(
        {a['digit_index']
         for a in jsons['train']['annotations']})
    stamp = dict(
        source='sklearn.datasets.load_digits (UCI optical digits)',
        task='detection',
        canvas=canvas,
        digit_sizes=list(sizes),
        digits_per_canvas=list(per_canvas),
        val_fraction=val_fraction,
        seed=seed,
        classes=[str(c) for c in range(10)],
        counts=dict(
            train_images=n_train,
            val_images=n_val,
            train_boxes=len(jsons['train']['annotations']),
            val_boxes=len(jsons['val']['annotations']),
            labelled_digits=len(labelled),
            pool_digits=len(pools['train']),
            pool_images=n_pool),
        pool='the train side of data/digits (prepare_demo_data.py with the '
        'same seed and val fraction), and the pool/ canvases made of it')
    files = [
        osp.join(split, image['file_name']) for split in DET_SPLITS
        for image in jsons[split]['images']
    ] + [f'{LABELLED}/{labels[i]}/{i:04d}.png' for i in labelled] + [
        osp.join(POOL, f'{i:05d}.png') for i in range(n_pool)
    ] + [f'annotations/{split}.json' for split in jsons]

    stamp_path = osp.join(out, STAMP)
    if osp.exists(stamp_path):
        with open(stamp_path) as f:
            previous = json.load(f)
        complete = all(osp.exists(osp.join(out, name)) for name in files)
        if previous == stamp and complete:
            print(f'{out}: up to date ({_det_summary(stamp)}); '
                  'nothing written')
            return stamp
    for sub in DET_SPLITS + (LABELLED, POOL, 'annotations'):
        shutil.rmtree(osp.join(out, sub), ignore_errors=True)
    for split in DET_SPLITS + (POOL, ):
        os.makedirs(osp.join(out, split))
        for (img, _), image in zip(sets[split], jsons[split]['images']):
            _write(osp.join(out, split, image['file_name']), img)
    for i in labelled:
        path = osp.join(out, LABELLED, str(labels[i]), f'{i:04d}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        _write(path, to_uint8(digits.images[i], 32))
    os.makedirs(osp.join(out, 'annotations'))
    for split in DET_SPLITS + (POOL, ):
        with open(osp.join(out, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(jsons[split], f)
    with open(stamp_path, 'w') as f:
        json.dump(stamp, f, indent=2)
    print(f'{out}: wrote {_det_summary(stamp)}')
    return stamp


def _write(path: str, img: np.ndarray) -> None:
    if not cv2.imwrite(path, img):
        raise OSError(f'could not write {path}')


def _det_summary(stamp: dict) -> str:
    c = stamp['counts']
    return (f"{c['train_images']} train ({c['train_boxes']} boxes) + "
            f"{c['val_images']} val ({c['val_boxes']} boxes) "
            f"{stamp['canvas']}x{stamp['canvas']} px canvases, COCO json in "
            f"annotations/, {c['labelled_digits']} labelled digits in "
            f"{LABELLED}/, {c['pool_images']} unlabelled in {POOL}/")


def main(argv=None) -> dict:
    parser = make_parser(
        'Write the UCI digits bundled with scikit-learn as an image folder, '
        'or (--detection) as a COCO detection set of digit canvases (no '
        'download).')
    parser.add_argument(
        '--out',
        help='output folder (data/digits, with --detection data/digits_det)')
    parser.add_argument(
        '--size', type=int, default=32, help='side of a digit image, px')
    parser.add_argument(
        '--val-fraction',
        type=float,
        default=0.2,
        help='share of each class in the val split')
    parser.add_argument(
        '--seed', type=int, default=0, help='split and canvas seed')
    det = parser.add_argument_group('detection set (make transfer-demo)')
    det.add_argument(
        '--detection',
        action='store_true',
        help='write the COCO detection set instead of the image folder')
    det.add_argument('--canvas', type=int, default=64, help='canvas side, px')
    det.add_argument(
        '--train-images',
        type=int,
        default=100,
        help='labelled training canvases')
    det.add_argument(
        '--val-images', type=int, default=200, help='validation canvases')
    det.add_argument(
        '--pool-images',
        type=int,
        default=0,
        help='unlabelled pool canvases (pool/), for pretraining on '
        'canvases instead of digits')
    det.add_argument(
        '--digit-sizes',
        type=int,
        nargs=2,
        default=[12, 28],
        metavar=('MIN', 'MAX'),
        help='side of a pasted digit, px, inclusive')
    det.add_argument(
        '--digits-per-canvas',
        type=int,
        nargs=2,
        default=[2, 4],
        metavar=('MIN', 'MAX'),
        help='digits asked for per canvas, inclusive')
    args = parser.parse_args(argv)
    if args.size < 8:
        parser.error('--size must be >= 8')
    if not 0 < args.val_fraction < 1:
        parser.error('--val-fraction must be in (0, 1)')
    if not args.detection:
        return prepare(args.out or 'data/digits', args.size, args.val_fraction,
                       args.seed)
    if args.train_images < 1 or args.val_images < 1 or args.pool_images < 0:
        parser.error('--train-images and --val-images must be >= 1, '
                     '--pool-images >= 0')
    try:
        return prepare_detection(
            args.out or 'data/digits_det',
            canvas=args.canvas,
            n_train=args.train_images,
            n_val=args.val_images,
            n_pool=args.pool_images,
            sizes=tuple(args.digit_sizes),
            per_canvas=tuple(args.digits_per_canvas),
            val_fraction=args.val_fraction,
            seed=args.seed)
    except ValueError as err:
        parser.error(str(err))


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
