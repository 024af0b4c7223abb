"""Check that a linear evaluation left the backbone untouched.

    python tools/check_linear.py LINEAR_CKPT PRETRAIN_CKPT

Compares every ``backbone.*`` tensor of the linear classifier's checkpoint
(weights and BatchNorm statistics) bit for bit with the pretraining
checkpoint, as the official ``main_lincls.py`` sanity check does. Exit code
0 and one line when identical; 1 and the differing tensors otherwise.
"""
import sys

from _common import make_parser


def main(argv=None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument(
        'linear_checkpoint',
        help='checkpoint written by the linear evaluation (epoch_N.pth)')
    parser.add_argument(
        'pretrain_checkpoint',
        help='the SimSiam checkpoint the linear evaluation started from')
    args = parser.parse_args(argv)
    import simsiam_mm  # noqa: F401  (safe checkpoint loader)
    from simsiam_mm.evaluation.export import load_backbone
    from simsiam_mm.evaluation.linear import (BackboneChangedError,
                                              check_backbone_unchanged)
    linear = load_backbone(args.linear_checkpoint)
    pretrained = load_backbone(args.pretrain_checkpoint)
    try:
        num = check_backbone_unchanged(linear, pretrained,
                                       args.linear_checkpoint)
    except BackboneChangedError as err:
        print(f'FAILED: {err}', file=sys.stderr)
        return 1
    print(f'OK: all {num} backbone tensors of {args.linear_checkpoint} are '
          f'bit-identical to {args.pretrain_checkpoint}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
