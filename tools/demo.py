"""The README's main command: SimSiam learns, shown in minutes on a CPU.

Prepares the UCI digits that ship inside scikit-learn, pretrains the demo
recipe, scores the trained backbone and the same network at random
initialisation with the weighted kNN, writes the curves and prints a table.

    python tools/demo.py [--config CONFIG] [--work-dir DIR]
"""
import json
import os.path as osp
import sys
import time
from typing import List

from _common import (DEMO, ROOT, last_checkpoint, make_parser, model_dim,
                     read_scalars, sh)


def knn(config: str, args: List[str], out: str) -> dict:
    sh([sys.executable, 'tools/knn_eval.py', config] + args + ['--out', out])
    with open(out) as f:
        return json.load(f)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument(
        '--config', default=DEMO, help='the pretraining config to run')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='where the checkpoints, kNN results and plots go (relative to '
        'the repository)')
    args = parser.parse_args()
    work_dir = osp.join(ROOT, args.work_dir)
    start = time.time()
    sh([sys.executable, 'tools/prepare_demo_data.py'])
    sh([sys.executable, 'tools/train.py', args.config, '--work-dir', work_dir])
    ckpt = last_checkpoint(work_dir)
    trained = knn(args.config, [ckpt], osp.join(work_dir, 'knn.json'))
    random = knn(args.config, ['--random-init'],
                 osp.join(work_dir, 'knn_random_init.json'))
    sh([sys.executable, 'tools/plot_run.py', work_dir])
    minutes = (time.time() - start) / 60
    dim = model_dim(args.config)
    rows = [r for r in read_scalars(work_dir) if 'loss' in r]
    table = [
        ('kNN top-1, trained (%)', top1(trained)),
        ('kNN top-1, random init (%)', top1(random)),
        ('loss, first -> last logged',
         f"{rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}"),
        ('collapse std x sqrt(d), last (1 = healthy, 0 = collapsed)',
         f"{rows[-1]['z_std'] * dim ** 0.5:.2f}"),
        ('effective rank of z, last (fraction of min(N, d))',
         f"{rows[-1].get('z_rank', float('nan')):.2f}"),
        ('wall time (min)', f'{minutes:.1f}'),
        ('checkpoint', osp.relpath(ckpt, ROOT)),
        ('plots', osp.relpath(osp.join(work_dir, 'plots'), ROOT)),
    ]
    width = max(len(k) for k, _ in table)
    print('\nSimSiam demo on the UCI digits (sklearn), 2-core CPU')
    for key, value in table:
        print(f'  {key:<{width}}  {value}')


def top1(result: dict) -> str:
    """'k=K: top-1' for each k evaluated."""
    res = result['results'] if 'results' in result else result
    return '  '.join(f"k={str(k).lstrip('k')}: {v['top1']:.1f}"
                     for k, v in res.items())


if __name__ == '__main__':
    main()
