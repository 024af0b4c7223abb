"""Run the paper's key ablations at demo scale and write docs/ablations.md.

Every run uses the demo recipe (``configs/ablations/*`` inherit
``configs/simsiam_r18-cifar_1xb64_digits-demo.py``) with its cosine
schedule stretched to ``--epochs`` (default 20: 440 iterations, about 6
minutes a run on 2 cores; at the demo's own 5 epochs the rows barely
separate); each is then scored with the weighted kNN of
``tools/knn_eval.py``. Output: a markdown table (final loss, final
std x sqrt(d), final effective rank, kNN top-1) next to the paper's
numbers, and a PNG of the std and effective-rank curves. Each run's
numbers are saved in its work_dir, so a partial rerun keeps the others;
hand-written notes under the report's notes marker are kept.

    python tools/run_ablations.py [--only default no-stopgrad ...]
    python tools/run_ablations.py --epochs 5 --work-root work_dirs/abl_5e \
        --out docs/ablations_5e.md
    python tools/run_ablations.py --report-only   # table from saved runs
"""
import json
import os
import os.path as osp
import sys
import time
from math import nan
from typing import Dict, List, Optional

from _common import (DEMO, ROOT, last_checkpoint, make_parser, model_dim,
                     read_scalars, sh)

EPOCHS = 20  # the budget of every run: 4x the demo's 5 epochs
RESULT = 'ablation.json'  # each run's numbers, in its work_dir
# what follows this line in the report is kept when the table is rewritten
NOTES = '<!-- notes below are kept by tools/run_ablations.py -->'

# name -> (config, the paper's result on ImageNet, 100 ep linear top-1)
RUNS = {
    'default': (DEMO, '68.1 (with stop-grad, Fig. 2)'),
    'no-stopgrad': ('configs/ablations/simsiam_no-stopgrad_digits.py',
                    '0.1: collapses (Fig. 2)'),
    'no-predictor': ('configs/ablations/simsiam_no-predictor_digits.py',
                     '0.1: collapses (Table 1a)'),
    'predictor-frozen':
    ('configs/ablations/simsiam_predictor-frozen_digits.py',
     '1.5: does not converge (Table 1b)'),
    'asymmetric':
    ('configs/ablations/simsiam_asymmetric_digits.py', '64.8 (Sec. 4.6)'),
    'bn-none':
    ('configs/ablations/simsiam_bn-none_digits.py', '34.6 (Table 3a)'),
}


def run_one(name: str, config: str, out_root: str,
            epochs: Optional[int]) -> Dict[str, float]:
    work_dir = osp.join(out_root, name)
    start = time.time()
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
    if epochs:  # the whole cosine schedule stretched to `epochs`
        cmd += [
            '--cfg-options', f'train_cfg.max_epochs={epochs}',
            f'param_scheduler.0.T_max={epochs}',
            f'param_scheduler.0.end={epochs}'
        ]
    sh(cmd)
    minutes = (time.time() - start) / 60
    knn_json = osp.join(work_dir, 'knn.json')
    sh([
        sys.executable, 'tools/knn_eval.py', config,
        last_checkpoint(work_dir), '--out', knn_json
    ])
    with open(knn_json) as f:
        knn = json.load(f)
    logged = read_scalars(work_dir)
    rows = [r for r in logged if 'z_std' in r]
    dim = rows[-1].get('dim') or model_dim(config)
    result = dict(
        loss=rows[-1]['loss'],
        std_sqrt_d=rows[-1]['z_std'] * dim**0.5,
        rank=rows[-1].get('z_rank', float('nan')),
        knn_top1=_best_top1(knn),
        knn=_top1_per_k(knn),
        minutes=minutes,
        iters=max(r['step'] for r in logged),
        epochs=epochs,
        curve=[(r['step'], r['z_std'] * dim**0.5, r.get('z_rank'))
               for r in rows])
    with open(osp.join(work_dir, RESULT), 'w') as f:
        json.dump(result, f)
    return result


def _top1_per_k(knn: dict) -> Dict[str, float]:
    results = knn['results'] if 'results' in knn else knn
    return {str(k).lstrip('k'): float(v['top1']) for k, v in results.items()}


def _best_top1(knn: dict) -> float:
    """top-1 of the largest k evaluated (the paper's k = 200 convention)."""
    results = knn['results'] if 'results' in knn else knn
    ks = sorted(results, key=lambda k: int(str(k).lstrip('k')))
    return float(results[ks[-1]]['top1'])


