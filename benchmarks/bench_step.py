"""Time one SimSiam training step, side by side, on identical work.

One step is what the paper's Algorithm 1 does per batch: the encoder and
predictor on each of the two views (one pass per view, so BatchNorm sees
each view alone), the symmetric loss, backward, and an SGD step with
momentum and weight decay. The model is ResNet-50 with the paper's heads
(projector 2048-2048-2048, predictor 2048-512-2048), fp32, in three arms:

* ``simsiam_mm``: this package's ``SimSiam`` from
  ``configs/simsiam_r50_8xb32.py`` (model ``_base_/models/simsiam_r50.py``,
  SyncBN -> BN), trained by an mmengine ``Runner`` with that config's
  optim wrapper (``SimSiamOptimWrapperConstructor``) and per-iteration
  hooks (``FixedLRHook``, ``NaNGuardHook``, ``CollapseMonitorHook``).
* ``mmpretrain``: mmpretrain's ``SimSiam`` from its own config
  ``simsiam_resnet50_8xb32-coslr-100e_in1k.py`` (SyncBN -> BN), its
  ``paramwise_cfg`` and ``SimSiamHook``, through a ``Runner``.
* ``torch``: a bare PyTorch loop over ``torchvision.models.resnet50`` whose
  ``fc`` is replaced by the projector, the design of the authors'
  repository; the heads are written out below.

Every arm reads the same synthetic batches, ready on the device, through a
``DataLoader`` (no workers) and runs in its own subprocess with the same
number of threads. The time of an iteration is the interval between
successive starts of iterations (a ``Runner`` hook of the highest priority,
or the top of the bare loop), so the runner's own work (hooks, logging, the
lr schedule, loss parsing) is inside it; warm-up iterations are dropped.
Reported: the median over rounds of the per-round medians, in wall and in
CPU seconds. Two schedules interleave the arms:

* ``lockstep`` (default on CPUs): all arm processes are started and built,
  then take turns of ``iters / rounds`` steps each, the order rotating
  every round; a process waits, unclocked, while the others run. Load from
  other jobs on a shared machine then falls on every arm alike.
* ``process`` (default on GPUs, one model in memory at a time): a fresh
  process per arm and round runs to completion, arms in rotating order.

Speed options are extra arms, interleaved with the others: ``--options
bf16+channels_last fused`` adds ``simsiam_mm:<opts>`` and ``torch:<opts>``
(``--option-arms``), or name arms directly (``--arms simsiam_mm
simsiam_mm:fused``). Join options with ``+``:

* ``channels_last``: channels-last memory format of the backbone
  (``SimSiam(channels_last=True)``).
* ``bf16``: bfloat16 autocast of forward and loss; in the Runner the optim
  wrapper ``tools/train.py --amp`` picks (``CPUAmpOptimWrapper`` on CPUs).
* ``fused``: ``SGD(fused=True)``, one fused update of all parameters
  instead of a Python loop over them (CPU and GPU).
* ``compile``: ``torch.compile`` through the Runner's ``compile`` config
  key, which compiles the whole ``train_step``, optimizer step included.
* ``compile_modules``: ``nn.Module.compile()`` of the backbone, projector
  and predictor, i.e. forward and backward only.

In the bare loop both compile options mean ``torch.compile(model)``.

Prints one JSON line: per-arm median seconds per step, spread, pairs/s and
the ratios. Examples::

    python benchmarks/bench_step.py                   # 112 px, batch 8
    python benchmarks/bench_step.py --size 224 --batch 32
    python benchmarks/bench_step.py --options bf16+channels_last fused
    python benchmarks/bench_step.py --smoke           # tiny
"""
import argparse
import json
import math
import os
import os.path as osp
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAIN_ARMS = ('simsiam_mm', 'mmpretrain', 'torch')
OPTIONS = ('channels_last', 'bf16', 'compile', 'compile_modules', 'fused')
MMPRETRAIN_CFG = 'simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'
SIMSIAM_MM_CFG = 'configs/simsiam_r50_8xb32.py'
EVALUATION_HOOKS = ('KNNMonitorHook', )
LR = 0.05  # the paper's base lr; x batch / 256 as auto_scale_lr would
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
#: Forward + backward of one image pair through ResNet-50 + heads at 224 px
#: (3 x 2 views x 4.1 GMAC x 2): the number the issue uses for MFU.
GFLOP_PER_PAIR_224 = 49.3


