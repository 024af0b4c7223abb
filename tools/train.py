"""Train with any mmengine config: simsiam_mm's, mmpretrain's linear
evaluation, mmdet's detection fine-tuning.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi] [--trust-checkpoint PATH ...]
        [--tensorboard]

Importing simsiam_mm activates its registry scope and the safe checkpoint
loader; the config's ``default_scope`` decides where its types are looked
up. Several processes: ``tools/dist_train.sh`` (torchrun) or
``tools/slurm_train.sh``. See docs/training.md.
"""
import argparse
import sys

import _common


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.make_parser(__doc__)
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
        'complete checkpoint of the work_dir (default: start afresh)')
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
    _common.add_cfg_options(parser, 'train_dataloader.batch_size=16')
    _common.add_launch_args(parser)
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (work_dir/<time>/vis_data)')
    return _common.parse_launch_args(parser, argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registry scope + safe checkpoint loader)
    from simsiam_mm.datasets import DataNotFoundError, check_train_data
    from simsiam_mm.engine import runtime
    from simsiam_mm.engine.config_check import ConfigError
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
