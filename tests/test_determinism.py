"""Reproducible by construction: every random draw of the view pipeline is a
function of (seed, epoch, dataset index, view), so on CPU with
``deterministic=True`` the weights are bit-identical for any number of
loader workers (fork or spawn, persistent or not), after SIGKILLs at random
moments followed by ``--resume auto``, and two gloo processes draw exactly
the views one process draws for the same indices.

The runs train the demo config shrunk (16 px views, 16 base channels, 32-d
heads) on 20 UCI digits plus two bad files, in skip mode, so that the
replacement of a bad file is exercised as well.
"""
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from _digits import write_digits
from _train_utils import env, train_cmd
from mmengine.dataset import default_collate
from scipy import stats

from simsiam_mm.datasets import (NUM_UNIFORMS, SafeLoadImageFromFile,
                                 SampleKey, SeededSampler,
                                 SimSiamDeviceAugPreprocessor, SimSiamViews,
                                 ViewRecipe, view_params_from_uniforms)
from simsiam_mm.datasets.seeding import (VIEW, hash_fields, stream_uniforms,
                                         view_uniforms)
from simsiam_mm.engine import runtime
from simsiam_mm.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'configs' / 'simsiam_r18-cifar_1xb64_digits-demo.py'
TINY = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, hid_channels=32, out_channels=32),
    head=dict(in_channels=32, hid_channels=8, out_channels=32))
PIPELINE = [
    dict(type='SafeLoadImageFromFile', skip_bad_images=True),
    dict(type='SimSiamViews', size=16, blur_prob=0.5),
    dict(type='PackInputs'),
]

# ------------------------------------------------------------- the keys


