"""t-SNE map of the pooled backbone features, coloured by label.

    python tools/tsne.py CONFIG CHECKPOINT [--split val] [--max-samples 2000]
        [--out FILE] [--random-init] [--data-config FILE]
        [--cfg-options KEY=VALUE ...]

Features come from the config's labelled ``knn_val_dataloader`` (or
``knn_train_dataloader`` with ``--split train``), through the model's
``extract_feat`` in eval mode; scikit-learn's TSNE embeds them in 2-D.
"""
import argparse
import os
import os.path as osp

import matplotlib
import numpy as np
import torch
from mmengine.config import DictAction
from sklearn.manifold import TSNE

import simsiam_mm  # noqa: F401  (safe checkpoint loader, registry)
from simsiam_mm.evaluation import extract_features
from simsiam_mm.evaluation.build import (KNN_TRAIN_KEY, KNN_VAL_KEY,
                                         build_loader, build_model,
                                         load_config)

matplotlib.use('Agg')  # files only, no display


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--split', choices=('train', 'val'), default='val')
    parser.add_argument('--max-samples', type=int, default=2000)
    parser.add_argument('--perplexity', type=float, default=30.0)
    parser.add_argument(
        '--iters', type=int, default=1000, help='t-SNE iterations (>= 250)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out',
        help='PNG path (default: next to the '
        'checkpoint, tsne_<split>.png)')
    parser.add_argument('--random-init', action='store_true')
    parser.add_argument('--device')
    parser.add_argument(
        '--data-config',
        help='take knn_train_dataloader / knn_val_dataloader from this file '
        '(e.g. configs/_base_/datasets/digits_knn.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if bool(args.checkpoint) == args.random_init:
        parser.error('give a CHECKPOINT or --random-init (not both)')
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.data_config)
    torch.manual_seed(args.seed)
    model = build_model(cfg, args.checkpoint, args.device)
    key = KNN_VAL_KEY if args.split == 'val' else KNN_TRAIN_KEY
    loader = build_loader(cfg, key)
    feats, labels = extract_features(model, loader)
    if len(labels) > args.max_samples:
        keep = np.linspace(0, len(labels) - 1, args.max_samples)
        keep = torch.from_numpy(np.unique(keep.round().astype(int)))
        feats, labels = feats[keep], labels[keep]
    feats = torch.nn.functional.normalize(feats, dim=1).numpy()
    perplexity = min(args.perplexity, (len(labels) - 1) / 3)
    emb = TSNE(
        n_components=2,
        perplexity=perplexity,
        init='pca',
        max_iter=args.iters,
        random_state=args.seed).fit_transform(feats)
    import matplotlib.pyplot as plt  # after selecting the Agg backend
    classes = getattr(loader.dataset, 'metainfo', {}).get('classes')
    fig, ax = plt.subplots(figsize=(7, 7))
    labels = labels.numpy()
    cmap = plt.get_cmap('tab10' if labels.max() < 10 else 'tab20')
    for c in np.unique(labels):
        name = classes[c] if classes is not None else str(c)
        pts = emb[labels == c]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=6, color=cmap(c % cmap.N), label=name)
    source = 'random init' if args.random_init else osp.basename(
        args.checkpoint)
    ax.set_title(f't-SNE of backbone features ({args.split}, {len(labels)} '
                 f'samples, {source})')
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=3, fontsize='small', loc='best')
    out = args.out or osp.join(
        osp.dirname(args.checkpoint) if args.checkpoint else 'work_dirs',
        f'tsne_{args.split}{"_random" if args.random_init else ""}.png')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f'wrote {out}')
    return out


if __name__ == '__main__':
    main()
