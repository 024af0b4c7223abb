"""Test (evaluate) a checkpoint with an mmengine config that has a test
dataloader and evaluator: a linear-evaluation or detection config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
        [--trust-checkpoint PATH ...]

Pretraining configs have no test set: score a pretrained backbone with the
kNN or linear benchmarks instead.
"""
import argparse
import os.path as osp
import sys

from _common import (add_cfg_options, add_launch_args, make_parser,
                     parse_launch_args)


def parse_args(argv=None) -> argparse.Namespace:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='folder for the logs (default: the config\'s work_dir, else '
        'work_dirs/<config name>)')
    add_cfg_options(parser, 'test_dataloader.batch_size=16')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registry scope + safe checkpoint loader)
    from simsiam_mm import checkpoint as safe_checkpoint
    from simsiam_mm.engine import runtime
    from simsiam_mm.engine.config_check import ConfigError
    try:
        cfg = runtime.load_config(args.config, args.cfg_options)
        missing = [
            k for k in ('test_dataloader', 'test_cfg', 'test_evaluator')
            if not cfg.get(k)
        ]
        if missing:
            sys.exit(f'{args.config} has no {", ".join(missing)}: '
                     'tools/test.py evaluates linear-evaluation and detection '
                     'configs. Score a pretraining checkpoint with the kNN or '
                     'linear benchmarks.')
        cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
            'work_dirs',
            osp.splitext(osp.basename(args.config))[0])
        cfg.launcher = args.launcher
        cfg.load_from = args.checkpoint
        safe_checkpoint.trust(args.trust_checkpoint)  # never from a config
        runtime.run(cfg, 'test')
    except ConfigError as err:
        sys.exit(f'config error in {args.config}: {err}')


if __name__ == '__main__':
    main()
