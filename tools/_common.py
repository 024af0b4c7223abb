"""What the tools share, in one place.

* Command lines that answer ``-h`` at once: only the standard library is
  imported here; torch, mmengine and simsiam_mm are imported by the
  functions that need them, after the arguments are parsed. Every option
  shows its default (:class:`HelpFormatter`).
* The options of ``train.py`` / ``test.py`` (config, ``--cfg-options``,
  launcher, trusted checkpoints) and of ``knn_eval.py`` / ``tsne.py`` (a
  pretrained or randomly initialised model and its labelled splits).
* Reading what an mmengine run left in its work_dir: the scalars log of
  ``LocalVisBackend`` and the ``last_checkpoint`` pointer.

The tools import it as ``_common`` (Python puts ``tools/`` first on the
path of a script it runs).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
from typing import List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = 'configs/simsiam_r18-cifar_1xb64_digits-demo.py'
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


# ------------------------------------------------------------ command line
class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and ``(default: X)`` after the help
    of every option whose default is a value (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        default = action.default
        if ('%(default)' in text or 'default:' in text or default is None
                or default is False or default is argparse.SUPPRESS
                or default == []):
            return text
        return text + ' (default: %(default)s)'


def make_parser(doc: Optional[str]) -> argparse.ArgumentParser:
    """A parser whose ``-h`` shows ``doc`` (the tool's docstring)."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=HelpFormatter)


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``KEY=VALUE ...`` into a dict), imported
    only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as HostAction
        HostAction(self.option_strings, self.dest)(parser, namespace, values,
                                                   option_string)


def add_cfg_options(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help=f'override config keys, e.g. {example}')


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """``--launcher``, ``--trust-checkpoint`` and the hidden
    ``--local-rank`` of ``torch.distributed.launch``."""
    parser.add_argument(
        '--launcher',
        choices=LAUNCHERS,
        default='none',
        help='how the processes were started (set by dist_*.sh and '
        'slurm_*.sh)')
    parser.add_argument(
        '--trust-checkpoint',
        nargs='+',
        action='extend',
        default=[],
        metavar='PATH',
        help='load these checkpoints (paths or URLs) with full, '
        'code-running unpickling: only files you trust. A config file '
        'cannot grant this (docs/checkpoints.md)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help=argparse.SUPPRESS)


def parse_launch_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def add_model_args(parser: argparse.ArgumentParser, seed_help: str) -> None:
    """A SimSiam model from its config and checkpoint, or at random init,
    with the config's labelled splits (:func:`load_model`)."""
    parser.add_argument(
        'config',
        help='the pretraining config; its knn_train_dataloader and '
        'knn_val_dataloader are the labelled splits')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='SimSiam checkpoint whose backbone is scored (omit with '
        '--random-init)')
    parser.add_argument(
        '--random-init',
        action='store_true',
        help='score the untrained architecture instead (no checkpoint): '
        'the baseline a self-supervised number is read against')
    parser.add_argument('--seed', type=int, default=0, help=seed_help)
    parser.add_argument(
        '--device', help='cpu or cuda (default: cuda when there is one)')
    parser.add_argument(
        '--data-config',
        help='take knn_train_dataloader / knn_val_dataloader from this file '
        '(e.g. configs/_base_/datasets/digits_knn.py; default: the '
        'config\'s own)')
    add_cfg_options(parser, 'knn_val_dataloader.dataset.data_root=DIR')


def parse_model_args(parser: argparse.ArgumentParser,
                     argv: Optional[Sequence[str]]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if bool(args.checkpoint) == args.random_init:
        parser.error('give a CHECKPOINT or --random-init (not both)')
    return args


def load_model(args: argparse.Namespace):
    """``(cfg, model)`` of :func:`add_model_args`' options: the model in
    eval mode with the checkpoint's backbone, or its initialisation under
    ``--seed``."""
    import torch

    from simsiam_mm.evaluation.build import build_model, load_config
    cfg = load_config(args.config, args.cfg_options, args.data_config)
    torch.manual_seed(args.seed)
    return cfg, build_model(cfg, args.checkpoint, args.device)


def split_features(cfg, model, split: str):
    """``(features N x C, labels N, loader)`` of the labelled ``split``
    (``'train'`` or ``'val'``)."""
    from simsiam_mm.evaluation import extract_features
    from simsiam_mm.evaluation.build import (KNN_TRAIN_KEY, KNN_VAL_KEY,
                                             build_loader)
    loader = build_loader(cfg,
                          KNN_TRAIN_KEY if split == 'train' else KNN_VAL_KEY)
    feats, labels = extract_features(model, loader)
    return feats, labels, loader


# ------------------------------------------------------------ runs
def sh(cmd: List[str]) -> None:
    """Run ``cmd`` from the repository root, echoed; stop on failure."""
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def find_scalars(path: str) -> str:
    """``path`` if it is a file, else the newest ``scalars.json`` under it
    (``WORK_DIR/<timestamp>/vis_data/scalars.json`` of ``LocalVisBackend``).
    """
    if osp.isfile(path):
        return path
    found = []
    for dirpath, _, files in os.walk(path):
        if 'scalars.json' in files:
            found.append(osp.join(dirpath, 'scalars.json'))
    if not found:
        raise FileNotFoundError(
            f'no vis_data/scalars.json under {path}: is it the work_dir of '
            'an mmengine run logged with '
            "visualizer=dict(vis_backends=[dict(type='LocalVisBackend')])?")
    return max(found, key=osp.getmtime)


def read_scalars(path: str) -> List[dict]:
    """Every logged row of :func:`find_scalars` ``(path)``."""
    with open(find_scalars(path)) as f:
        return [json.loads(line) for line in f if line.strip()]


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint ``work_dir/last_checkpoint`` points to."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(f'{pointer} does not exist: no checkpoint '
                                'was saved in this work_dir')
    with open(pointer) as f:
        path = f.read().strip()
    if not osp.isfile(path):
        path = osp.join(work_dir, osp.basename(path))
    return path


def model_dim(config: str) -> int:
    """d, the projector's output width, of a pretraining config."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, config)).model.neck.out_channels
