"""Registries of the ``simsiam_mm`` scope.

Each registry is a child of the matching mmpretrain registry (itself a child
of mmengine's root), so that with ``default_scope='simsiam_mm'`` a config
reaches this project's types *and* everything mmpretrain and mmengine
register (``ResNet``, ``MultiView``, ``LARS``, ``CosineAnnealingLR`` ...),
while ``type='simsiam_mm.SimSiam'`` resolves from a config whose default
scope is ``mmpretrain`` or ``mmdet``. Nothing is ever registered into
mmpretrain's own registries: it already owns ``SimSiam``, ``SimSiamHook``
and friends.
"""
# The parent packages register their types on import; a child registry
# never triggers its parent's lazy imports, so import them here.
import mmpretrain.datasets  # noqa: F401
import mmpretrain.engine  # noqa: F401
import mmpretrain.evaluation  # noqa: F401
import mmpretrain.models  # noqa: F401
import mmpretrain.visualization  # noqa: F401
from mmengine.registry import Registry
from mmpretrain import registry as pretrain

SCOPE = 'simsiam_mm'


def _child(parent: Registry, *locations: str) -> Registry:
    registry = Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[f'{SCOPE}.{loc}' for loc in locations])
    # mmengine resolves a scoped name ('simsiam_mm.SimSiam') only through
    # the direct children of the asking registry or of the root. Our node
    # is a grandchild of the root (root -> mmpretrain -> simsiam_mm), so it
    # is also made known to the root: then 'simsiam_mm.X' resolves from an
    # mmdet (or any other) scope too, while unscoped look-ups still fall
    # back through mmpretrain to the root.
    root = parent._get_root_registry()
    root._children.setdefault(SCOPE, registry)
    return registry


RUNNERS = _child(pretrain.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child(pretrain.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child(pretrain.LOOPS, 'engine')
HOOKS = _child(pretrain.HOOKS, 'engine')
LOG_PROCESSORS = _child(pretrain.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child(pretrain.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child(pretrain.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(pretrain.OPTIM_WRAPPER_CONSTRUCTORS,
                                    'engine')
PARAM_SCHEDULERS = _child(pretrain.PARAM_SCHEDULERS, 'engine')

DATASETS = _child(pretrain.DATASETS, 'datasets')
DATA_SAMPLERS = _child(pretrain.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(pretrain.TRANSFORMS, 'datasets')

MODELS = _child(pretrain.MODELS, 'models')
MODEL_WRAPPERS = _child(pretrain.MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child(pretrain.WEIGHT_INITIALIZERS, 'models')
BATCH_AUGMENTS = _child(pretrain.BATCH_AUGMENTS, 'models')
TASK_UTILS = _child(pretrain.TASK_UTILS, 'models')
TOKENIZER = _child(pretrain.TOKENIZER, 'models')

METRICS = _child(pretrain.METRICS, 'evaluation')
EVALUATORS = _child(pretrain.EVALUATORS, 'evaluation')

VISUALIZERS = _child(pretrain.VISUALIZERS, 'engine')
VISBACKENDS = _child(pretrain.VISBACKENDS, 'engine')
