"""The simsiam_mm registry scope, each check in a fresh interpreter."""
import pytest
from _subproc import run_python


def test_default_scope_resolves_ours_and_mmpretrains():
    out = run_python('''
        import json
        from mmengine.registry import init_default_scope
        init_default_scope('simsiam_mm')
        from simsiam_mm import registry as r
        found = dict(
            SimSiam=r.MODELS.get('SimSiam').__module__,
            ResNet=r.MODELS.get('ResNet').__module__,
            SelfSup=r.MODELS.get('SelfSupDataPreprocessor').__module__,
            MultiView=r.TRANSFORMS.get('MultiView').__module__,
            LARS=r.OPTIMIZERS.get('LARS').__module__,
            SGD=r.OPTIMIZERS.get('SGD').__module__,
            FixedLRHook=r.HOOKS.get('FixedLRHook').__module__,
            CheckpointHook=r.HOOKS.get('CheckpointHook').__module__,
            Cosine=r.PARAM_SCHEDULERS.get('CosineAnnealingLR').__module__,
            Ctor=r.OPTIM_WRAPPER_CONSTRUCTORS.get(
                'SimSiamOptimWrapperConstructor').__module__,
            CustomDataset=r.DATASETS.get('CustomDataset').__module__,
            Accuracy=r.METRICS.get('Accuracy').__module__,
        )
        print(json.dumps(found))
    ''')
    assert out['SimSiam'] == 'simsiam_mm.models.simsiam'
    assert out['FixedLRHook'] == 'simsiam_mm.engine.predictor_lr'
    assert out['ResNet'].startswith('mmpretrain.models.backbones')
    assert out['MultiView'].startswith('mmpretrain.datasets')
    assert out['LARS'].startswith('mmpretrain.engine')
    assert out['SGD'].startswith('torch.optim')
    assert out['CheckpointHook'].startswith('mmengine.hooks')
    assert out['CustomDataset'].startswith('mmpretrain.datasets')


@pytest.mark.slow
def test_scoped_type_from_mmpretrain_and_mmdet_scopes():
    out = run_python('''
        import json
        from mmengine.registry import init_default_scope
        import simsiam_mm
        from mmpretrain.registry import MODELS as PRETRAIN
        from mmdet.registry import MODELS as DET
        cfg = dict(
            backbone=dict(type='ResNet_CIFAR', depth=18),
            neck=dict(type='SimSiamProjector', in_channels=512,
                      hid_channels=32, out_channels=32),
            head=dict(type='SimSiamPredictor', in_channels=32,
                      hid_channels=8, out_channels=32))
        res = {}
        for scope, reg in (('mmpretrain', PRETRAIN), ('mmdet', DET)):
            init_default_scope(scope)
            model = reg.build(dict(type='simsiam_mm.SimSiam', **cfg))
            plain = reg.get('SimSiam')
            res[scope] = [type(model).__module__,
                          type(model.neck).__name__,
                          plain.__module__ if plain else None]
        print(json.dumps(res))
    ''')
    for scope in ('mmpretrain', 'mmdet'):
        assert out[scope][:2] == [
            'simsiam_mm.models.simsiam', 'SimSiamProjector'
        ], scope
    # a plain 'SimSiam' under the mmpretrain scope is still mmpretrain's
    assert out['mmpretrain'][2].startswith('mmpretrain.models')


@pytest.mark.slow
def test_import_adds_nothing_to_mmpretrain_registries():
    out = run_python('''
        import json
        import mmpretrain.datasets, mmpretrain.engine, mmpretrain.evaluation
        import mmpretrain.models, mmpretrain.visualization
        from mmengine.registry import Registry
        from mmpretrain import registry as r
        regs = {n: g for n, g in vars(r).items()
                if isinstance(g, Registry) and g.scope == 'mmpretrain'}
        before = {n: sorted(g.module_dict) for n, g in regs.items()}
        import simsiam_mm
        import simsiam_mm.registry as ours
        after = {n: sorted(g.module_dict) for n, g in regs.items()}
        added = {n: sorted(set(after[n]) - set(before[n])) for n in regs}
        children = sorted(
            n for n, g in regs.items() if 'simsiam_mm' in g.children)
        print(json.dumps(dict(added=added, children=children,
                              n_regs=len(regs),
                              ours=sorted(ours.MODELS.module_dict))))
    ''')
    assert all(not v for v in out['added'].values()), out['added']
    # every mmpretrain registry has a simsiam_mm child
    assert len(out['children']) == out['n_regs']
    assert 'SimSiam' in out['ours']
