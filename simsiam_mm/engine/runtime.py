"""One config, any machine: a GPU node, one CPU process, several CPU
processes. And the command-line options of ``tools/train.py`` and
``tools/test.py``, applied to a config in one place.

:class:`PortableRunner` is mmengine's ``Runner`` with the CPU gaps of
mmengine 0.10.7 closed:

* ``init_dist`` calls ``torch.cuda.set_device``, which fails without a GPU:
  on CPU the process group is created here, on ``gloo`` (``nccl`` needs
  GPUs), from the torchrun / slurm / MPI environment;
* DDP is always given ``device_ids=[LOCAL_RANK]``, which DDP refuses for a
  CPU module: on CPU it gets none;
* torch's ``SyncBatchNorm`` refuses CPU tensors: on CPU, SyncBN layers fall
  back to plain BN (statistics per process), with a logged warning.

On GPUs it is mmengine's ``Runner`` unchanged.
"""
import datetime
import errno
import logging
import os
import os.path as osp
import subprocess
from typing import Optional, Sequence

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.runner import Runner
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from simsiam_mm import checkpoint as safe_checkpoint
from simsiam_mm.registry import RUNNERS, SCOPE
from .amp import amp_optim_wrapper_cfg
from .config_check import check_top_level_keys, explain_build_error
from .hooks import WRITE_ERRNOS, WorkDirError, write_error_message
from .resume import find_resumable_checkpoint


def _env_from_slurm(port: Optional[int]) -> None:
    env = os.environ
    env.setdefault('RANK', env['SLURM_PROCID'])
    env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
    env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
    if port is not None:
        env['MASTER_PORT'] = str(port)
    env.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in env:
        nodes = env['SLURM_NODELIST']
        env['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')


def _env_from_mpi() -> None:
    env = os.environ
    env.setdefault('RANK', env['OMPI_COMM_WORLD_RANK'])
    env.setdefault('WORLD_SIZE', env['OMPI_COMM_WORLD_SIZE'])
    env.setdefault('LOCAL_RANK', env['OMPI_COMM_WORLD_LOCAL_RANK'])
    env.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in env:
        raise KeyError('MPI launch: set MASTER_ADDR to the first host')


def init_cpu_process_group(launcher: str, dist_cfg: dict) -> None:
    """Create the default process group on ``gloo`` without touching CUDA.

    Args:
        launcher (str): ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        dist_cfg (dict): ``env_cfg.dist_cfg`` of the config; ``backend`` is
            replaced by ``gloo`` (with a warning if it was another one),
            ``timeout`` is in seconds.
    """
    kwargs = dict(dist_cfg)
    backend = kwargs.pop('backend', 'gloo')
    kwargs.pop('init_backend', None)
    port = kwargs.pop('port', None)
    if backend != 'gloo':
        print_log(
            f'No GPU: distributed backend {backend!r} replaced by gloo.',
            logger='current',
            level=logging.WARNING)
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    if launcher == 'slurm':
        _env_from_slurm(port)
    elif launcher == 'mpi':
        _env_from_mpi()
    elif launcher != 'pytorch':
        raise ValueError(f'unknown launcher {launcher!r}')
    torch_dist.init_process_group(backend='gloo', **kwargs)


def _has_sync_bn(model: nn.Module) -> bool:
    return any('SyncBatchNorm' in type(m).__name__ for m in model.modules())


