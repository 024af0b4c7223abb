"""Two-view SimSiam augmentation throughput, three pipelines side by side.

    python benchmarks/bench_pipeline.py [--n-images 64] [--seconds 3]
    python benchmarks/bench_pipeline.py --smoke      # a few seconds
    python benchmarks/bench_pipeline.py --compare REF [--rounds 6]
    python benchmarks/bench_pipeline.py --overheads

Writes its own JPEGs (500 x 375, smooth gradients, shapes and fine noise,
about 95 KiB each, like an ImageNet photo) to a temporary folder and times,
in one process on one thread (torch and OpenCV), the same job done by

* ``mmpretrain``: ``LoadImageFromFile`` + ``MultiView`` of the
  ``view_pipeline`` read from mmpretrain's own
  ``configs/_base_/datasets/imagenet_bs32_mocov2.py`` (the base of its
  SimSiam configs) + ``PackInputs``, then the BGR -> RGB flip and
  normalisation its ``SelfSupDataPreprocessor`` would do, per image;
* ``official``: the facebookresearch/simsiam recipe in torchvision on PIL
  images (``pil_loader`` + two calls of the ``Compose``);
* ``simsiam_mm``: ``SafeLoadImageFromFile`` + ``SimSiamViews(normalize=
  True)``.

Every pipeline returns two normalised ``float32`` 3 x 224 x 224 RGB views per
image. ``decode_augment`` starts from the file path, ``augment_only`` from
the image each pipeline decodes to. The pipelines take turns for
``--rounds`` rounds and each keeps its best round. Prints one JSON line:
images/s per pipeline and the ratios of ``simsiam_mm`` to each peer;
``simsiam_mm_uint8`` is the configs' setting (uint8 views, normalised on the
device), for reference. ``simsiam_mm`` draws its views from sample keys as
the configs' ``SeededSampler`` gives them, a new key per call.

``--compare REF`` times this project's two pipelines against the package
as it was at git revision ``REF`` (extracted to a temporary folder): the
two versions run in alternating subprocesses of one round each, the order
swapped every round, each keeping its best round; it prints both side by
side and the ratio of the current code to ``REF``.

``--overheads`` times, in this process, only what the sample keys and the
file checks add: the draws of two views from a key against torch's
generator, ``file_problem`` per JPEG, and the whole transform with and
without keys (CPU microseconds per image, best of 7).
"""
import argparse
import copy
import io
import itertools
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings

import cv2
import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

IMAGENET_MEAN_01 = [0.485, 0.456, 0.406]
IMAGENET_STD_01 = [0.229, 0.224, 0.225]


def natural_image(rng: np.random.Generator,
                  height: int = 375,
                  width: int = 500) -> np.ndarray:
    """A photo-like BGR image: gradients, filled discs and fine texture."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.005, 0.03, 2)
        phase = rng.uniform(0, 2 * np.pi)
        img[..., c] = 128 + 60 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    for _ in range(12):
        center = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        cv2.circle(img, center, int(rng.uniform(10, 90)),
                   rng.uniform(0, 255, 3).tolist(), -1)
    texture = rng.normal(0, 1, (height, width, 3)).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 0.8)
    img += 18 * texture / texture.std()
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpegs(folder: str, n: int, quality: int = 92) -> list:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = osp.join(folder, f'{i:04d}.jpg')
        cv2.imwrite(path, natural_image(rng),
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        paths.append(path)
    return paths


def mmpretrain_pipeline():
    """(load, views): mmpretrain's MoCo v2 / SimSiam view pipeline."""
    import mmpretrain
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    root = osp.dirname(mmpretrain.__file__)
    cfg_path = None
    for sub in ('.mim/configs', 'configs'):
        candidate = osp.join(root, sub,
                             '_base_/datasets/imagenet_bs32_mocov2.py')
        if osp.exists(candidate):
            cfg_path = candidate
    if cfg_path is None:
        raise FileNotFoundError('imagenet_bs32_mocov2.py not found in the '
                                'installed mmpretrain')
    cfg = Config.fromfile(cfg_path)
    pre = cfg.data_preprocessor
    mean = torch.tensor(pre['mean']).view(3, 1, 1)
    std = torch.tensor(pre['std']).view(3, 1, 1)

    def build(step):
        # MultiView builds its steps from the default scope's registry.
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return TRANSFORMS.build(copy.deepcopy(step))

    load = build(dict(type='LoadImageFromFile'))
    views = Compose([
        build(
            dict(
                type='MultiView', num_views=2,
                transforms=[cfg.view_pipeline])),
        build(dict(type='PackInputs'))
    ])

    def augment(results):
        packed = views(dict(results))  # MultiView updates its input
        # SelfSupDataPreprocessor: BGR -> RGB, float, (x - mean) / std.
        return [(v[[2, 1, 0]].float() - mean) / std for v in packed['inputs']]

    return (lambda path: load(dict(img_path=path)), augment)


