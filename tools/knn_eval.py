"""Weighted kNN accuracy of a SimSiam backbone (InstDisc protocol).

    python tools/knn_eval.py CONFIG CHECKPOINT [--k 10 20 100 200]
        [--temperature 0.07] [--out FILE] [--random-init]
        [--data-config FILE] [--cfg-options KEY=VALUE ...]

The labelled train (the neighbour bank) and val (the queries) splits are
the config's ``knn_train_dataloader`` and ``knn_val_dataloader`` (or those
of ``--data-config``, e.g. ``configs/_base_/datasets/digits_knn.py``). k larger
than the train set is clamped to it (logged; ``k_used`` in the JSON).
``--random-init`` scores the same architecture untrained (no checkpoint),
the baseline every self-supervised number should be read against.
"""
import argparse
import json
import os
import os.path as osp
import time

import torch
from mmengine.config import DictAction

import simsiam_mm  # noqa: F401  (safe checkpoint loader, registry)
from simsiam_mm.evaluation import (DEFAULT_KS, DEFAULT_TEMPERATURE,
                                   extract_features, knn_evaluate)
from simsiam_mm.evaluation.build import (KNN_TRAIN_KEY, KNN_VAL_KEY,
                                         build_loader, build_model,
                                         format_table, load_config)
from simsiam_mm.evaluation.knn import effective_k


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='SimSiam checkpoint (omit with --random-init)')
    parser.add_argument('--k', type=int, nargs='+', default=list(DEFAULT_KS))
    parser.add_argument(
        '--temperature', type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument(
        '--random-init',
        action='store_true',
        help='evaluate the untrained architecture (no checkpoint)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of --random-init')
    parser.add_argument('--chunk-size', type=int, default=1024)
    parser.add_argument('--device', help='cpu / cuda (default: cuda if any)')
    parser.add_argument(
        '--data-config',
        help='take knn_train_dataloader / knn_val_dataloader from this file '
        '(e.g. configs/_base_/datasets/digits_knn.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if bool(args.checkpoint) == args.random_init:
        parser.error('give a CHECKPOINT or --random-init (not both)')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    cfg = load_config(args.config, args.cfg_options, args.data_config)
    if args.random_init:
        torch.manual_seed(args.seed)
    model = build_model(cfg, args.checkpoint, args.device)
    train_feats, train_labels = extract_features(
        model, build_loader(cfg, KNN_TRAIN_KEY))
    val_feats, val_labels = extract_features(model,
                                             build_loader(cfg, KNN_VAL_KEY))
    metrics = knn_evaluate(
        train_feats,
        train_labels,
        val_feats,
        val_labels,
        ks=args.k,
        temperature=args.temperature,
        chunk_size=args.chunk_size)
    source = 'random init' if args.random_init else args.checkpoint
    print(f'kNN of {source} (T={args.temperature}, {len(train_labels)} '
          f'train / {len(val_labels)} val, {train_feats.shape[1]}-d '
          'features):')
    print(format_table(metrics, args.k))
    report = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        random_init=args.random_init,
        temperature=args.temperature,
        num_train=len(train_labels),
        num_val=len(val_labels),
        feature_dim=int(train_feats.shape[1]),
        seconds=round(time.time() - start, 1),
        results={
            str(k):
            dict(
                top1=metrics[f'top1_k{k}'],
                top5=metrics[f'top5_k{k}'],
                k_used=effective_k(k, len(train_labels)))
            for k in args.k
        })
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()
