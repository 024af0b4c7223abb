"""`make transfer-demo`: a SimSiam backbone handed to an MMDetection
detector, against the same detector from random init, on a CPU.

    python tools/transfer_demo.py [--work-dir DIR] [--seeds 0 1 2] ...

Each step is a command a user could type (printed with ``+``), run from the
current directory (``data/`` and ``work_dirs/`` are relative to it):

1. ``tools/prepare_demo_data.py``: the UCI digits of scikit-learn as
   ``data/digits`` (its ``train`` side is the unlabelled pretraining pool)
   and, with ``--detection``, the digit canvases of ``data/digits_det``
   (a small labelled ``train`` split, a ``val`` split made only of the
   ``val`` digits) in COCO format;
2. SimSiam pretraining on the pool (``--pretrain-config``), unless
   ``--checkpoint`` names one;
3. the supervised init (``--supervised-config``): a classifier trained on
   the digits of the labelled canvases only;
4. the detector (``--det-config``) per init and seed, fine-tuned by
   ``tools/train.py`` (mmdet's Runner) and scored by mmdet's ``CocoMetric``
   every ``val_interval`` iterations. The pretrained inits reach it
   through the environment variable ``SIMSIAM_CKPT``, read by the config's
   ``simsiam_mm.SimSiamPretrained`` initializer; random init is
   ``--cfg-options model.init_cfg=None``. ``--{simsiam,random,supervised}
   -options`` add options to the rows of one init: by default the SimSiam
   rows keep the checkpoint's BN statistics (the config's ``norm_eval``),
   the random and supervised rows train them (each init's better setting,
   docs/transfer_demo.md). Seeds go in as ``randomness.seed``. Random-init
   detectors need no checkpoint and run beside the pretraining
   (``--jobs``);
5. a table (box AP and AP50 of the last evaluation, per seed, mean and
   spread), the AP curves (``WORK_DIR/ap_curves.png``), everything in
   ``WORK_DIR/results.json``, and as the last line of output one JSON
   object: ``{"task": "digits-detection", "seeds": [...], "bbox_mAP":
   {init: [...]}, "bbox_mAP_50": {init: [...]}, "minutes": M}`` (AP in
   percent, one number per seed; ``minutes``: wall time of the whole
   command).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = 'configs/simsiam_r18-cifar_1xb64-coslr-20e_digits-16px.py'
SUPERVISED = ('configs/supervised_r18-cifar_1xb32-coslr-60e_digits-'
              'labelled-16px.py')
DETECTOR = ('configs/benchmarks/mmdet/'
            'faster-rcnn_r18-cifar-fpn_1xb8-200i_digits-det.py')
TASK = 'digits-detection'
METRICS = ('bbox_mAP', 'bbox_mAP_50')
INITS = ('simsiam', 'random', 'supervised')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='SimSiam pretraining -> MMDetection fine-tuning on '
        'digit canvases, against random (and supervised) init.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--work-dir',
        default='work_dirs/transfer_demo',
        help='folder of every run, the plot and results.json')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2],
        help='detector seeds (randomness.seed), the same for every init')
    parser.add_argument(
        '--pretrain-config', default=PRETRAIN, help='SimSiam config')
    parser.add_argument(
        '--checkpoint',
        default=None,
        help='use this SimSiam checkpoint instead of pretraining')
    parser.add_argument(
        '--supervised-config',
        default=SUPERVISED,
        help='classifier config of the supervised init; "none" to skip')
    parser.add_argument(
        '--det-config', default=DETECTOR, help='MMDetection config')
    parser.add_argument(
        '--pretrain-options',
        nargs='+',
        default=[],
        metavar='K=V',
        help='--cfg-options for the pretraining')
    parser.add_argument(
        '--classifier-options',
        nargs='+',
        default=[],
        metavar='K=V',
        help='--cfg-options for the supervised classifier')
    parser.add_argument(
        '--det-options',
        nargs='+',
        default=[],
        metavar='K=V',
        help='--cfg-options for every detector run')
    for init, default, why in (
        ('simsiam', [], 'the config keeps the checkpoint\'s BN statistics'),
        ('random', ['model.backbone.norm_eval=False'],
         'after model.init_cfg=None; a random init has no BN statistics to '
         'keep'),
        ('supervised', ['model.backbone.norm_eval=False'],
         'trained BN statistics: its better setting, see '
         'docs/transfer_demo.md'),
    ):
        parser.add_argument(
            f'--{init}-options',
            nargs='*',
            default=default,
            metavar='K=V',
            help=f'--cfg-options of the {init}-init detector rows only ({why})'
        )
    parser.add_argument(
        '--data-args',
        default='',
        metavar='"ARGS"',
        help='arguments of prepare_demo_data.py --detection, one string, '
        'e.g. --data-args "--train-images 50"')
    parser.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='trainings at a time (random-init detectors need no '
        'pretraining: they run beside it); the threads are split between '
        'them')
    parser.add_argument(
        '--threads',
        type=int,
        default=0,
        help='CPU threads in all (0: every core)')
    parser.add_argument(
        '--reuse',
        action='store_true',
        help='keep runs of WORK_DIR that finished with the same command '
        '(for searches; a timing needs a fresh WORK_DIR)')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error('--jobs must be >= 1')
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    return args


class Job:
    """One ``tools/train.py`` run; ``needs`` names the job whose checkpoint
    it starts from (its ``SIMSIAM_CKPT``)."""

    def __init__(self,
                 name: str,
                 cmd: List[str],
                 work_dir: str,
                 needs: Optional[str] = None,
                 checkpoint: Optional[str] = None) -> None:
        self.name = name
        self.cmd = cmd
        self.work_dir = work_dir
        self.needs = needs
        self.checkpoint = checkpoint  # set once ``needs`` is done
        self.proc: Optional[subprocess.Popen] = None
        self.output: Optional[str] = None  # its checkpoint, when done
        self.started = 0.0

    @property
    def log(self) -> str:
        return osp.join(self.work_dir, 'transfer_demo.log')

    @property
    def record(self) -> str:
        return osp.join(self.work_dir, 'transfer_demo_run.json')


def thread_env(threads: int, checkpoint: Optional[str]) -> dict:
    env = dict(os.environ)
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[key] = str(threads)
    env.pop('SIMSIAM_CKPT', None)
    if checkpoint:
        env['SIMSIAM_CKPT'] = checkpoint
    return env


def _shown(job: Job) -> str:
    prefix = f'SIMSIAM_CKPT={job.checkpoint} ' if job.checkpoint else ''
    return prefix + ' '.join(job.cmd) + f' > {job.log}'


def _same_run(job: Job) -> bool:
    if not osp.isfile(job.record):
        return False
    with open(job.record) as f:
        previous = json.load(f)
    return previous.get('cmd') == job.cmd and \
        previous.get('checkpoint') == job.checkpoint


def run_jobs(jobs: List[Job], n_jobs: int, threads: int, reuse: bool) -> None:
    """Run every job, ``n_jobs`` at a time with ``threads // n_jobs``
    threads each, a job once the one it ``needs`` is done; list order is
    the priority. A failure stops the others and raises with its log."""
    per_job = max(1, threads // n_jobs)
    by_name = {job.name: job for job in jobs}
    pending, running = list(jobs), []
    try:
        _schedule(pending, running, by_name, n_jobs, per_job, reuse)
    finally:
        for job in running:  # after a failure or Ctrl-C
            job.proc.kill()


def _schedule(pending: List[Job], running: List[Job], by_name: dict,
              n_jobs: int, per_job: int, reuse: bool) -> None:
    from _common import last_checkpoint
    while pending or running:
        for job in list(pending):
            if len(running) >= n_jobs:
                break
            if job.needs is not None:
                if by_name[job.needs].output is None:
                    continue
                job.checkpoint = by_name[job.needs].output
            pending.remove(job)
            if reuse and _same_run(job):
                job.output = last_checkpoint(job.work_dir)
                print(f'= {job.name}: reused {job.work_dir}', flush=True)
                continue
            os.makedirs(job.work_dir, exist_ok=True)
            print('+', _shown(job), flush=True)
            job.started = time.time()
            with open(job.log, 'w') as f:
                job.proc = subprocess.Popen(
                    job.cmd,
                    env=thread_env(per_job, job.checkpoint),
                    stdout=f,
                    stderr=subprocess.STDOUT)
            running.append(job)
        if pending and not running:
            missing = sorted({j.needs for j in pending})
            raise RuntimeError(f'jobs wait for {missing}, which never ran')
        time.sleep(0.2)
        for job in list(running):
            if job.proc.poll() is None:
                continue
            running.remove(job)
            if job.proc.returncode:
                with open(job.log) as f:
                    tail = ''.join(f.readlines()[-40:])
                raise RuntimeError(
                    f'{job.name} failed (exit {job.proc.returncode}); the '
                    f'end of {job.log}:\n{tail}')
            job.output = last_checkpoint(job.work_dir)
            with open(job.record, 'w') as f:
                json.dump(dict(cmd=job.cmd, checkpoint=job.checkpoint), f)
            print(
                f'= {job.name}: done in {time.time() - job.started:.0f} s',
                flush=True)


def config_path(path: str) -> str:
    """A config given relative to the repository also works from any
    directory."""
    if osp.exists(path) or osp.isabs(path):
        return path
    return osp.join(ROOT, path)


def train_cmd(config: str, work_dir: str, options: Sequence[str]) -> list:
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        config_path(config), '--work-dir', work_dir
    ]
    return cmd + (['--cfg-options', *options] if options else [])


def eval_iterations(train_cfg: dict) -> List[int]:
    """The iterations at which mmengine's ``IterBasedTrainLoop``
    validates: every ``val_interval`` from ``val_begin``, and the last."""
    last = int(train_cfg['max_iters'])
    every = int(train_cfg.get('val_interval', 1000))
    begin = int(train_cfg.get('val_begin', 1))
    steps = [i for i in range(every, last + 1, every) if i >= begin]
    return steps if steps and steps[-1] == last else steps + [last]


def val_rows(work_dir: str) -> List[dict]:
    """The CocoMetric rows of a detector run, with the iteration each was
    taken at (mmengine logs validation of an iteration-based loop with
    step 0), in percent."""
    import glob

    from _common import read_scalars
    from mmengine.config import Config
    rows = [r for r in read_scalars(work_dir) if 'coco/bbox_mAP' in r]
    dumped = glob.glob(osp.join(work_dir, '*.py'))  # the run's own config
    if not rows or len(dumped) != 1:
        raise RuntimeError(f'{work_dir}: no coco/bbox_mAP logged, or not '
                           'one config dumped')
    steps = eval_iterations(Config.fromfile(dumped[0]).train_cfg)
    if len(steps) != len(rows):
        raise RuntimeError(f'{work_dir}: {len(rows)} evaluations logged, '
                           f'the loop makes {len(steps)} ({steps})')
    return [
        dict(
            step=step,
            **{m: round(100 * float(r[f'coco/{m}']), 1)
               for m in METRICS}) for step, r in zip(steps, rows)
    ]


def summarise(curves: Dict[str, Dict[int, List[dict]]],
              seeds: Sequence[int]) -> dict:
    """Last-evaluation AP per init and seed, with mean and sample std."""
    import numpy as np
    out = {}
    for init, per_seed in curves.items():
        row = {}
        for m in METRICS:
            values = [round(per_seed[s][-1][m], 1) for s in seeds]
            row[m] = values
            row[m + '_mean'] = float(np.mean(values))
            row[m + '_std'] = float(np.std(values, ddof=1)) \
                if len(values) > 1 else 0.0
        out[init] = row
    return out


def plot(curves: Dict[str, Dict[int, List[dict]]], path: str,
         title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    colors = dict(simsiam='tab:red', random='tab:gray', supervised='tab:blue')
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, m, name in zip(axes, METRICS, ('box AP', 'box AP50')):
        for init, per_seed in curves.items():
            color = colors.get(init)
            for curve in per_seed.values():
                ax.plot([r['step'] for r in curve], [r[m] for r in curve],
                        color=color,
                        alpha=0.3,
                        lw=1)
            steps = [r['step'] for r in next(iter(per_seed.values()))]
            mean = np.mean([[r[m] for r in c] for c in per_seed.values()],
                           axis=0)
            ax.plot(
                steps,
                mean,
                color=color,
                lw=2,
                marker='o',
                label=f'{init} (mean of {len(per_seed)})')
        ax.set_xlabel('detector iteration')
        ax.set_ylabel(f'{name} (%)')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(summary: dict, seeds: Sequence[int]) -> List[str]:
    lines = [
        f"{'init':<11} {'box AP':>13} {'AP50':>13}   per seed "
        f'{seeds}: AP / AP50'
    ]
    for init, row in summary.items():
        per_seed = '  '.join(
            f'{a:.1f} / {b:.1f}'
            for a, b in zip(row['bbox_mAP'], row['bbox_mAP_50']))
        lines.append(f"{init:<11} {row['bbox_mAP_mean']:>6.1f} ± "
                     f"{row['bbox_mAP_std']:<4.1f} "
                     f"{row['bbox_mAP_50_mean']:>6.1f} ± "
                     f"{row['bbox_mAP_50_std']:<4.1f}   {per_seed}")
    if 'simsiam' in summary and 'random' in summary:
        gain = summary['simsiam']['bbox_mAP_mean'] - \
            summary['random']['bbox_mAP_mean']
        gain50 = summary['simsiam']['bbox_mAP_50_mean'] - \
            summary['random']['bbox_mAP_50_mean']
        lines.append(f'SimSiam - random: {gain:+.1f} box AP, '
                     f'{gain50:+.1f} AP50 (means over {len(seeds)} seeds)')
    return lines


def plan(args, work_dir: str) -> List[Job]:
    """The runs in priority order: pretraining first (the longest chain),
    the supervised classifier, then the detectors."""
    jobs, inits = [], {}
    if args.checkpoint:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'--checkpoint {args.checkpoint}: no such file')
        inits['simsiam'] = dict(checkpoint=osp.abspath(args.checkpoint))
    else:
        pre_dir = osp.join(work_dir, 'simsiam')
        jobs.append(
            Job(
                'simsiam pretraining',
                train_cmd(args.pretrain_config, pre_dir,
                          args.pretrain_options), pre_dir))
        inits['simsiam'] = dict(needs='simsiam pretraining')
    inits['random'] = {}
    if args.supervised_config.lower() != 'none':
        sup_dir = osp.join(work_dir, 'supervised')
        jobs.append(
            Job(
                'supervised classifier',
                train_cmd(args.supervised_config, sup_dir,
                          args.classifier_options), sup_dir))
        inits['supervised'] = dict(needs='supervised classifier')
    for init in ('random', 'simsiam', 'supervised'):
        if init not in inits:
            continue
        for seed in args.seeds:
            run_dir = osp.join(work_dir, 'det', f'{init}_seed{seed}')
            options = [f'randomness.seed={seed}', *args.det_options]
            if init == 'random':
                options.append('model.init_cfg=None')
            options += getattr(args, f'{init}_options')
            jobs.append(
                Job(f'{init} seed {seed}',
                    train_cmd(args.det_config, run_dir, options), run_dir,
                    **inits[init]))
    return jobs


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    import resource
    import shlex

    work_dir = args.work_dir
    os.makedirs(work_dir, exist_ok=True)
    prepare = [sys.executable, osp.join(ROOT, 'tools', 'prepare_demo_data.py')]
    for cmd in (prepare,
                prepare + ['--detection', *shlex.split(args.data_args)]):
        print('+', ' '.join(cmd), flush=True)
        subprocess.run(cmd, check=True)

    jobs = plan(args, work_dir)
    threads = args.threads or os.cpu_count() or 1
    run_jobs(jobs, args.jobs, threads, args.reuse)
    curves: Dict[str, Dict[int, List[dict]]] = {}
    checkpoints = {}
    for init in INITS:  # the table's order
        for job in jobs:
            if job.name.startswith(f'{init} seed '):
                seed = int(job.name.split()[-1])
                curves.setdefault(init, {})[seed] = val_rows(job.work_dir)
                checkpoints[init] = job.checkpoint
    summary = summarise(curves, args.seeds)
    minutes = (time.time() - start) / 60
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_minutes = (usage.ru_utime + usage.ru_stime) / 60
    png = osp.join(work_dir, 'ap_curves.png')
    plot(
        curves, png, 'Digits detection: Faster R-CNN FPN, CIFAR ResNet-18 '
        '(half width), by backbone init')
    lines = table(summary, args.seeds)
    lines += [
        f'wall time {minutes:.1f} min, CPU time {cpu_minutes:.1f} min '
        f'({threads} threads, {args.jobs} run(s) at a time)',
        f'AP curves: {png}'
    ]
    print('\nDigits detection, box AP (%) of the last evaluation '
          '(mmdet CocoMetric on the val canvases)')
    print('\n'.join('  ' + line for line in lines))
    result = dict(
        task=TASK,
        seeds=list(args.seeds),
        bbox_mAP={
            i: r['bbox_mAP']
            for i, r in summary.items()
        },
        bbox_mAP_50={
            i: r['bbox_mAP_50']
            for i, r in summary.items()
        },
        minutes=round(minutes, 1))
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(
            dict(
                result,
                summary=summary,
                curves=curves,
                checkpoints=checkpoints,
                cpu_minutes=round(cpu_minutes, 1),
                argv=sys.argv[1:] if argv is None else list(argv)),
            f,
            indent=1)
    print(json.dumps(result), flush=True)
    return result


if __name__ == '__main__':
    main()