@RUNNERS.register_module()
class PortableRunner(Runner):
    """mmengine's ``Runner``, also on CPU processes (see module doc)."""

    def setup_env(self, env_cfg: dict) -> None:
        if self.distributed and not is_distributed() and \
                get_device() == 'cpu':
            init_cpu_process_group(self.launcher,
                                   env_cfg.get('dist_cfg', {}) or {})
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[dict],
                   model: nn.Module) -> nn.Module:
        if not self.distributed or is_model_wrapper(model) or \
                get_device() != 'cpu':
            return super().wrap_model(model_wrapper_cfg, model)
        if self.cfg.get('sync_bn', None):
            self.logger.warning('sync_bn is ignored on CPU processes.')
        if _has_sync_bn(model):
            self.logger.warning(
                'SyncBN needs GPUs: on these CPU processes every SyncBN layer '
                'is replaced by BN, whose statistics are per process '
                f'(per-process batch {self._per_process_batch()}).')
            model = revert_sync_batchnorm(model)
        wrapper = dict(
            model_wrapper_cfg or dict(
                type='MMDistributedDataParallel',
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                    False)))
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper_cls = MODEL_WRAPPERS.get(wrapper['type']) if isinstance(
            wrapper['type'], str) else wrapper['type']
        if issubclass(wrapper_cls, DistributedDataParallel):
            wrapper['device_ids'] = None  # a CPU module takes none
        return MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model))

    def _per_process_batch(self) -> str:
        loader = self.cfg.get('train_dataloader') or {}
        return str(loader.get('batch_size', '?'))


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                check_keys: bool = True) -> Config:
    """``Config.fromfile`` + ``--cfg-options``, then the key typo check."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if check_keys:
        check_top_level_keys(cfg)
    return cfg


def _scoped(type_name: str) -> dict:
    """A ``type`` of ours, resolvable from any default scope (and replacing
    a ``_scope_`` stamped by an inherited ``mmpretrain::`` base)."""
    return dict(type=type_name, _scope_=SCOPE)


def _note(message: str) -> None:
    print_log(message, logger='current', level=logging.INFO)


def harden_runtime(cfg: Config) -> None:
    """Give any config (mmpretrain's, mmdet's) the resume and failure
    behaviour of ours: atomic checkpoints, the mid-epoch resumable epoch
    loop, and the NaN guard. Each change is logged."""
    hooks = cfg.get('default_hooks') or {}
    ckpt = hooks.get('checkpoint')
    if isinstance(ckpt, dict) and str(ckpt.get('type')).split('.')[-1] == \
            'CheckpointHook':
        ckpt.update(_scoped('AtomicCheckpointHook'))
        _note('default_hooks.checkpoint: CheckpointHook -> '
              'AtomicCheckpointHook (crash-safe writes)')
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        loop = train_cfg.get('type')
        if (loop is None and train_cfg.get('by_epoch', False)) or \
                str(loop).split('.')[-1] == 'EpochBasedTrainLoop':
            train_cfg.pop('by_epoch', None)
            train_cfg.update(_scoped('ResumableEpochBasedTrainLoop'))
            _note('train_cfg: EpochBasedTrainLoop -> '
                  'ResumableEpochBasedTrainLoop (mid-epoch resume)')
    custom = list(cfg.get('custom_hooks') or [])
    if not any(
            str(h.get('type')).split('.')[-1] == 'NaNGuardHook'
            for h in custom):
        custom.append(_scoped('NaNGuardHook'))
        cfg.custom_hooks = custom
        _note('custom_hooks: + NaNGuardHook (stop on a non-finite loss)')


def apply_amp(cfg: Config) -> None:
    """``--amp``: the mixed-precision optim wrapper for this machine."""
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict) or 'optimizer' not in wrapper:
        raise ValueError('--amp needs a single optim_wrapper with an '
                         'optimizer; set the AMP wrapper in the config '
                         'instead for multiple optimizers.')
    chosen = amp_optim_wrapper_cfg(get_device())
    wrapper.pop('_scope_', None)
    wrapper.update(chosen)
    _note(f'--amp: optim_wrapper {chosen}')


def apply_train_args(cfg: Config,
                     config_path: str,
                     work_dir: Optional[str] = None,
                     resume: Optional[str] = None,
                     amp: bool = False,
                     auto_scale_lr: bool = False,
                     launcher: str = 'none',
                     trusted: Sequence[str] = (),
                     tensorboard: bool = False) -> Config:
    """Apply the options of ``tools/train.py`` to ``cfg`` (in place).

    Args:
        cfg (Config): The loaded config.
        config_path (str): Its file (names the default work_dir).
        work_dir (str, optional): ``--work-dir``; else ``cfg.work_dir``;
            else ``work_dirs/<config name>``.
        resume (str, optional): ``'auto'`` (the newest complete checkpoint
            of the work_dir, if any) or a checkpoint path.
        amp (bool): ``--amp``, see :mod:`simsiam_mm.engine.amp`.
        auto_scale_lr (bool): Scale the lr by the actual total batch over
            ``auto_scale_lr.base_batch_size``.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trusted (Sequence[str]): ``--trust-checkpoint`` paths or URLs.
        tensorboard (bool): Add ``TensorboardVisBackend``.
    """
    if work_dir:
        cfg.work_dir = work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    cfg.launcher = launcher
    if trusted:  # the command line only: configs cannot grant trust
        safe_checkpoint.trust(list(trusted))
    harden_runtime(cfg)
    if amp:
        apply_amp(cfg)
    if auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not isinstance(scale, dict) or 'base_batch_size' not in scale:
            raise KeyError('--auto-scale-lr needs auto_scale_lr = '
                           'dict(base_batch_size=N) in the config: the total '
                           'batch its lr was set for.')
        scale['enable'] = True
    if tensorboard:
        vis = cfg.get('visualizer') or dict(
            type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
        backends = list(vis.get('vis_backends') or [])
        backends.append(dict(type='TensorboardVisBackend'))
        vis['vis_backends'] = backends
        cfg.visualizer = vis
    if resume == 'auto':
        found = find_resumable_checkpoint(cfg.work_dir)
        if found is None:
            _note(f'--resume auto: no complete checkpoint in {cfg.work_dir}; '
                  'starting from scratch.')
            cfg.resume = False
        else:
            _note(f'--resume auto: resuming from {found}')
            cfg.resume, cfg.load_from = True, found
    elif resume:
        cfg.resume, cfg.load_from = True, resume
    return cfg


def build_runner(cfg: Config) -> Runner:
    """``PortableRunner.from_cfg``, or the config's own ``runner_type``."""
    if 'runner_type' in cfg:
        return MMENGINE_RUNNERS.build(cfg)
    return PortableRunner.from_cfg(cfg)