def parse_arm(arm: str) -> Tuple[str, List[str]]:
    """``'simsiam_mm:bf16+channels_last'`` -> ``('simsiam_mm', [...])``."""
    base, _, opts = arm.partition(':')
    options = [o for o in opts.split('+') if o]
    if base not in MAIN_ARMS:
        raise ValueError(f'unknown arm {base!r}, expected one of {MAIN_ARMS}')
    for option in options:
        if option not in OPTIONS:
            raise ValueError(
                f'unknown option {option!r}, expected one of {OPTIONS}')
    if base == 'mmpretrain' and options:
        raise ValueError('speed options are measured on simsiam_mm and torch')
    return base, options


# --------------------------------------------------------------------------
# Data: the same synthetic two-view batches for every arm.
# --------------------------------------------------------------------------
class SyntheticBatches(torch.utils.data.Dataset):
    """``length`` ready two-view batches, cycled from a pool of two.

    Each item is a whole batch as the collate function of a real loader
    would hand it over, ``dict(inputs=[view1, view2], data_samples=[...])``
    with ``batch x 3 x size x size`` float32 views, already on the training
    device: the step is timed without data loading, collation or
    host-to-device copies (the end-to-end benchmark has those).

    Args:
        length (int): Number of batches.
        batch (int): Images per view.
        size (int): Side of a view in pixels.
        device (str): Where the views live.
        with_data_samples (bool): Add mmpretrain ``DataSample`` objects
            (the Runner arms' preprocessors expect them). Defaults to True.
    """

    def __init__(self,
                 length: int,
                 batch: int,
                 size: int,
                 device: str,
                 with_data_samples: bool = True) -> None:
        gen = torch.Generator().manual_seed(0)
        self.pool = []
        for _ in range(2):
            views = torch.randn(2, batch, 3, size, size, generator=gen)
            item = dict(inputs=list(views.to(device).unbind(0)))
            if with_data_samples:
                from mmpretrain.structures import DataSample
                item['data_samples'] = [DataSample() for _ in range(batch)]
            self.pool.append(item)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> dict:
        item = self.pool[idx % len(self.pool)]
        return dict(item, inputs=list(item['inputs']))


def _only(items: List[dict]) -> dict:
    """Collate a "batch" of one ready batch (mmengine wants a batch
    sampler, so ``batch_size=None`` is not an option)."""
    return items[0]


def build_loader(args: argparse.Namespace,
                 runner_arm: bool) -> torch.utils.data.DataLoader:
    """The batches of one worker: warm-up + measured + 1 iterations."""
    iters = args.warmup + args.iters + 1
    dataset = SyntheticBatches(iters, args.batch, args.size, args.device,
                               runner_arm)
    return torch.utils.data.DataLoader(
        dataset, batch_size=1, shuffle=False, collate_fn=_only)


# --------------------------------------------------------------------------
# Arm 3: bare PyTorch, the authors' design (torchvision ResNet-50 whose fc
# becomes the projector; a separate predictor).
# --------------------------------------------------------------------------
def paper_projector(width: int = 2048, dim: int = 2048) -> nn.Sequential:
    """3 fc layers, BN on each, ReLU on the first two, last BN w/o affine."""
    return nn.Sequential(
        nn.Linear(width, width, bias=False),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
        nn.Linear(width, width, bias=False),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
        nn.Linear(width, dim, bias=False),
        nn.BatchNorm1d(dim, affine=False),
    )


def paper_predictor(dim: int = 2048, hidden: int = 512) -> nn.Sequential:
    """The d -> d/4 -> d bottleneck; no BN or ReLU on the output fc."""
    return nn.Sequential(
        nn.Linear(dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, dim),
    )


class PaperSimSiam(nn.Module):
    """Encoder f (ResNet-50 with the projector as its fc) and predictor h.

    Args:
        channels_last (bool): Run the encoder in channels-last memory
            format. Defaults to False.
    """

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()
        import torchvision
        self.encoder = torchvision.models.resnet50(zero_init_residual=True)
        self.encoder.fc = paper_projector(self.encoder.fc.in_features)
        self.predictor = paper_predictor()
        self.channels_last = channels_last
        if channels_last:
            self.encoder.to(memory_format=torch.channels_last)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x1 = x1.contiguous(memory_format=torch.channels_last)
            x2 = x2.contiguous(memory_format=torch.channels_last)
        z1, z2 = self.encoder(x1), self.encoder(x2)  # N x d, one pass each
        p1, p2 = self.predictor(z1), self.predictor(z2)
        cos = nn.functional.cosine_similarity
        return -0.5 * (
            cos(p1, z2.detach()).mean() + cos(p2, z1.detach()).mean())


