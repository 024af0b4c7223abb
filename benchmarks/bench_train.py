"""End-to-end SimSiam training throughput: JPEG files to optimizer steps.

Both arms train the same model (ResNet-``--depth`` with the paper's heads:
projector 2048-2048-2048, predictor 2048-512-2048, BN) for the same number
of iterations through an mmengine ``Runner`` and a real ``DataLoader`` over
the same generated JPEGs (500 x 375, photo-like, from
``bench_pipeline.write_jpegs``), each with its own data pipeline:

* ``simsiam_mm``: ``configs/simsiam_r50_8xb32.py``, its pipeline
  (``SafeLoadImageFromFile`` + ``SimSiamViews``, uint8 views normalised by
  the data preprocessor), ``SimSiam``, optim wrapper and hooks;
* ``mmpretrain``: mmpretrain's own SimSiam config with its
  ``imagenet_bs32_mocov2`` view pipeline (``LoadImageFromFile`` +
  ``MultiView`` + ``PackInputs``), its ``SimSiam``, ``paramwise_cfg`` and
  ``SimSiamHook``;
* ``simsiam_mm_device`` (opt-in with ``--arms``): the loader only decodes
  and resizes to a fixed ``--device-aug-side``; the views are drawn on the
  training device by ``SimSiamDeviceAugPreprocessor``.

Only the dataset (a ``CustomDataset`` over the JPEG folder), the crop size
(``--size``), the backbone depth, batch size, the number of workers and the
sampler (``InfiniteSampler``: an iteration loop over a finite sampler
sleeps 2 s at every epoch end) are changed from the configs. Every
(arm, workers) pair runs in its own subprocess, interleaved; each arm keeps
its best ``--workers`` setting.
Throughput is pairs (images) per second over the measured iterations, from
the ``time`` and ``data_time`` that mmengine's ``IterTimerHook`` logs;
warm-up iterations (worker start-up included) are dropped.

Prints one JSON line. Examples::

    python benchmarks/bench_train.py                  # R-18, 112 px
    python benchmarks/bench_train.py --depth 50 --size 224 --batch 32
    python benchmarks/bench_train.py --smoke          # tiny
"""
import argparse
import copy
import json
import os.path as osp
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional, Sequence

import torch

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, HERE)

import bench_step  # noqa: E402  (a sibling script)

ARMS = ('simsiam_mm', 'mmpretrain', 'simsiam_mm_device')


def _set_crop(pipeline, size: int) -> None:
    """Set the output size of every crop step of a (nested) pipeline."""
    for step in pipeline:
        if step['type'] == 'RandomResizedCrop':
            step['scale'] = size
        elif step['type'] == 'SimSiamViews':
            step['size'] = size
        elif step['type'] == 'MultiView':
            for views in step['transforms']:
                _set_crop(views, size)


def _backbone_width(depth: int) -> int:
    return 512 if depth in (18, 34) else 2048


def _with_depth(model: dict, depth: int) -> dict:
    model = copy.deepcopy(model)
    model['backbone']['depth'] = depth
    model['neck']['in_channels'] = _backbone_width(depth)
    return model


def arm_cfg(args: argparse.Namespace, arm: str, workers: int) -> dict:
    """The full Runner config of one arm."""
    if arm == 'mmpretrain':
        parts = bench_step.mmpretrain_cfg()
        src = bench_step.load_mmpretrain_config()
        pipeline = copy.deepcopy(src.train_dataloader.dataset.pipeline)
        loader = src.train_dataloader.to_dict()
        parts['model']['data_preprocessor'] = parts.pop('data_preprocessor')
    else:
        parts = bench_step.simsiam_mm_cfg(
            ['channels_last'] if args.channels_last else [])
        src = bench_step.load_simsiam_mm_config()
        loader = src.train_dataloader.to_dict()
        if arm == 'simsiam_mm':  # the config's pipeline and preprocessor
            pipeline = copy.deepcopy(src.train_dataloader.dataset.pipeline)
        else:  # the views are drawn on the device
            side = args.device_aug_side
            pipeline = [
                dict(type='SafeLoadImageFromFile'),
                dict(type='Resize', scale=(side, side)),
                dict(type='PackInputs'),
            ]
            parts['model']['data_preprocessor'] = dict(
                type='SimSiamDeviceAugPreprocessor', size=args.size)
    _set_crop(pipeline, args.size)
    parts['model'] = _with_depth(parts['model'], args.depth)
    if args.bf16:
        parts['optim_wrapper'].update(
            bench_step.bf16_optim_wrapper(args.device))
    parts['optim_wrapper']['optimizer']['lr'] = 0.05 * args.batch / 256
    loader.update(
        batch_size=args.batch,
        num_workers=workers,
        persistent_workers=workers > 0,
        # steady state: mmengine's iteration loop sleeps 2 s whenever a
        # finite sampler runs out (an epoch end an epoch loop would not have)
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(
            type='CustomDataset',
            data_root=args.data_root,
            with_label=False,
            pipeline=pipeline))
    iters = args.warmup + args.iters
    return dict(
        **parts,
        train_dataloader=loader,
        **bench_step.runner_schedule(
            iters,
            args.device,
            mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0)))