class _PILGaussianBlur:
    """The official ``GaussianBlur``: PIL blur with sigma ~ U[0.1, 2]."""

    def __init__(self, sigma=(0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, img):
        from PIL import ImageFilter
        radius = random.uniform(self.sigma[0], self.sigma[1])
        return img.filter(ImageFilter.GaussianBlur(radius=radius))


def official_pipeline():
    """(load, views): facebookresearch/simsiam's torchvision recipe."""
    import torchvision.transforms as T
    from PIL import Image
    view = T.Compose([
        T.RandomResizedCrop(224, scale=(0.2, 1.)),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([_PILGaussianBlur([.1, 2.])], p=0.5),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN_01, std=IMAGENET_STD_01)
    ])

    def load(path):
        with open(path, 'rb') as f:  # torchvision's pil_loader
            return Image.open(f).convert('RGB')

    return load, lambda img: [view(img), view(img)]


def sample_keys():
    """Keys as the configs' sampler gives them (seed 0), a new one per call
    (the n-th is index n), so that every call draws fresh views as training
    does, not the same few views again; plain indices for a version of the
    package without keys."""
    try:
        from simsiam_mm.datasets import SampleKey
    except ImportError:
        return itertools.count()
    return (SampleKey(n, seed=0, epoch=0) for n in itertools.count())


def simsiam_mm_pipeline(normalize=True):
    """(load, views): this project's loader and two-view transform."""
    from simsiam_mm.datasets import SafeLoadImageFromFile, SimSiamViews
    load = SafeLoadImageFromFile()
    views = SimSiamViews(normalize=normalize)
    keys = sample_keys()
    return (lambda path: load(dict(img_path=path, sample_idx=next(keys))),
            lambda results: views(dict(results, sample_idx=next(keys)))['img'])


def time_round(fn, items, seconds):
    """Images per CPU second of ``fn`` cycling over ``items``.

    CPU time of this process, not wall time: on one thread that is the
    throughput per core, and other jobs on a shared machine barely move it.
    Stops after ``seconds`` of CPU time or four times that of wall time.
    """
    done = 0
    start, wall_start = time.process_time(), time.perf_counter()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.process_time() - start
        if elapsed >= seconds or \
                time.perf_counter() - wall_start >= 4 * seconds:
            return done / elapsed