def _now() -> Tuple[float, float]:
    """Wall clock and this process's CPU time (all its threads)."""
    return time.perf_counter(), time.process_time()


WAIT = '@@bench_step wait'
RESULT = '@@bench_step result '


class StepClock:
    """Durations of iterations, from the start of one to the start of the
    next, as (wall, CPU) seconds.

    In lock-step mode the clock pauses at the start of an iteration until
    the driver grants more steps (it prints :data:`WAIT` and reads the
    number from stdin); the pause is not counted.

    Args:
        lockstep (bool): Pause for the driver.
    """

    def __init__(self, lockstep: bool) -> None:
        self.lockstep = lockstep
        self.granted = 0
        self.last: Optional[Tuple[float, float]] = None
        self.steps: List[Tuple[float, float]] = []

    def tick(self) -> None:
        """Call at the start of every iteration."""
        now = _now()
        if self.last is not None:
            self.steps.append((now[0] - self.last[0], now[1] - self.last[1]))
        if self.lockstep and self.granted <= 0:
            print(WAIT, flush=True)
            line = sys.stdin.readline()
            if not line:
                raise SystemExit('bench_step: the driver went away')
            self.granted = int(line)
            now = _now()
        self.granted -= 1
        self.last = now


def run_torch(args: argparse.Namespace, options: Sequence[str],
              clock: StepClock) -> float:
    """The bare loop; returns the last loss."""
    device = torch.device(args.device)
    model = PaperSimSiam(channels_last='channels_last' in options)
    model.to(device).train()
    lr = LR * args.batch / 256
    optimizer = torch.optim.SGD([
        dict(params=model.encoder.parameters()),
        dict(params=model.predictor.parameters(), fixed_lr=True),
    ],
                                lr=lr,
                                momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY,
                                fused='fused' in options or None)
    compiled = {'compile', 'compile_modules'} & set(options)
    step_fn = torch.compile(model) if compiled else model
    loader = build_loader(args, runner_arm=False)
    total = len(loader)
    for it, batch in enumerate(loader):
        clock.tick()
        for group in optimizer.param_groups:  # cosine, predictor fixed
            if not group.get('fixed_lr'):
                group['lr'] = lr * 0.5 * (1 + math.cos(math.pi * it / total))
        x1, x2 = (x.to(device, non_blocking=True) for x in batch['inputs'])
        with torch.autocast(
                device.type, dtype=torch.bfloat16, enabled='bf16' in options):
            loss = step_fn(x1, x2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last_loss = loss.item()  # logged every iteration, as Runners do
    return last_loss


# --------------------------------------------------------------------------
# Arms 1 and 2: an mmengine Runner.
# --------------------------------------------------------------------------
def _bn(cfg, norm: dict):
    """Replace every ``type='SyncBN'`` norm config in ``cfg`` by ``norm``."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'SyncBN':
            return dict(norm)
        return {k: _bn(v, norm) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_bn(v, norm) for v in cfg)
    return cfg


def load_simsiam_mm_config(name: str = SIMSIAM_MM_CFG):
    """One of this checkout's configs as a ``Config``."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, name))


def simsiam_mm_cfg(options: Sequence[str]) -> dict:
    """Model, optimizer and hooks of this package's ResNet-50 config
    (``configs/simsiam_r50_8xb32.py``: the model of
    ``_base_/models/simsiam_r50.py`` with the dataset config's data
    preprocessor, the schedule's optim wrapper, the runtime's hooks).

    The per-iteration hooks stay; the periodic kNN evaluation
    (:data:`EVALUATION_HOOKS`, every few epochs on a labelled split) is not
    part of a training step and mmpretrain's config has none.
    """
    cfg = load_simsiam_mm_config()
    model = cfg.model.to_dict()
    model['backbone'] = _bn(model['backbone'], dict(type='BN'))
    model['neck'] = _bn(model['neck'], dict(type='BN1d'))
    model['head'] = _bn(model['head'], dict(type='BN1d'))
    model['channels_last'] = 'channels_last' in options
    return dict(
        model=model,
        optim_wrapper=cfg.optim_wrapper.to_dict(),
        custom_hooks=[
            h.to_dict() for h in cfg.custom_hooks
            if h['type'] not in EVALUATION_HOOKS
        ],
        default_scope='simsiam_mm')


def load_mmpretrain_config(name: str = MMPRETRAIN_CFG):
    """``mmpretrain::<name>`` as a ``Config``.

    The path is resolved from the installed package itself, not through
    mmengine's ``pkg_resources`` lookup, which newer setuptools lack.
    """
    import mmpretrain
    from mmengine.config import Config
    root = osp.dirname(mmpretrain.__file__)
    for sub in ('.mim/configs', 'configs'):
        path = osp.join(root, sub, name)
        if osp.exists(path):
            return Config.fromfile(path)
    raise FileNotFoundError(f'{name} is not in the installed mmpretrain')


def mmpretrain_cfg() -> dict:
    """Model, optimizer and hooks of mmpretrain's own SimSiam config."""
    cfg = load_mmpretrain_config()
    model = cfg.model.to_dict()
    model['backbone'] = _bn(model['backbone'], dict(type='BN'))
    # NonLinearNeck defaults to SyncBN when norm_cfg is not given.
    model['neck']['norm_cfg'] = dict(type='BN1d')
    model['head']['predictor']['norm_cfg'] = dict(type='BN1d')
    return dict(
        model=model,
        data_preprocessor=cfg.data_preprocessor.to_dict(),
        optim_wrapper=cfg.optim_wrapper.to_dict(),
        custom_hooks=[h.to_dict() for h in cfg.custom_hooks],
        default_scope='mmpretrain')


def bf16_optim_wrapper(device: str) -> dict:
    """The optim-wrapper keys of ``tools/train.py --amp`` on ``device``:
    bf16 autocast (``CPUAmpOptimWrapper`` on CPUs, mmengine's
    ``AmpOptimWrapper`` without loss scaling on bf16 GPUs)."""
    from simsiam_mm.engine.amp import amp_optim_wrapper_cfg
    return amp_optim_wrapper_cfg(device)


def runner_schedule(iters: int, device: str, **env) -> dict:
    """The Runner arguments every benchmark arm shares: ``iters`` steps of
    a per-iteration cosine, timer and logger hooks, no checkpoints."""
    return dict(
        train_cfg=dict(by_epoch=False, max_iters=iters),
        param_scheduler=dict(
            type='CosineAnnealingLR', by_epoch=False, T_max=iters),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=50),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=None,
            sampler_seed=dict(type='DistSamplerSeedHook')),
        env_cfg=dict(
            cudnn_benchmark=device == 'cuda',
            dist_cfg=dict(backend='gloo'),
            **env),
        randomness=dict(seed=0),
        log_level='WARNING')