def write_report(results: Dict[str, dict], out_md: str, out_png: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_std, ax_rank) = plt.subplots(1, 2, figsize=(10, 4))
    for name, res in results.items():
        steps = [c[0] for c in res['curve']]
        ax_std.plot(steps, [c[1] for c in res['curve']], label=name)
        ranks = [c[2] if len(c) > 2 else None for c in res['curve']]
        if all(r is not None for r in ranks):
            ax_rank.plot(steps, ranks, label=name)
    ax_std.axhline(1.0, color='gray', ls='--', lw=0.8, label='1/sqrt(d)')
    ax_std.set_ylabel('std of z/||z|| x sqrt(d)')
    ax_rank.set_ylabel('effective rank of z / min(N, d)')
    for ax in (ax_std, ax_rank):
        ax.set_xlabel('iteration')
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    iters = sorted({res.get('iters') for res in results.values()} - {None})
    epochs = sorted({res.get('epochs') for res in results.values()} - {None})
    command = '`make ablations` (`python tools/run_ablations.py`)'
    if epochs and epochs != [EPOCHS]:
        command = ('`python tools/run_ablations.py --epochs '
                   f'{",".join(map(str, epochs))}`')
    lines = [
        '# SimSiam ablations at demo scale', '',
        f'Produced by {command}: each row trains the demo recipe (its '
        'cosine schedule stretched to the budget) with one switch changed, '
        'for the same budget '
        f'({", ".join(map(str, iters))} iterations of batch 64), '
        'on 2 CPU cores, then scores the backbone with the weighted kNN of '
        '`tools/knn_eval.py` on the digits val split. The last column is '
        'the paper\'s ImageNet linear top-1 (100 epochs).', '',
        '| run | final loss | final std x sqrt(d) | final eff. rank '
        '| kNN top-1, k=20 (%) | kNN top-1, k=200 (%) | minutes | paper |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for name, res in results.items():
        k20 = res.get('knn', {}).get('20', nan)
        lines.append(f"| {name} | {res['loss']:.3f} | "
                     f"{res['std_sqrt_d']:.2f} | {res.get('rank', nan):.3f} "
                     f"| {k20:.1f} | {res['knn_top1']:.1f} | "
                     f"{res['minutes']:.1f} | {RUNS[name][1]} |")
    lines += [
        '', f'![collapse monitors]({osp.basename(out_png)})', '',
        'std x sqrt(d) (Fig. 2 of the paper) is 1 for a healthy run and 0 '
        'for a collapse to one vector; the effective rank (`z_rank`, '
        '`simsiam_mm.models.simsiam.effective_rank`) is the fraction of '
        'the min(N, d) directions the batch of z/||z|| spreads over, and '
        'also falls for a collapse to +-v, which the projector\'s output '
        'BN leaves at std x sqrt(d) = 1.', ''
    ]
    notes = ''
    if osp.isfile(out_md):
        with open(out_md) as f:
            old = f.read()
        if NOTES in old:
            notes = old[old.index(NOTES):]
    with open(out_md, 'w') as f:
        f.write('\n'.join(lines) + '\n' + (notes or NOTES + '\n'))


def load_results(names: List[str], out_root: str) -> Dict[str, dict]:
    """The saved results of earlier runs, so a partial sweep keeps them."""
    results = {}
    for name in names:
        path = osp.join(out_root, name, RESULT)
        if osp.isfile(path):
            with open(path) as f:
                results[name] = json.load(f)
    return results


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    parser = make_parser(__doc__)
    parser.add_argument(
        '--only',
        nargs='+',
        choices=sorted(RUNS),
        metavar='RUN',
        help=f'run only these of {", ".join(RUNS)} (default: all)')
    parser.add_argument(
        '--epochs',
        type=int,
        default=EPOCHS,
        help='train every run this many epochs, the demo\'s cosine '
        f'schedule stretched to it (default: {EPOCHS}, 440 iterations, where '
        'the contrast is clear; the demo itself runs 5); give each budget '
        'its own --work-root and --out')
    parser.add_argument(
        '--work-root',
        default='work_dirs/ablations',
        help='one work_dir per run below this folder (relative to the '
        'repository)')
    parser.add_argument(
        '--out',
        default='docs/ablations.md',
        help='the markdown report; the plot goes next to it as *_std.png')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='rewrite the report from the runs saved under --work-root')
    args = parser.parse_args(argv)
    out_md = osp.join(ROOT, args.out)
    out_png = out_md.replace('.md', '_std.png')
    out_root = osp.join(ROOT, args.work_root)
    os.makedirs(osp.dirname(out_md), exist_ok=True)
    # every row the work root holds, in RUNS order, the new ones replacing
    results = load_results(list(RUNS), out_root)
    if not args.report_only:
        sh([sys.executable, 'tools/prepare_demo_data.py'])
        for name in args.only or list(RUNS):
            res = run_one(name, RUNS[name][0], out_root, args.epochs)
            results[name] = res
            summary = {k: v for k, v in res.items() if k != 'curve'}
            print(name, json.dumps(summary), flush=True)
            # rewritten after every run, so an interrupted sweep keeps rows
            results = {n: results[n] for n in RUNS if n in results}
            write_report(results, out_md, out_png)
    if not results:
        raise SystemExit(f'no saved runs under {out_root}')
    write_report({n: results[n]
                  for n in RUNS if n in results}, out_md, out_png)
    print(f'wrote {out_md}')
    return results


if __name__ == '__main__':
    main()
