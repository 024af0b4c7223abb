"""Write the backbone of a SimSiam checkpoint for another codebase.

    python tools/extract_backbone.py CHECKPOINT OUT
        [--format mmpretrain|torchvision|detectron2]

* ``mmpretrain`` (default): ``{'state_dict': ...}`` without the
  ``backbone.`` prefix, for mmpretrain / mmdet ``ResNet`` with
  ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``.
* ``torchvision``: a bare state dict for ``torchvision.models.resnet50()``
  (``load_state_dict(sd, strict=False)`` misses only ``fc.weight`` and
  ``fc.bias``).
* ``detectron2``: a ``.pkl`` with detectron2's ResNet names
  (``MODEL.WEIGHTS OUT.pkl``, ``MODEL.PIXEL_MEAN`` / ``PIXEL_STD`` of
  torchvision, ``INPUT.FORMAT RGB``, as in MoCo's detectron2 transfer).
"""
import os
import os.path as osp

from _common import make_parser

# simsiam_mm.evaluation.export.FORMATS, written here too so that -h imports
# nothing heavy; tests/test_export.py checks that they agree
FORMATS = ('mmpretrain', 'torchvision', 'detectron2')


def main(argv=None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument('checkpoint', help='a SimSiam checkpoint (.pth)')
    parser.add_argument('out', help='output file')
    parser.add_argument(
        '--format',
        choices=FORMATS,
        default='mmpretrain',
        help='whose parameter names and file layout to write')
    args = parser.parse_args(argv)
    import simsiam_mm  # noqa: F401  (safe checkpoint loader)
    from simsiam_mm.evaluation.export import export_backbone
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    info = export_backbone(args.checkpoint, args.out, args.format)
    print(f'wrote {info["num_tensors"]} backbone tensors to {args.out} '
          f'({args.format} format)')
    return info


if __name__ == '__main__':
    main()