def run_runner(args: argparse.Namespace, base: str, options: Sequence[str],
               clock: StepClock) -> float:
    """Train ``warmup + iters + 1`` iterations; return the last loss."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    from mmpretrain.utils import register_all_modules

    # mmpretrain's types (ResNet, SelfSupDataPreprocessor) are registered
    # lazily; the simsiam_mm child scope does not trigger that import.
    register_all_modules(init_default_scope=False)
    if base == 'simsiam_mm':
        import simsiam_mm  # noqa: F401  (registers the scope)
        parts = simsiam_mm_cfg(options)
    else:
        parts = mmpretrain_cfg()
    if 'bf16' in options:
        parts['optim_wrapper'].update(bf16_optim_wrapper(args.device))
    parts['optim_wrapper']['optimizer']['lr'] = LR * args.batch / 256
    if 'fused' in options:
        parts['optim_wrapper']['optimizer']['fused'] = True

    class IterStarts(Hook):
        priority = 'HIGHEST'  # first in the iteration (FixedLRHook ties)

        def before_train(self, runner):
            if 'compile_modules' in options:  # the forward only
                model = runner.model
                for name in ('backbone', 'neck', 'head'):
                    getattr(model, name).compile()

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            clock.tick()

    loader = build_loader(args, runner_arm=True)
    work_dir = tempfile.mkdtemp(prefix='bench_step_')
    try:
        runner = Runner(
            **parts,
            work_dir=work_dir,
            train_dataloader=loader,
            **runner_schedule(len(loader), args.device),
            cfg=dict(
                compile=dict(
                    backend='inductor') if 'compile' in options else None))
        runner.register_hook(IterStarts())
        runner.train()
        loss = float(runner.message_hub.get_scalar('train/loss').current())
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return loss


def worker(args: argparse.Namespace) -> None:
    """Run one arm in this process and print its result line."""
    torch.set_num_threads(args.threads)
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    base, options = parse_arm(args.worker)
    clock = StepClock(args.lockstep)
    if base == 'torch':
        loss = run_torch(args, options, clock)
    else:
        loss = run_runner(args, base, options, clock)
    wall = [step[0] for step in clock.steps]
    cpu = [step[1] for step in clock.steps]
    print(
        RESULT + json.dumps(
            dict(
                arm=args.worker,
                step_s=wall[args.warmup:],
                cpu_s=cpu[args.warmup:],
                warmup_s=wall[:args.warmup],
                loss=loss,
                threads=torch.get_num_threads())),
        flush=True)


# --------------------------------------------------------------------------
# Driver: interleave the arms over rounds, aggregate, compare.
# --------------------------------------------------------------------------
def worker_env(threads: int, device: str) -> dict:
    """Environment of a worker: pinned threads, this checkout importable,
    and no visible GPU when the CPU is asked for (mmengine's Runner takes a
    GPU whenever it sees one)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def worker_cmd(args: argparse.Namespace, arm: str) -> List[str]:
    cmd = [sys.executable, osp.abspath(__file__), '--worker', arm]
    for key in ('size', 'batch', 'iters', 'warmup', 'threads', 'device'):
        cmd += [f'--{key}', str(getattr(args, key))]
    return cmd


