"""t-SNE map of the pooled backbone features, coloured by label.

    python tools/tsne.py CONFIG CHECKPOINT [--split val] [--max-samples 2000]
        [--out FILE] [--random-init] [--data-config FILE]
        [--cfg-options KEY=VALUE ...]

Features come from the config's labelled ``knn_val_dataloader`` (or
``knn_train_dataloader`` with ``--split train``), through the model's
``extract_feat`` in eval mode; scikit-learn's TSNE embeds them in 2-D.
"""
import os
import os.path as osp

from _common import (add_model_args, load_model, make_parser, parse_model_args,
                     split_features)


def parse_args(argv=None):
    parser = make_parser(__doc__)
    add_model_args(
        parser, seed_help='seed of the --random-init weights and of t-SNE')
    parser.add_argument(
        '--split',
        choices=('train', 'val'),
        default='val',
        help='which labelled split to map')
    parser.add_argument(
        '--max-samples',
        type=int,
        default=2000,
        help='map at most this many samples, evenly spaced over the split')
    parser.add_argument(
        '--perplexity',
        type=float,
        default=30.0,
        help='t-SNE perplexity (capped at (samples - 1) / 3)')
    parser.add_argument(
        '--iters', type=int, default=1000, help='t-SNE iterations (>= 250)')
    parser.add_argument(
        '--out',
        help='PNG path (default: tsne_<split>.png next to the checkpoint, '
        'or in work_dirs with --random-init)')
    return parse_model_args(parser, argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')  # files only, no display
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from sklearn.manifold import TSNE
    cfg, model = load_model(args)
    feats, labels, loader = split_features(cfg, model, args.split)
    if len(labels) > args.max_samples:
        keep = np.linspace(0, len(labels) - 1, args.max_samples)
        keep = torch.from_numpy(np.unique(keep.round().astype(int)))
        feats, labels = feats[keep], labels[keep]
    feats = torch.nn.functional.normalize(feats, dim=1).numpy()
    if np.ptp(feats, axis=0).max() < 1e-6:
        # scikit-learn's Barnes-Hut t-SNE crashes (SIGSEGV) on such input
        raise SystemExit(
            f'tsne: the {len(labels)} feature vectors are all the same '
            '(a collapsed model?): there is nothing to map. The kNN of '
            'tools/knn_eval.py and the z_rank curve of tools/plot_run.py '
            'show a collapse too.')
    perplexity = min(args.perplexity, (len(labels) - 1) / 3)
    emb = TSNE(
        n_components=2,
        perplexity=perplexity,
        init='pca',
        max_iter=args.iters,
        random_state=args.seed).fit_transform(feats)
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
