"""Reading what an mmengine run left in its work_dir."""
import json
import os
import os.path as osp
from typing import List


def find_scalars(work_dir: str) -> str:
    """The newest ``vis_data/scalars.json`` of a run (LocalVisBackend)."""
    found = []
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            path = osp.join(dirpath, 'scalars.json')
            found.append((osp.getmtime(path), path))
    if not found:
        raise FileNotFoundError(
            f'no vis_data/scalars.json under {work_dir}: is it the work_dir '
            'of an mmengine run with LocalVisBackend?')
    return max(found)[1]


def read_scalars(work_dir: str) -> List[dict]:
    """Every logged row of the newest run in ``work_dir``."""
    with open(find_scalars(work_dir)) as f:
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
