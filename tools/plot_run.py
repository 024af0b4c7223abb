"""Curves of a training run from its mmengine scalars log.

    python tools/plot_run.py WORK_DIR [--out DIR] [--dim D]

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (the newest run; or
give the file itself) written by mmengine's ``LocalVisBackend`` and writes
PNGs to ``--out`` (default ``WORK_DIR/plots``): ``loss.png``,
``collapse.png`` (z_std with the paper's healthy level 1/sqrt(d), and the
effective rank of z when logged),
``knn.png`` (the kNN monitor's top-1 per k), ``lr.png`` (lr per parameter
group: the encoder's cosine and the predictor's constant lr) and
``curves.png`` with all four.
"""
import math
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from _common import find_scalars, make_parser, read_scalars

Series = Dict[str, Tuple[List[float], List[float]]]
# 'lr' is the first param group's (the encoder's), 'lr_<group>' the others
# (FixedLRHook logs 'lr_predictor'); 'base_lr' is not a group's lr
LR_KEY = re.compile(r'^lr($|_)')


def read_series(path: str) -> Series:
    """``{name: (steps, values)}`` of every numeric scalar of the run (or
    scalars file) ``path``."""
    series: Series = defaultdict(lambda: ([], []))
    for row in read_scalars(path):
        step = row.get('step', row.get('iter'))
        for name, value in row.items():
            if name in ('step', 'iter',
                        'epoch') or not isinstance(value, (int, float)):
                continue
            series[name][0].append(step)
            series[name][1].append(float(value))
    return dict(series)


def infer_dim(series: Series) -> Optional[int]:
    """d from ``z_std_x_sqrt_d / z_std`` when both were logged."""
    if 'z_std' not in series or 'z_std_x_sqrt_d' not in series:
        return None
    for std, ratio in zip(series['z_std'][1], series['z_std_x_sqrt_d'][1]):
        if std > 0 and ratio > 0:
            return round((ratio / std)**2)
    return None


def _panel_loss(ax, series: Series, dim: Optional[int]) -> bool:
    if 'loss' not in series:
        return False
    ax.plot(*series['loss'], label='loss')
    ax.axhline(-1, color='grey', ls=':', label='minimum (-1)')
    ax.set(title='SimSiam loss', xlabel='iteration', ylabel='loss')
    ax.legend()
    return True


def _panel_collapse(ax, series: Series, dim: Optional[int]) -> bool:
    if 'z_std' in series and dim:
        ax.plot(*series['z_std'], label='std of z/||z||')
        ax.axhline(
            1 / math.sqrt(dim),
            color='green',
            ls='--',
            label=f'1/sqrt(d), d={dim}')
        ax.set(ylabel='z_std')
    elif 'z_std_x_sqrt_d' in series:
        ax.plot(*series['z_std_x_sqrt_d'], label='std of z/||z|| x sqrt(d)')
        ax.axhline(1, color='green', ls='--', label='1/sqrt(d) level')
        ax.set(ylabel='z_std x sqrt(d)')
    else:
        return False
    ax.axhline(0, color='red', ls=':', label='collapsed')
    ax.set(title='Collapse monitor', xlabel='iteration')
    handles, labels = ax.get_legend_handles_labels()
    if 'z_rank' in series:  # the rank sees a collapse to +-v, z_std cannot
        twin = ax.twinx()
        twin.plot(
            *series['z_rank'], color='purple', label='effective rank of z')
        twin.set(ylabel='effective rank / min(N, d)', ylim=(0, 1.05))
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels)
    return True


def _panel_knn(ax, series: Series, dim: Optional[int]) -> bool:
    names = sorted((n for n in series if n.startswith('knn/top1')),
                   key=lambda n: int(n.rsplit('k', 1)[1]))
    for name in names:
        ax.plot(*series[name], marker='o', label=name.split('/')[1])
    ax.set(title='kNN monitor', xlabel='iteration', ylabel='top-1 (%)')
    if names:
        ax.legend()
    return bool(names)


def _panel_lr(ax, series: Series, dim: Optional[int]) -> bool:
    names = sorted(n for n in series if LR_KEY.search(n))
    for name in names:
        label = 'lr (first group: encoder)' if name == 'lr' else name
        ax.plot(*series[name], label=label)
    ax.set(title='Learning rate per group', xlabel='iteration', ylabel='lr')
    if names:
        ax.legend()
    return bool(names)


PANELS = dict(
    loss=_panel_loss, collapse=_panel_collapse, knn=_panel_knn, lr=_panel_lr)


def plot_run(path: str,
             out_dir: Optional[str] = None,
             dim: Optional[int] = None) -> Dict[str, str]:
    """Write the PNGs; returns ``{panel: png path}`` of those with data."""
    import matplotlib
    matplotlib.use('Agg')  # files only, no display
    import matplotlib.pyplot as plt
    scalars = find_scalars(path)
    series = read_series(scalars)
    dim = dim or infer_dim(series)
    if out_dir is None:
        base = path if osp.isdir(path) else osp.dirname(scalars)
        out_dir = osp.join(base, 'plots')
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    fig_all, axes = plt.subplots(2, 2, figsize=(12, 8))
    for (name, draw), ax_all in zip(PANELS.items(), axes.flat):
        fig, ax = plt.subplots(figsize=(6, 4))
        if draw(ax, series, dim):
            draw(ax_all, series, dim)
            fig.tight_layout()
            written[name] = osp.join(out_dir, f'{name}.png')
            fig.savefig(written[name], dpi=100)
        else:
            ax_all.set_title(f'{name}: not logged')
            ax_all.axis('off')
        plt.close(fig)
    run = osp.dirname(osp.dirname(scalars))  # WORK_DIR/<timestamp>
    fig_all.suptitle(f'{osp.basename(osp.dirname(run))} / {osp.basename(run)}')
    fig_all.tight_layout()
    written['curves'] = osp.join(out_dir, 'curves.png')
    fig_all.savefig(written['curves'], dpi=100)
    plt.close(fig_all)
    return written


def main(argv=None) -> Dict[str, str]:
    parser = make_parser(__doc__)
    parser.add_argument('work_dir', help='a run directory or scalars.json')
    parser.add_argument(
        '--out', help='output folder (default: WORK_DIR/plots)')
    parser.add_argument(
        '--dim', type=int, help='d (default: read from the logged scalars)')
    args = parser.parse_args(argv)
    written = plot_run(args.work_dir, args.out, args.dim)
    missing = sorted(set(PANELS) - set(written))
    for name, png in written.items():
        print(f'{name:9s} {png}')
    if missing:
        print(f'not logged in this run: {", ".join(missing)}')
    return written


if __name__ == '__main__':
    main()
