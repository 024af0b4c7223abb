"""A small real image folder for evaluation tests: UCI digits (bundled with
scikit-learn) as ``root/{train,val}/<class>/<index>.png``, the layout of
``tools/prepare_demo_data.py``, with fewer images."""
import os
import os.path as osp

import cv2
import numpy as np
from sklearn.datasets import load_digits


def write_digits(root: str,
                 train_per_class: int = 16,
                 val_per_class: int = 6,
                 size: int = 32) -> str:
    """Write the first images of each class; returns ``root``."""
    digits = load_digits()
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        for split, idx in (('train', members[:train_per_class]),
                           ('val', members[train_per_class:train_per_class +
                                           val_per_class])):
            folder = osp.join(root, split, str(label))
            os.makedirs(folder, exist_ok=True)
            for i in idx:
                img = digits.images[i].astype(np.float32) * (255. / 16.)
                img = cv2.resize(
                    img, (size, size), interpolation=cv2.INTER_CUBIC)
                img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
                cv2.imwrite(osp.join(folder, f'{i:04d}.png'), img)
    return root