def colourful(height=40, width=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def views_of(key, img=None, **kwargs):
    transform = SimSiamViews(size=16, record_params=True, **kwargs)
    out = transform(
        dict(img=colourful() if img is None else img, sample_idx=key))
    return out['view_params'], out['img']


def test_a_key_draws_the_same_views_whatever_the_global_state():
    torch.manual_seed(0)
    np.random.seed(0)
    params, views = views_of(SampleKey(7, seed=3, epoch=2))
    torch.manual_seed(99)
    torch.rand(17)
    again, views_again = views_of(SampleKey(7, seed=3, epoch=2))
    assert params == again
    assert all(torch.equal(a, b) for a, b in zip(views, views_again))
    assert params[0] != params[1]  # the views are drawn apart


@pytest.mark.parametrize('field', ['seed', 'epoch', 'index', 'attempt'])
def test_every_field_of_the_key_changes_the_draw(field):
    base = dict(index=7, seed=3, epoch=2, attempt=0)
    changed = dict(base, **{field: base[field] + 1})
    a, _ = views_of(
        SampleKey(
            base['index'],
            base['seed'],
            base['epoch'],
            attempt=base['attempt']))
    b, _ = views_of(
        SampleKey(
            changed['index'],
            changed['seed'],
            changed['epoch'],
            origin=changed['index'],
            attempt=changed['attempt']))
    assert a[0] != b[0] and a[1] != b[1]


def test_unseeded_key_or_plain_index_follows_torch_generator():
    for key in (SampleKey(7), 7, None):
        torch.manual_seed(5)
        a, _ = views_of(key)
        torch.manual_seed(5)
        b, _ = views_of(key)
        torch.manual_seed(6)
        c, _ = views_of(key)
        assert a == b and a != c


def test_hash_and_stream_are_fixed_functions():
    """SplitMix64 (Steele et al. 2014): the first output of the stream
    started at 0 is the published 0xE220A8397B1DCDAF; the hash of a key
    is a plain function of its fields, the same in every process."""
    first = stream_uniforms([0], 1)[0, 0]
    assert first == (0xE220A8397B1DCDAF >> 11) / 2.**53
    assert hash_fields(0, 0, 5, 0, VIEW,
                       1) == SampleKey(5, 0, 0).stream_start(VIEW, 1)
    assert hash_fields(1, 2) != hash_fields(2, 1)
    assert hash_fields(-1) == hash_fields((1 << 64) - 1)


def test_keyed_uniforms_are_uniform_and_independent():
    keys = [SampleKey(i, seed=0, epoch=0) for i in range(2000)]
    u = np.stack([view_uniforms(k, 2, NUM_UNIFORMS) for k in keys])
    assert u.shape == (2000, 2, NUM_UNIFORMS)
    assert stats.kstest(u.ravel(), 'uniform').pvalue > 1e-3
    # view 0 vs view 1, one index vs the next, one position vs the next
    n = u.shape[0] * NUM_UNIFORMS
    bound = 4.5 / np.sqrt(n)
    for a, b in ((u[:, 0], u[:, 1]), (u[:-1, 0], u[1:,
                                                   0]), (u[:, 0, :-1], u[:, 0,
                                                                         1:])):
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(r) < bound, r
    # and pairs fill the unit square evenly (10 x 10 cells)
    cells = np.floor(u[:, 0, :2] * 10).astype(int)
    counts = np.bincount(cells[:, 0] * 10 + cells[:, 1], minlength=100)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_device_views_per_sample_keys():
    """The device preprocessor draws each sample's parameters from its key:
    the same whatever else is in the batch, and the same as the CPU
    transform's for the same key."""

    class Sample:

        def __init__(self, key):
            self.sample_idx = key
            self.ori_shape = (40, 48)

    pre = SimSiamDeviceAugPreprocessor(size=16, blur_prob=0.5)
    imgs = torch.stack([
        torch.from_numpy(colourful(seed=s)).permute(2, 0, 1) for s in range(3)
    ]).float() / 255
    keys = [SampleKey(i, seed=1, epoch=4) for i in (10, 11, 12)]
    views, drawn = pre.augment(
        imgs, [Sample(k) for k in keys], return_params=True)
    order = [2, 0]
    torch.manual_seed(123)
    other, _ = pre.augment(
        imgs[order], [Sample(keys[i]) for i in order], return_params=True)
    for v in range(2):
        torch.testing.assert_close(other[v], views[v][order], rtol=0, atol=0)
    recipe = ViewRecipe(size=16, blur_prob=0.5)
    for i, key in enumerate(keys):
        for v in range(2):
            cpu = view_params_from_uniforms(
                view_uniforms(key, 2, NUM_UNIFORMS)[v].tolist(), 40, 48,
                recipe)
            assert tuple(drawn[v]['crop'][i].int().tolist()) == cpu.crop
            assert tuple(drawn[v]['order'][i].tolist()) == cpu.order
            assert bool(drawn[v]['flip'][i]) == cpu.flip
            assert bool(drawn[v]['grayscale'][i]) == cpu.grayscale
    # without keys the batch still draws (from torch's generator)
    assert not torch.equal(pre.augment(imgs)[0], pre.augment(imgs)[0])


# ------------------------------------------------------ loader workers

BAD = {'bad_cut.png': b'\x89PNG\r\n\x1a\n\x00\x00', 'bad_empty.png': b''}


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    """20 training digits (2 per class) and two bad files."""
    root = tmp_path_factory.mktemp('digits')
    write_digits(str(root), train_per_class=2, val_per_class=1, size=16)
    for name, data in BAD.items():
        (root / 'train' / '3' / name).write_bytes(data)
    return str(root)


def epoch_views(dataset, num_workers, epochs=2, **loader_kwargs):
    sampler = SeededSampler(dataset, shuffle=True, seed=0)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=4,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=default_collate,
        timeout=120 if num_workers else 0,
        **loader_kwargs)
    out = {}
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            for i, sample in enumerate(batch['data_samples']):
                key = sample.sample_idx
                out[(epoch, key.origin)] = (int(key), key.attempt,
                                            torch.stack([
                                                v[i] for v in batch['inputs']
                                            ]))
    return out


def assert_same_views(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key][:2] == b[key][:2], key
        assert torch.equal(a[key][2], b[key][2]), key


