"""Train with any mmengine config: simsiam_mm's, mmpretrain's linear
evaluation, mmdet's detection fine-tuning.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi] [--trust-checkpoint PATH ...]
        [--tensorboard]

Importing simsiam_mm activates its registry scope and the safe checkpoint
loader; the config's ``default_scope`` decides where its types are looked
up. Several processes: ``tools/dist_train.sh`` (torchrun) or
``tools/slurm_train.sh``. See the README, "Training".
"""
import argparse
import os
import sys

from mmengine.config import DictAction

import simsiam_mm  # noqa: F401  (registry scope + safe checkpoint loader)
from simsiam_mm.datasets import DataNotFoundError, check_train_data
from simsiam_mm.engine import runtime
from simsiam_mm.engine.config_check import ConfigError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a model from an mmengine config.')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--work-dir',
        help='folder for logs and checkpoints (default: the config\'s '
        'work_dir, else work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='auto|PATH',
        help='resume from PATH, or (alone or "auto") from the newest '
        'complete checkpoint of the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: bf16 where supported, fp16 with dynamic '
        'loss scaling on older GPUs, bf16 autocast on CPU')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (GPUs x batch per GPU) / '
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=16')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='how the processes were started (set by dist_train.sh and '
        'slurm_train.sh)')
    parser.add_argument(
        '--trust-checkpoint',
        nargs='+',
        action='extend',
        default=[],
        metavar='PATH',
        help='load these legacy checkpoints with full unpickling (only '
        'files you trust)')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (work_dir/<time>/vis_data)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        cfg = runtime.load_config(args.config, args.cfg_options)
        runtime.apply_train_args(
            cfg,
            args.config,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            auto_scale_lr=args.auto_scale_lr,
            launcher=args.launcher,
            trusted=args.trust_checkpoint,
            tensorboard=args.tensorboard)
        check_train_data(cfg)
        runtime.run(cfg, 'train')
    except ConfigError as err:
        sys.exit(f'config error in {args.config}: {err}')
    except DataNotFoundError as err:
        sys.exit(f'data error in {args.config}: {err}')


if __name__ == '__main__':
    main()
