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
import json
import os
import os.path as osp
import time

from _common import (add_model_args, load_model, make_parser, parse_model_args,
                     split_features)

# the defaults of simsiam_mm.evaluation.knn (InstDisc's k and T), written
# here too so that -h imports nothing heavy; tests/test_knn.py checks them
DEFAULT_KS = (10, 20, 100, 200)
DEFAULT_TEMPERATURE = 0.07


def parse_args(argv=None):
    parser = make_parser(__doc__)
    add_model_args(parser, seed_help='torch seed of the --random-init weights')
    parser.add_argument(
        '--k',
        type=int,
        nargs='+',
        default=list(DEFAULT_KS),
        help='numbers of neighbours that vote')
    parser.add_argument(
        '--temperature',
        type=float,
        default=DEFAULT_TEMPERATURE,
        help='T of the votes exp(cos / T)')
    parser.add_argument('--out', help='also write the results as JSON here')
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=1024,
        help='queries per similarity block (memory vs speed)')
    return parse_model_args(parser, argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from simsiam_mm.evaluation import knn_evaluate
    from simsiam_mm.evaluation.build import format_table
    from simsiam_mm.evaluation.knn import effective_k
    start = time.time()
    cfg, model = load_model(args)
    train_feats, train_labels, _ = split_features(cfg, model, 'train')
    val_feats, val_labels, _ = split_features(cfg, model, 'val')
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