def worker(args: argparse.Namespace) -> None:
    """Train one (arm, workers) pair here; print the logged times."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpretrain.utils import register_all_modules
    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    import simsiam_mm  # noqa: F401
    arm, workers = args.worker.split(':')
    cfg = arm_cfg(args, arm, int(workers))
    work_dir = tempfile.mkdtemp(prefix='bench_train_')
    try:
        runner = Runner.from_cfg(Config(dict(cfg, work_dir=work_dir)))
        if args.compile:  # forward + backward; see bench_step's options
            for name in ('backbone', 'neck', 'head'):
                getattr(runner.model, name).compile()
        runner.train()
        hub = runner.message_hub
        times = hub.get_scalar('train/time').data[0].tolist()
        data_times = hub.get_scalar('train/data_time').data[0].tolist()
        loss = float(hub.get_scalar('train/loss').current())
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(bench_step.RESULT + json.dumps(
        dict(
            arm=arm,
            workers=int(workers),
            time_s=times[args.warmup:],
            data_time_s=data_times[args.warmup:],
            loss=loss)))


def run_one(args: argparse.Namespace, arm: str, workers: int) -> dict:
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--worker', f'{arm}:{workers}'
    ]
    for key in ('size', 'batch', 'iters', 'warmup', 'depth', 'threads',
                'data_root', 'device_aug_side', 'device'):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    for flag in ('bf16', 'channels_last', 'compile'):
        if getattr(args, flag):
            cmd.append(f"--{flag.replace('_', '-')}")
    env = bench_step.worker_env(args.threads, args.device)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {args.run_timeout} s')
    return bench_step.parse_worker_output(proc)


def summarize(run: dict, batch: int) -> dict:
    if 'error' in run:
        return run
    times, data = run['time_s'], run['data_time_s']
    return dict(
        pairs_per_s=round(batch * len(times) / sum(times), 3),
        iter_time_s=round(statistics.median(times), 4),
        data_time_s=round(statistics.median(data), 4),
        data_share=round(sum(data) / sum(times), 3),
        final_loss=round(run['loss'], 4))


def median_round(results: list) -> dict:
    """The round with the median throughput (an error if all failed)."""
    good = sorted((r for r in results if 'error' not in r),
                  key=lambda r: r['pairs_per_s'])
    if not good:
        return results[0]
    out = dict(good[(len(good) - 1) // 2])
    if len(results) > 1:
        out['rounds_pairs_per_s'] = [r.get('pairs_per_s') for r in results]
    return out


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=112, help='view side')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--depth', type=int, default=18)
    parser.add_argument(
        '--threads', type=int, default=1, help='torch threads, main process')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='runs per (arm, workers); the median round counts')
    parser.add_argument(
        '--arms', nargs='+', default=['simsiam_mm', 'mmpretrain'])
    parser.add_argument('--n-images', type=int, default=96)
    parser.add_argument(
        '--data-root',
        help='folder of images to use instead of generated JPEGs')
    parser.add_argument(
        '--device-aug-side',
        type=int,
        default=256,
        help='fixed side the loader resizes to for simsiam_mm_device')
    parser.add_argument('--bf16', action='store_true')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='nn.Module.compile() of backbone, neck and head')
    parser.add_argument(
        '--device',
        choices=['auto', 'cpu', 'cuda'],
        default='auto',
        help='auto: cuda when available')
    parser.add_argument('--run-timeout', type=int, default=1800)
    parser.add_argument('--smoke', action='store_true')
    parser.add_argument('--out', help='also write the JSON to this file')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.smoke:
        args.size, args.batch, args.iters, args.warmup = 32, 2, 2, 1
        args.n_images, args.workers = 4, [0]
    for arm in args.arms:
        if arm not in ARMS:
            parser.error(f'unknown arm {arm!r}, expected one of {ARMS}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    start = time.perf_counter()
    tmp = None
    if args.data_root is None:
        from bench_pipeline import write_jpegs
        tmp = tempfile.mkdtemp(prefix='bench_train_jpegs_')
        write_jpegs(tmp, args.n_images)
        args.data_root = tmp
    rounds: Dict[str, Dict[int, list]] = {
        arm: {
            w: []
            for w in args.workers
        }
        for arm in args.arms
    }
    try:
        for _ in range(args.rounds):
            for workers in args.workers:
                for arm in args.arms:
                    rounds[arm][workers].append(
                        summarize(run_one(args, arm, workers), args.batch))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    runs = {
        arm: {
            w: median_round(r)
            for w, r in by_workers.items()
        }
        for arm, by_workers in rounds.items()
    }
    arms = {}
    for arm, by_workers in runs.items():
        good = {w: r for w, r in by_workers.items() if 'error' not in r}
        if not good:
            arms[arm] = dict(error=next(iter(by_workers.values()))['error'])
            continue
        best = max(good, key=lambda w: good[w]['pairs_per_s'])
        arms[arm] = dict(
            good[best],
            best_workers=best,
            by_workers={
                str(w): r
                for w, r in by_workers.items()
            })
    ratios = {}
    base = arms.get('mmpretrain', {}).get('pairs_per_s')
    for arm in ('simsiam_mm', 'simsiam_mm_device'):
        ours = arms.get(arm, {}).get('pairs_per_s')
        if ours and base:
            ratios[f'{arm}_vs_mmpretrain'] = round(ours / base, 3)
    speedup = ratios.get('simsiam_mm_vs_mmpretrain')
    report = dict(
        bench='train',
        machine=bench_step.machine(),
        settings=dict(
            size=args.size,
            batch=args.batch,
            depth=args.depth,
            iters=args.iters,
            warmup=args.warmup,
            threads=args.threads,
            workers=args.workers,
            rounds=args.rounds,
            n_images=args.n_images,
            device=args.device,
            bf16=args.bf16,
            channels_last=args.channels_last,
            compile=args.compile,
            smoke=args.smoke),
        arms=arms,
        ratios=ratios,
        target_1_3x=None if speedup is None else speedup >= 1.3,
        wall_s=round(time.perf_counter() - start, 1))
    bench_step.emit(report, args.out)
    return report


if __name__ == '__main__':
    main()
