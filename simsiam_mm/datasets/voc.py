"""PASCAL VOC detection with the "difficult" objects as training targets.

The transfer protocol of Table 5 of arXiv 2011.10566 (MoCo's detectron2
setting) trains on every VOC object: detectron2's VOC loader keeps the
objects VOC marks ``difficult``. mmdet's ``VOCDataset`` flags them
``ignore_flag=1``, so ``PackDetInputs`` moves them to ``ignored_instances``
and the detector never sees them as targets; mmdet has no switch for it.
:class:`VOCDatasetWithDifficult` is that switch. Evaluation keeps mmdet's
``VOCDataset``: the VOC07 test metric ignores difficult objects, as
detectron2's evaluator does.

Needs mmdet (the ``det`` extra): imported by the mmdet configs through
``custom_imports``, not by ``import simsiam_mm``.
"""
from typing import List

from mmdet.datasets import VOCDataset

from simsiam_mm.registry import DATASETS


@DATASETS.register_module()
class VOCDatasetWithDifficult(VOCDataset):
    """mmdet's ``VOCDataset`` whose difficult objects are training targets.

    An object is ignored only when it is smaller than
    ``filter_cfg['bbox_min_size']`` (if set), never for being difficult.
    Arguments are mmdet's ``VOCDataset``'s.
    """

    def _parse_instance_info(self,
                             raw_ann_info,
                             minus_one: bool = True) -> List[dict]:
        instances = super()._parse_instance_info(raw_ann_info, minus_one)
        limit = self.bbox_min_size
        for instance in instances:
            x1, y1, x2, y2 = instance['bbox']
            small = limit is not None and min(x2 - x1, y2 - y1) < limit
            instance['ignore_flag'] = int(small)
        return instances
