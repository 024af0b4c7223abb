"""Every benchmark runs at its smallest size and prints its JSON line.

No timing is asserted: the numbers of a smoke run mean nothing. What is
checked is that each script still runs end to end against the current
package and configs, and that its report has the keys the README quotes.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_bench(script: str, *args: str, timeout: int = 300) -> dict:
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'benchmarks', script), '--smoke', *args
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_bench_step_smoke():
    report = run_bench('bench_step.py')
    assert report['bench'] == 'step'
    assert report['settings']['smoke'] is True
    assert report['settings']['schedule'] == 'lockstep'  # default on CPU
    assert set(report['arms']) == {'simsiam_mm', 'mmpretrain', 'torch'}
    for name, arm in report['arms'].items():
        assert 'error' not in arm, (name, arm)
        assert arm['median_s'] > 0 and arm['cpu_median_s'] > 0
        assert arm['pairs_per_s'] == pytest.approx(
            2 / arm['median_s'], rel=1e-2)
        assert arm['threads'] == 1
    ratios = report['ratios']
    arms = report['arms']
    assert ratios['speedup_vs_mmpretrain'] == pytest.approx(
        arms['mmpretrain']['median_s'] / arms['simsiam_mm']['median_s'],
        rel=1e-3)
    assert ratios['time_vs_torch'] == pytest.approx(
        arms['simsiam_mm']['median_s'] / arms['torch']['median_s'], rel=1e-3)
    assert ratios['cpu_time_vs_torch'] == pytest.approx(
        arms['simsiam_mm']['cpu_median_s'] / arms['torch']['cpu_median_s'],
        rel=1e-3)
    # one thread on a CPU: the targets are judged on CPU time
    targets = ratios['targets']
    assert targets['basis'] == 'cpu_time'
    assert targets['time_vs_torch_le_1_03'] == (
        ratios['cpu_time_vs_torch'] <= 1.03)
    assert targets['speedup_vs_mmpretrain_ge_1'] == (
        ratios['cpu_speedup_vs_mmpretrain'] >= 1.0)


def test_bench_step_rejects_unknown_arm():
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'benchmarks', 'bench_step.py'), '--smoke', '--arms',
        'simsiam_mm:turbo'
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=120)
    assert proc.returncode != 0
    assert "unknown option 'turbo'" in proc.stderr


@pytest.mark.slow
def test_bench_train_smoke():
    report = run_bench('bench_train.py')
    assert report['bench'] == 'train'
    assert set(report['arms']) == {'simsiam_mm', 'mmpretrain'}
    for name, arm in report['arms'].items():
        assert 'error' not in arm, (name, arm)
        assert arm['best_workers'] == 0
        for key in ('pairs_per_s', 'iter_time_s', 'data_time_s'):
            assert arm[key] > 0, (name, key)
        # mmengine's data_time is part of its iteration time
        assert arm['data_time_s'] <= arm['iter_time_s']
    pre = report['arms']['mmpretrain']['pairs_per_s']
    ours = report['arms']['simsiam_mm']['pairs_per_s']
    assert report['ratios']['simsiam_mm_vs_mmpretrain'] == pytest.approx(
        ours / pre, rel=1e-2)


@pytest.mark.slow
def test_bench_pipeline_smoke():
    report = run_bench('bench_pipeline.py')
    for mode in ('decode_augment', 'augment_only'):
        assert set(report[mode]) >= {'mmpretrain', 'official', 'simsiam_mm'}
        assert all(rate > 0 for rate in report[mode].values())