@pytest.mark.slow
def test_views_do_not_depend_on_workers_or_start_method(digits):
    dataset = DATASETS.build(
        dict(
            type='CustomDataset',
            data_root=digits,
            data_prefix='train',
            with_label=False,
            pipeline=PIPELINE))
    reference = epoch_views(dataset, 0)
    assert len(reference) == 2 * len(dataset)
    replaced = {k: v for k, v in reference.items() if v[1]}
    assert len(replaced) == 2 * len(BAD)  # each bad file, each epoch
    for (epoch, index), (loaded, _, views) in reference.items():
        if epoch == 0:  # the epoch is part of the key
            assert not torch.equal(views, reference[(1, index)][2])
    assert_same_views(reference, epoch_views(dataset, 3))
    assert_same_views(
        reference,
        epoch_views(
            dataset,
            1,
            persistent_workers=True,
            multiprocessing_context='spawn'))


# ------------------------------------------------------- whole training

CONFIG = '''
_base_ = [{demo!r}]
custom_imports = dict(imports={imports!r}, allow_failed_imports=False)
model = {model!r}
train_dataloader = dict(
    batch_size={batch},
    num_workers={workers},
    persistent_workers={persistent},
    dataset=dict(data_root={data!r}, pipeline={pipeline!r}))
train_cfg = dict(max_epochs={epochs})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=2, latest_interval=3))
custom_hooks = [
    dict(type='FixedLRHook'),
    dict(type='NaNGuardHook'),
] + {hooks!r}
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=True)
'''


def write_config(path,
                 data,
                 workers,
                 batch=4,
                 epochs=2,
                 hooks=(),
                 imports=('_repro_helpers', )) -> str:
    """A config file: the shrunk demo on ``data`` (see the module doc)."""
    path.write_text(
        CONFIG.format(
            demo=str(DEMO),
            imports=list(imports),
            model=TINY,
            batch=batch,
            workers=workers,
            persistent=workers > 0,
            data=data,
            pipeline=PIPELINE,
            epochs=epochs,
            hooks=list(hooks)))
    return str(path)


