"""The predictor's fixed lr, through a real mmengine Runner, as the
optimizer sees it when it steps."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import simsiam_mm  # noqa: F401

LR = 0.1


class ToyModel(BaseModel):
    """backbone / neck / head like SimSiam, tiny."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.neck = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        return dict(loss=self.head(self.neck(self.backbone(x))).pow(2).mean())


class ToyData(Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.full((4, ), float(i)))


class RecordLR(Hook):
    """Records each group's lr at the moment the optimizer steps: the lr
    the update is made with, whatever a hook sets before or after."""

    def __init__(self):
        self.lrs = []

    def before_train(self, runner):
        optimizer = runner.optim_wrapper.optimizer
        step = optimizer.step

        def recording_step(*args, **kwargs):
            self.lrs.append([g['lr'] for g in optimizer.param_groups])
            return step(*args, **kwargs)

        optimizer.step = recording_step


def run(tmp_path,
        schedulers,
        fix=True,
        by_epoch=True,
        scale=None,
        batch_size=4):
    record = RecordLR()
    cfg = dict(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=ToyData(),
            batch_size=batch_size,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=1e-4),
            constructor='SimSiamOptimWrapperConstructor',
            paramwise_cfg=dict(fix_predictor_lr=fix)),
        param_scheduler=schedulers,
        train_cfg=dict(by_epoch=True, max_epochs=4) if by_epoch else dict(
            by_epoch=False, max_iters=16),
        custom_hooks=[dict(type='FixedLRHook'), record],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='simsiam_mm')
    if scale:
        cfg['auto_scale_lr'] = dict(base_batch_size=scale, enable=True)
    runner = Runner(**cfg)
    runner.train()
    groups = runner.optim_wrapper.optimizer.param_groups
    return record.lrs, groups


def test_two_groups_and_predictor_marked(tmp_path):
    lrs, groups = run(tmp_path, [])
    assert len(groups) == 2
    assert [len(g['params']) for g in groups] == [4, 2]
    assert groups[1]['fixed_lr'] and not groups[0].get('fixed_lr')


def test_epoch_cosine(tmp_path):
    lrs, _ = run(tmp_path,
                 [dict(type='CosineAnnealingLR', T_max=4, by_epoch=True)])
    enc = [lr[0] for lr in lrs]
    pred = [lr[1] for lr in lrs]
    assert len(lrs) == 16
    assert enc[0] == pytest.approx(LR) and enc[-1] < 0.2 * LR
    assert enc == sorted(enc, reverse=True)
    assert pred == pytest.approx([LR] * 16)


def test_iter_schedule_with_warmup(tmp_path):
    lrs, _ = run(
        tmp_path, [
            dict(
                type='LinearLR',
                start_factor=0.1,
                by_epoch=False,
                begin=0,
                end=4),
            dict(
                type='CosineAnnealingLR',
                T_max=12,
                by_epoch=False,
                begin=4,
                end=16)
        ],
        by_epoch=False)
    enc = [lr[0] for lr in lrs]
    assert enc[0] == pytest.approx(0.1 * LR)
    assert max(enc) == pytest.approx(LR, rel=1e-6)
    assert [lr[1] for lr in lrs] == pytest.approx([LR] * 16)


def test_auto_scale_lr_keeps_the_scaled_lr(tmp_path):
    # batch 4 against a base of 16: every lr scaled by 1/4
    lrs, _ = run(
        tmp_path, [dict(type='CosineAnnealingLR', T_max=4, by_epoch=True)],
        scale=16)
    assert lrs[0][0] == pytest.approx(LR / 4)
    assert [lr[1] for lr in lrs] == pytest.approx([LR / 4] * 16)


def test_decayed_predictor_ablation(tmp_path):
    lrs, _ = run(
        tmp_path, [dict(type='CosineAnnealingLR', T_max=4, by_epoch=True)],
        fix=False)
    assert [lr[1] for lr in lrs] == pytest.approx([lr[0] for lr in lrs])
    assert lrs[-1][1] < 0.2 * LR


def test_unknown_paramwise_key_is_an_error():
    from simsiam_mm.engine import SimSiamOptimWrapperConstructor
    with pytest.raises(KeyError, match='fix_pred_lr'):
        SimSiamOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=LR)), dict(fix_pred_lr=True))
