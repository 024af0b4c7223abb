"""Run the paper's key ablations at demo scale and write docs/ablations.md.

Every run uses the demo recipe and budget (``configs/ablations/*`` inherit
``configs/simsiam_r18-cifar_1xb64_digits-demo.py``); each is then scored
with the weighted kNN of ``tools/knn_eval.py``. Output: a markdown table
(final loss, final std x sqrt(d), kNN top-1) next to the paper's numbers,
and a PNG of the collapse-std curves.

    python tools/run_ablations.py [--only default no-stopgrad ...]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List

from simsiam_mm.utils.logs import last_checkpoint, read_scalars

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = 'configs/simsiam_r18-cifar_1xb64_digits-demo.py'

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


def sh(cmd: List[str]) -> None:
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def run_one(name: str, config: str, out_root: str) -> Dict[str, float]:
    work_dir = osp.join(out_root, name)
    start = time.time()
    sh([sys.executable, 'tools/train.py', config, '--work-dir', work_dir])
    minutes = (time.time() - start) / 60
    knn_json = osp.join(work_dir, 'knn.json')
    sh([
        sys.executable, 'tools/knn_eval.py', config,
        last_checkpoint(work_dir), '--out', knn_json
    ])
    with open(knn_json) as f:
        knn = json.load(f)
    rows = [r for r in read_scalars(work_dir) if 'z_std' in r]
    dim = rows[-1].get('dim') or _dim_of(config)
    return dict(
        loss=rows[-1]['loss'],
        std_sqrt_d=rows[-1]['z_std'] * dim**0.5,
        knn_top1=_best_top1(knn),
        minutes=minutes,
        curve=[(r['step'], r['z_std'] * dim**0.5) for r in rows])


def _dim_of(config: str) -> int:
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, config)).model.neck.out_channels


def _best_top1(knn: dict) -> float:
    """top-1 of the largest k evaluated (the paper's k = 200 convention)."""
    results = knn['results'] if 'results' in knn else knn
    ks = sorted(results, key=lambda k: int(str(k).lstrip('k')))
    return float(results[ks[-1]]['top1'])


def write_report(results: Dict[str, dict], out_md: str, out_png: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, res in results.items():
        steps, vals = zip(*res['curve'])
        ax.plot(steps, vals, label=name)
    ax.axhline(1.0, color='gray', ls='--', lw=0.8, label='1/sqrt(d)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('std of z/||z|| x sqrt(d)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    lines = [
        '# SimSiam ablations at demo scale', '',
        'Produced by `make ablations` (`python tools/run_ablations.py`): '
        'each row trains the demo recipe with one switch changed, for the '
        'same budget, on 2 CPU cores, then scores the backbone with the '
        'weighted kNN of `tools/knn_eval.py` on the digits val split. The '
        'last column is the paper\'s ImageNet linear top-1 (100 epochs).', '',
        '| run | final loss | final std x sqrt(d) | kNN top-1, k=200 (%) | '
        'minutes | paper |', '|---|---|---|---|---|---|'
    ]
    for name, res in results.items():
        lines.append(f"| {name} | {res['loss']:.3f} | "
                     f"{res['std_sqrt_d']:.2f} | {res['knn_top1']:.1f} | "
                     f"{res['minutes']:.1f} | {RUNS[name][1]} |")
    lines += [
        '', f'![collapse std curves]({osp.basename(out_png)})', '',
        'std x sqrt(d) near 1 is what a healthy run shows; near 0 is '
        'collapse (Fig. 2 of the paper).', ''
    ]
    with open(out_md, 'w') as f:
        f.write('\n'.join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', nargs='+', choices=sorted(RUNS))
    parser.add_argument('--work-root', default='work_dirs/ablations')
    parser.add_argument('--out', default='docs/ablations.md')
    args = parser.parse_args()
    sh([sys.executable, 'tools/prepare_demo_data.py'])
    out_md = osp.join(ROOT, args.out)
    os.makedirs(osp.dirname(out_md), exist_ok=True)
    results = {}
    for name in args.only or list(RUNS):
        results[name] = run_one(name, RUNS[name][0],
                                osp.join(ROOT, args.work_root))
        summary = {k: v for k, v in results[name].items() if k != 'curve'}
        print(name, json.dumps(summary), flush=True)
        # rewritten after every run, so an interrupted sweep keeps its rows
        write_report(results, out_md, out_md.replace('.md', '_std.png'))
    print(f'wrote {out_md}')


if __name__ == '__main__':
    main()