def check_output(name, views):
    assert len(views) == 2, name
    for view in views:
        assert view.shape == (3, 224, 224), (name, view.shape)
        assert view.dtype in (torch.float32, torch.uint8), (name, view.dtype)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n-images', type=int, default=32)
    parser.add_argument(
        '--seconds',
        type=float,
        default=3.,
        help='time per pipeline per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny sizes: finishes in a few seconds')
    parser.add_argument(
        '--compare',
        metavar='REF',
        help='time simsiam_mm against the package at git revision REF')
    parser.add_argument(
        '--overheads',
        action='store_true',
        help='time what the keyed draws and file checks add, per image')
    parser.add_argument(
        '--only-simsiam-mm', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--package-root', default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n_images, args.seconds, args.rounds = 2, 0.2, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.compare:
        return compare(args)
    sys.path.insert(0, args.package_root)

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.overheads:
        return overheads(args)
    # mmcv warns on every pillow-backend colour call of the mmpretrain peer
    warnings.filterwarnings('ignore', message="Only use 'alpha'")
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(folder, args.n_images)
        kib = np.mean([os.path.getsize(p) for p in paths]) / 1024
        pipelines = dict(
            simsiam_mm=simsiam_mm_pipeline(),
            simsiam_mm_uint8=simsiam_mm_pipeline(normalize=False))
        if not args.only_simsiam_mm:
            pipelines = dict(
                mmpretrain=mmpretrain_pipeline(),
                official=official_pipeline(),
                **pipelines)
        decoded = {
            name: [load(p) for p in paths]
            for name, (load, _) in pipelines.items()
        }
        for name, (_, views) in pipelines.items():
            check_output(name, views(decoded[name][0]))

        best = {'decode_augment': {}, 'augment_only': {}}
        for _ in range(args.rounds):
            for name, (load, views) in pipelines.items():
                rate = time_round(lambda p: views(load(p)), paths,
                                  args.seconds)
                best['decode_augment'][name] = max(
                    rate, best['decode_augment'].get(name, 0.))
                rate = time_round(views, decoded[name], args.seconds)
                best['augment_only'][name] = max(
                    rate, best['augment_only'].get(name, 0.))

    report = dict(
        unit='images per CPU second (2 views each), 1 thread',
        n_images=args.n_images,
        image_size=[500, 375],
        mean_jpeg_kib=round(float(kib), 1))
    for mode, rates in best.items():
        report[mode] = {k: round(v, 1) for k, v in rates.items()}
        if not args.only_simsiam_mm:
            report[f'{mode}_ratio'] = {
                f'vs_{peer}': round(rates['simsiam_mm'] / rates[peer], 2)
                for peer in ('mmpretrain', 'official')
            }
    print(json.dumps(report))
    return report


def cpu_us_per_item(fn, items, repeats: int = 7, loops: int = 5) -> float:
    """Best CPU time of ``fn`` over ``items``, in microseconds per item."""
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(loops):
            for item in items:
                fn(item)
        best = min(best, time.process_time() - start)
    return best / (loops * len(items)) * 1e6


def overheads(args):
    """What sample keys and file checks cost, per image, in this process."""
    from simsiam_mm.datasets import (NUM_UNIFORMS, SampleKey, SimSiamViews,
                                     ViewRecipe, decode_image,
                                     sample_view_params,
                                     view_params_from_uniforms)
    from simsiam_mm.datasets.loading import file_problem
    from simsiam_mm.datasets.seeding import view_uniforms
    recipe = ViewRecipe()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(folder, args.n_images)
        data = [open(p, 'rb').read() for p in paths]
    images = [decode_image(d) for d in data]
    keys = (SampleKey(n, seed=0, epoch=0) for n in itertools.count())
    views = SimSiamViews(normalize=True)

    def torch_draws(img):
        for _ in range(2):
            sample_view_params(*img.shape[:2], recipe)

    def keyed_draws(img):
        for u in view_uniforms(next(keys), 2, NUM_UNIFORMS).tolist():
            view_params_from_uniforms(u, *img.shape[:2], recipe)

    us = dict(
        draws_torch=cpu_us_per_item(torch_draws, images),
        draws_keyed=cpu_us_per_item(keyed_draws, images),
        file_problem=cpu_us_per_item(file_problem, data, loops=50),
        decode=cpu_us_per_item(decode_image, data, loops=1),
        # many views per repeat: their cost varies with the draw
        augment_torch=cpu_us_per_item(
            lambda img: views(dict(img=img)), images, loops=8),
        augment_keyed=cpu_us_per_item(
            lambda img: views(dict(img=img, sample_idx=next(keys))),
            images,
            loops=8))
    added = us['draws_keyed'] - us['draws_torch']
    report = dict(
        unit='CPU microseconds per image (2 views), 1 thread, best of 7',
        n_images=args.n_images,
        **{
            k: round(v, 2)
            for k, v in us.items()
        },
        keyed_draws_vs_augment=round(added / us['augment_torch'], 5),
        keys_and_checks_vs_decode_augment=round(
            (added + us['file_problem']) /
            (us['decode'] + us['augment_torch']), 5))
    print(json.dumps(report))
    return report


def extract_package(ref: str, folder: str) -> str:
    """``simsiam_mm/`` as of git revision ``ref``, under ``folder``."""
    archive = subprocess.run(['git', '-C', REPO, 'archive', ref, 'simsiam_mm'],
                             capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder)
    return folder


def compare(args):
    """The two simsiam_mm pipelines, current code vs ``args.compare``."""
    with tempfile.TemporaryDirectory() as folder:
        current = osp.join(folder, 'current')
        shutil.copytree(  # frozen: later edits do not leak into the run
            osp.join(REPO, 'simsiam_mm'),
            osp.join(current, 'simsiam_mm'),
            ignore=shutil.ignore_patterns('__pycache__'))
        roots = {
            args.compare: extract_package(args.compare,
                                          osp.join(folder, 'ref')),
            'current': current
        }
        best = {side: {} for side in roots}
        load = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            order = list(roots) if round_ % 2 == 0 else list(roots)[::-1]
            for side in order:
                proc = subprocess.run([
                    sys.executable,
                    osp.abspath(__file__), '--only-simsiam-mm', '--rounds',
                    '1', '--seconds',
                    str(args.seconds), '--n-images',
                    str(args.n_images), '--package-root', roots[side]
                ],
                                      capture_output=True,
                                      text=True,
                                      check=True)
                rates = json.loads(proc.stdout.strip().splitlines()[-1])
                for mode in ('decode_augment', 'augment_only'):
                    for name, rate in rates[mode].items():
                        key = f'{mode}/{name}'
                        best[side][key] = max(rate, best[side].get(key, 0.))
            load.append(os.getloadavg()[0])
    report = dict(
        unit='images per CPU second (2 views each), 1 thread, best round',
        rounds=args.rounds,
        seconds=args.seconds,
        n_images=args.n_images,
        load_average_1min=[round(x, 2) for x in (min(load), max(load))],
        **{
            side: rates
            for side, rates in best.items()
        },
        ratio_current_to_ref={
            key: round(best['current'][key] / best[args.compare][key], 3)
            for key in best['current']
        })
    print(json.dumps(report))
    return report


if __name__ == '__main__':
    main()