def run_arm(args: argparse.Namespace, arm: str) -> dict:
    """One subprocess for one arm, run to completion; its result."""
    try:
        proc = subprocess.run(
            worker_cmd(args, arm),
            capture_output=True,
            text=True,
            env=worker_env(args.threads, args.device),
            cwd=ROOT,
            timeout=args.arm_timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {args.arm_timeout} s')
    return parse_worker_output(proc)


class LockstepArm:
    """A worker process that runs the steps it is granted, then waits.

    Args:
        args (argparse.Namespace): The driver's arguments.
        arm (str): The arm the worker runs.
    """

    def __init__(self, args: argparse.Namespace, arm: str) -> None:
        self.timeout = args.arm_timeout
        self.stderr = tempfile.TemporaryFile(mode='w+')
        self.proc = subprocess.Popen(
            worker_cmd(args, arm) + ['--lockstep'],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
            env=worker_env(args.threads, args.device),
            cwd=ROOT)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.result: Optional[dict] = None
        self.error: Optional[str] = None

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def wait(self) -> bool:
        """Until the worker waits for steps (True) or has ended (False)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                line = self.lines.get(
                    timeout=max(0., deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                self.error = f'timed out after {self.timeout} s'
                return False
            if line is None:
                self.proc.wait()
                if self.result is None:
                    self.stderr.seek(0)
                    self.error = parse_worker_output(
                        subprocess.CompletedProcess(
                            self.proc.args, self.proc.returncode, '',
                            self.stderr.read()))['error']
                return False
            if line == WAIT:
                return True
            if line.startswith(RESULT):
                self.result = json.loads(line[len(RESULT):])

    def grant(self, steps: int) -> bool:
        """Run ``steps`` more iterations; False once the worker is gone."""
        if self.error is not None or self.proc.poll() is not None:
            return False
        self.proc.stdin.write(f'{steps}\n')
        self.proc.stdin.flush()
        return self.wait()


def run_lockstep(args: argparse.Namespace, arms: List[str]) -> Dict[str, list]:
    """All arms alive at once, taking turns of a few steps each.

    Every worker is started and built, runs its warm-up steps in turn, then
    the measured steps go round in ``args.rounds`` turns (the order rotates
    each round), so that whatever else loads the machine falls on every arm
    alike. Returns, per arm, one result per round (or the error).
    """
    workers = {arm: LockstepArm(args, arm) for arm in arms}
    for worker_ in workers.values():
        worker_.wait()  # built, at the start of the first iteration
    for worker_ in workers.values():
        worker_.grant(args.warmup)
    chunks = [
        args.iters // args.rounds + (r < args.iters % args.rounds)
        for r in range(args.rounds)
    ]
    for rnd, chunk in enumerate(chunks):
        shift = rnd % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            workers[arm].grant(chunk)
    for worker_ in workers.values():
        worker_.grant(1)  # the last iteration ends the last measured one
    runs: Dict[str, list] = {}
    for arm, worker_ in workers.items():
        res = worker_.result
        if res is None:
            runs[arm] = [dict(error=worker_.error or 'no result')]
            continue
        runs[arm], start = [], 0
        for chunk in chunks:  # one result per round, as in process mode
            end = start + chunk
            runs[arm].append(
                dict(
                    res,
                    step_s=res['step_s'][start:end],
                    cpu_s=res['cpu_s'][start:end]))
            start = end
    return runs


def parse_worker_output(proc: subprocess.CompletedProcess) -> dict:
    """The worker's result line, or its exit code and exception line."""
    for line in reversed(proc.stdout.splitlines()):
        if proc.returncode == 0 and line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    errors = [
        line for line in proc.stderr.splitlines()
        if re.match(r'^[\w.]*(Error|Exception)\b', line)
    ]
    tail = errors[-1:] or proc.stderr.strip().splitlines()[-2:]
    return dict(error=f'exit {proc.returncode}: ' + ' | '.join(tail))


def _stats(runs: List[dict], key: str) -> Tuple[float, float, List]:
    """Median of the per-round medians of ``key``, their relative spread
    (max - min) / median, and the round medians."""
    rounds = [statistics.median(r[key]) for r in runs]
    median = statistics.median(rounds)
    return median, (max(rounds) - min(rounds)) / median, rounds


def summarize(runs: List[dict], batch: int, size: int) -> dict:
    """Wall and CPU seconds per step, spread over rounds, throughput."""
    errors = [r['error'] for r in runs if 'error' in r]
    good = [r for r in runs if 'error' not in r]
    if not good:
        return dict(error=errors[0] if errors else 'no run')
    median, spread, rounds = _stats(good, 'step_s')
    cpu_median, cpu_spread, _ = _stats(good, 'cpu_s')
    pooled = sorted(t for r in good for t in r['step_s'])
    q1, q3 = pooled[len(pooled) // 4], pooled[(3 * len(pooled)) // 4]
    out = dict(
        median_s=round(median, 5),
        spread=round(spread, 4),
        iqr_rel=round((q3 - q1) / median, 4),
        round_medians_s=[round(t, 5) for t in rounds],
        cpu_median_s=round(cpu_median, 5),
        cpu_spread=round(cpu_spread, 4),
        pairs_per_s=round(batch / median, 3),
        gflops=round(batch * GFLOP_PER_PAIR_224 * (size / 224)**2 / median, 2),
        first_step_s=round(
            statistics.median(
                r['warmup_s'][0]
                for r in good), 3) if good[0]['warmup_s'] else None,
        threads=good[0]['threads'],
        final_loss=round(good[-1]['loss'], 4))
    if errors:
        out['errors'] = errors
    return out


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    out = dict(
        cpu=cpu,
        cores=os.cpu_count(),
        python=platform.python_version(),
        torch=torch.__version__)
    if torch.cuda.is_available():
        out['gpu'] = torch.cuda.get_device_name(0)
    return out


def ratio(num: dict, den: dict, key: str = 'median_s') -> Optional[float]:
    if key not in num or key not in den:
        return None
    return round(num[key] / den[key], 4)


def compare(arms: Dict[str, dict], cpu_basis: bool) -> dict:
    """Speed-ups (> 1: faster) and time ratios from the wall medians and
    from the CPU-time medians.

    With one thread on a CPU, the CPU time of a step is its work, which
    other jobs on a shared machine barely change while they can double its
    wall time; there the targets are judged on CPU time
    (``cpu_basis``), elsewhere on wall time.
    """
    mm = arms.get('simsiam_mm', {})
    pre, bare = arms.get('mmpretrain', {}), arms.get('torch', {})
    out = dict(
        speedup_vs_mmpretrain=ratio(pre, mm),
        time_vs_torch=ratio(mm, bare),
        cpu_speedup_vs_mmpretrain=ratio(pre, mm, 'cpu_median_s'),
        cpu_time_vs_torch=ratio(mm, bare, 'cpu_median_s'))
    key = 'cpu_median_s' if cpu_basis else 'median_s'
    options = {}
    for arm, res in arms.items():
        base, opts = parse_arm(arm)
        if opts:
            options[arm] = ratio(arms.get(base, {}), res, key)
    if options:
        out['option_speedups'] = options
    prefix = 'cpu_' if cpu_basis else ''
    sp = out[f'{prefix}speedup_vs_mmpretrain']
    tt = out[f'{prefix}time_vs_torch']
    out['targets'] = dict(
        basis='cpu_time' if cpu_basis else 'wall_time',
        speedup_vs_mmpretrain_ge_1=None if sp is None else sp >= 1.0,
        time_vs_torch_le_1_03=None if tt is None else tt <= 1.03)
    return out


def emit(report: dict, out: Optional[str]) -> None:
    """Print the report as one JSON line; also write it to ``out``."""
    line = json.dumps(report)
    print(line)
    if out:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            f.write(line + '\n')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=112, help='view side')
    parser.add_argument(
        '--batch', type=int, default=8, help='images per view per step')
    parser.add_argument(
        '--rounds',
        type=int,
        default=4,
        help='turns per arm (lockstep) or runs per arm (process)')
    parser.add_argument(
        '--iters',
        type=int,
        default=12,
        help='measured steps per arm (lockstep) or per run (process)')
    parser.add_argument(
        '--warmup', type=int, default=3, help='dropped steps per process')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads in every arm (default 1: on a shared 2-core '
        'machine more threads than idle cores make OpenMP spin-waits '
        'dominate)')
    parser.add_argument(
        '--arms',
        nargs='+',
        default=list(MAIN_ARMS),
        help='arms to run: simsiam_mm, mmpretrain, torch, or base:options '
        'such as simsiam_mm:bf16+channels_last (default: the three bases)')
    parser.add_argument(
        '--options',
        nargs='*',
        default=[],
        help='extra arms for simsiam_mm and torch, e.g. channels_last '
        'bf16+channels_last compile')
    parser.add_argument(
        '--arm-timeout', type=int, default=1800, help='seconds per run')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny run (32 px, batch 2, 1 round) to check it works')
    parser.add_argument('--out', help='also write the JSON to this file')
    parser.add_argument(
        '--option-arms',
        nargs='+',
        default=['simsiam_mm', 'torch'],
        help='arms that --options are measured on')
    parser.add_argument(
        '--device',
        choices=['auto', 'cpu', 'cuda'],
        default='auto',
        help='auto: cuda when available')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        default=790.,
        help='peak of the device for the MFU column (GPU only; 790: the '
        "issue's H100 bf16 dense figure)")
    parser.add_argument(
        '--schedule',
        choices=['auto', 'lockstep', 'process'],
        default='auto',
        help='lockstep: every arm alive in its own process, taking turns '
        'of iters/rounds steps; process: a fresh process per arm and round, '
        'run to completion (less memory: one model at a time). auto: '
        'lockstep on CPUs, process on GPUs')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument(
        '--lockstep', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.schedule == 'auto':
        args.schedule = 'lockstep' if args.device == 'cpu' else 'process'
    if args.smoke:
        args.size, args.batch, args.rounds = 32, 2, 1
        args.iters, args.warmup = 2, 1
    args.rounds = max(1, min(args.rounds, args.iters))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    arms = list(args.arms)
    for opts in args.options:
        arms += [f'{base}:{opts}' for base in args.option_arms]
    for arm in arms:
        parse_arm(arm)
    start = time.perf_counter()
    if args.schedule == 'lockstep':
        runs = run_lockstep(args, arms)
    else:  # one process per arm and round, every arm once per round
        runs = {arm: [] for arm in arms}
        for rnd in range(args.rounds):
            shift = rnd % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                runs[arm].append(run_arm(args, arm))
    results = {
        arm: summarize(r, args.batch, args.size)
        for arm, r in runs.items()
    }
    if args.device == 'cuda':
        for res in results.values():
            if 'gflops' in res:
                res['mfu'] = round(res['gflops'] / (args.peak_tflops * 1e3), 4)
    report = dict(
        bench='step',
        machine=machine(),
        settings=dict(
            size=args.size,
            batch=args.batch,
            rounds=args.rounds,
            iters=args.iters,
            warmup=args.warmup,
            threads=args.threads,
            device=args.device,
            schedule=args.schedule,
            smoke=args.smoke),
        arms=results,
        ratios=compare(results, args.device == 'cpu' and args.threads == 1),
        wall_s=round(time.perf_counter() - start, 1))
    emit(report, args.out)
    return report


if __name__ == '__main__':
    main()