def train_in_process(config: str, work_dir: Path):
    """Train with one thread, as the subprocesses (OMP_NUM_THREADS=1): on a
    busy machine torch's spinning threads cost ten times the CPU."""
    cfg = runtime.load_config(config)
    cfg.experiment_name = f'test_{uuid.uuid4().hex[:8]}'
    runtime.apply_train_args(cfg, config, work_dir=str(work_dir))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = runtime.run(cfg)
    finally:
        torch.set_num_threads(threads)
    model = getattr(runner.model, 'module', runner.model)
    return runner, {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def spy_on_skips(monkeypatch, path: Path) -> None:
    """Append ``<epoch>`` to ``path`` at every skip, in any (forked)
    worker: the ground truth for the count in the main process."""
    original = SafeLoadImageFromFile._skip

    def spy(transform, error, key):
        with open(path, 'a') as f:
            f.write(f'{key.epoch}\n')
        return original(transform, error, key)

    monkeypatch.setattr(SafeLoadImageFromFile, '_skip', spy)


def logged_skips(work_dir: Path) -> list:
    """``(epoch, count, total)`` of each epoch-end line of the hook."""
    pattern = re.compile(r'Epoch (\d+): (\d+) bad image file\(s\) skipped '
                         r'and replaced, (\d+) since')
    log, = work_dir.glob('*/*.log')
    return [
        tuple(map(int, m.groups())) for m in pattern.finditer(log.read_text())
    ]


@pytest.mark.slow
def test_weights_bit_identical_for_any_number_of_workers(
        digits, tmp_path, monkeypatch):
    """2 epochs x 5 iterations of the shrunk demo with 0, 1 and 3 loader
    workers (persistent): the same weights, bit for bit. The bad files
    skipped in the workers are counted exactly in the main process and
    logged at each epoch end."""
    weights = {}
    for workers in (0, 1, 3):
        skips = tmp_path / f'skips{workers}.txt'
        skips.touch()
        spy_on_skips(monkeypatch, skips)
        config = write_config(
            tmp_path / f'w{workers}.py',
            digits,
            workers,
            hooks=[dict(type='RecordViewsHook')])
        work = tmp_path / f'w{workers}'
        runner, weights[workers] = train_in_process(config, work)
        assert runner.iter == 10
        truth = skips.read_text().split()  # the keys' epochs
        assert len(truth) > 0  # seed 0 visits the bad files
        assert runner.message_hub.get_info('bad_images_skipped') == \
            len(truth)
        if 'None' not in truth:  # keyed: the skips of each epoch
            per_epoch = [truth.count(str(e)) for e in (0, 1)]
            assert logged_skips(work) == [(1, per_epoch[0], per_epoch[0]),
                                          (2, per_epoch[1], len(truth))]
    assert_same_weights(weights[0], weights[1])
    assert_same_weights(weights[0], weights[3])
    views = torch.load(tmp_path / 'w0' / 'views_rank0.pt')
    assert len(views) == 40  # 20 per epoch: 22 files, batch 4, drop_last
    assert views.keys() == torch.load(tmp_path / 'w3' /
                                      'views_rank0.pt').keys()


def logged_since(losses: Path, start: int) -> int:
    """Iterations logged after the first ``start`` bytes of the file."""
    if not losses.exists():
        return 0
    return losses.read_bytes()[start:].count(b'\n')


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_auto(digits, tmp_path):
    """3 epochs x 5 iterations with 2 persistent workers, a checkpoint
    every 3 iterations and at every epoch end. Three SIGKILLs, each at a
    random moment after a random iteration, each followed by
    ``--resume auto``: the final weights equal an uninterrupted run's."""
    config = write_config(
        tmp_path / 'cfg.py',
        digits,
        workers=2,
        epochs=3,
        hooks=[dict(type='_train_spies.RecordHook')],
        imports=('_train_spies', ))
    killed, full = tmp_path / 'killed', tmp_path / 'full'
    reference = subprocess.Popen(
        train_cmd(config, full),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True)
    rng = np.random.default_rng(int(time.time()))  # any moment, each run
    losses = killed / 'losses_rank0.txt'
    kills = []
    for _ in range(3):
        start = losses.stat().st_size if losses.exists() else 0
        after = int(rng.integers(1, 9))  # iterations into this segment
        victim = subprocess.Popen(
            train_cmd(config, killed, '--resume', 'auto'),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while victim.poll() is None and time.time() < deadline and \
                logged_since(losses, start) < after:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0, 0.3)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills.append((after, logged_since(losses, start)))
    final = subprocess.run(
        train_cmd(config, killed, '--resume', 'auto'),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err[-3000:]
    assert_same_weights(
        torch.load(killed / 'params_rank0.pt'),
        torch.load(full / 'params_rank0.pt'))
    print('killed after iterations', kills)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_draw_the_views_of_one(digits, tmp_path):
    """tools/dist_train.sh with 2 CPU processes (batch 2 each) and one
    process (batch 4), 2 epochs: every (epoch, index) trained on has the
    same views, and the two processes together see the one's samples."""
    hooks = [dict(type='RecordViewsHook')]
    config = write_config(
        tmp_path / 'ddp.py', digits, workers=1, batch=2, hooks=hooks)
    proc = subprocess.run([
        'bash',
        str(REPO / 'tools' / 'dist_train.sh'), config, '2', '--work-dir',
        str(tmp_path / 'ddp')
    ],
                          env=env(
                              PYTHON=sys.executable, PORT=str(free_port())),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ranks = [
        torch.load(tmp_path / 'ddp' / f'views_rank{r}.pt') for r in (0, 1)
    ]
    assert not ranks[0].keys() & ranks[1].keys()
    single = write_config(
        tmp_path / 'one.py', digits, workers=0, batch=4, hooks=hooks)
    runner, _ = train_in_process(single, tmp_path / 'one')
    # the same samples, the same bad files skipped: summed over processes
    logged = logged_skips(tmp_path / 'ddp')
    assert logged == logged_skips(tmp_path / 'one')
    assert logged[-1][2] == runner.message_hub.get_info('bad_images_skipped')
    one = torch.load(tmp_path / 'one' / 'views_rank0.pt')
    assert len(one) == 40
    assert one.keys() == ranks[0].keys() | ranks[1].keys()
    for key, views in one.items():
        rank = ranks[0] if key in ranks[0] else ranks[1]
        assert torch.equal(views, rank[key]), key