def _write_error(exc: OSError, work_dir: str) -> Optional[WorkDirError]:
    """A :class:`WorkDirError` for a write the disk or the folder refused
    (a log, ``vis_data``, a checkpoint), else None."""
    if isinstance(exc, WorkDirError) or exc.errno not in WRITE_ERRNOS:
        return None
    name = osp.abspath(str(exc.filename or ''))
    if exc.errno in (errno.EACCES, errno.EPERM) and \
            not name.startswith(osp.abspath(work_dir) + os.sep):
        return None  # e.g. an unreadable input file, not a write
    message = write_error_message(exc, exc.filename or f'into {work_dir}',
                                  find_resumable_checkpoint(work_dir),
                                  work_dir)
    print_log(message, logger='current', level=logging.ERROR)
    return WorkDirError(message, exc)


def run(cfg: Config, mode: str = 'train') -> Runner:
    """Build the runner and train (or test); a wrong ``type`` or argument
    anywhere in the config raises
    :class:`~simsiam_mm.engine.config_check.ConfigError`, naming it; a
    file of the run that cannot be written (full disk, read-only work_dir)
    raises :class:`~simsiam_mm.engine.hooks.WorkDirError`, naming it and
    the last complete checkpoint.

    Returns:
        Runner: The runner, after the run.
    """
    try:
        runner = build_runner(cfg)
        runner.train() if mode == 'train' else runner.test()
    except (KeyError, TypeError) as exc:
        error = explain_build_error(exc, cfg)
        if error is None:
            raise
        raise error from exc
    except OSError as exc:
        error = _write_error(exc, cfg.work_dir)
        if error is None:
            raise
        raise error from exc
    return runner
