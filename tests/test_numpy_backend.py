"""The NumPy backend against the numba kernel: same random stream, same samples, same estimates."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from carms_cli.core.engine import set_threads
from carms_cli.core.rng import uniform_py
from carms_cli.discrete.kernels import numpy_backend
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS, applicable
from carms_cli.discrete.sampling.samplers import Construction
from carms_cli.discrete.source import chunk_size, run_plan, trial_estimates

PROBLEMS = {
    "K4n3": dict(probs="0.1,0.2,0.3,0.4", objective="table", samples=3, seed=11),
    "K2": dict(probs="0.8,0.2", objective="quadratic:0.49", samples=4, seed=1),
    "K5D2-pairwise": dict(categories=5, dims=2, objective="pairwise", samples=4, seed=3),
    "K3n5": dict(categories=3, objective="linear", samples=5, seed=2, alpha=0.5),
    "K40": dict(categories=40, objective="table", samples=3, seed=4),
}

CASES = [
    (name, key)
    for key, problem in PROBLEMS.items()
    for name, spec in ESTIMATORS.items()
    if applicable(spec, build_problem(**problem, trials=1).categories, problem["samples"]) is None
    and (key != "K40" or spec.sampler.construction == Construction.INVERSE)
]


def test_every_estimator_is_covered_on_some_problem():
    assert {name for name, _ in CASES} == set(ESTIMATORS)


def test_uniforms_are_the_kernel_stream_bit_for_bit():
    key = 0xD1B54A32D192ED03
    counters = np.array([0, 1, 2, 12345, 2**40 + 7, 2**63 + 5, 2**64 - 2], dtype=np.uint64)
    got = numpy_backend.uniforms(np.uint64(key), counters)
    expected = np.array([uniform_py(key, int(c)) for c in counters])
    assert np.array_equal(got, expected)
    assert np.all((got > 0) & (got < 1))


@pytest.mark.parametrize(("name", "key"), CASES)
def test_per_trial_samples_and_estimates_equal_the_numba_kernel(name, key):
    problem = build_problem(**PROBLEMS[key], trials=1)
    spec = ESTIMATORS[name]
    plan = build_plan(problem, spec)
    count = 6 if spec.mc_pmf_draws else 64
    expected_g, expected_z = trial_estimates(plan, 1000, count)
    got_g, got_z = trial_estimates(plan, 1000, count, backend="numpy")
    assert np.array_equal(got_z, expected_z)
    assert np.allclose(got_g, expected_g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_run_plan_accumulators_equal_the_numba_kernel(name, monkeypatch):
    categories = 2 if ESTIMATORS[name].binary_only else 4
    trials = 203 if ESTIMATORS[name].mc_pmf_draws else 5003
    problem = build_problem(categories=categories, dims=2, objective="pairwise", samples=4, trials=trials, seed=5)
    plan = build_plan(problem, ESTIMATORS[name])
    expected = run_plan(plan, trials, set_threads(None))
    monkeypatch.setattr(numpy_backend, "BATCH_ELEMENTS", 1 << 14)  # several batches to merge
    assert numpy_backend.batch_size(plan) < trials
    got = run_plan(plan, trials, set_threads(None), backend="numpy")
    assert got.trials == trials
    assert np.allclose(got.mean, expected.mean, rtol=1e-9, atol=1e-12)
    assert np.allclose(got.m2, expected.m2, rtol=1e-9, atol=1e-12)
    assert got.q_sum == pytest.approx(expected.q_sum, rel=1e-9)
    assert got.q_sq_sum == pytest.approx(expected.q_sq_sum, rel=1e-9)
    assert got.extras == expected.extras
    assert got.evaluation_sum == expected.evaluation_sum
    assert got.seconds > 0


@pytest.mark.parametrize(("categories", "dims"), [(4, 3), (3, 40)])
def test_arsm_counts_the_kernels_distinct_swap_configurations(categories, dims):
    # (3, 40): K^D overflows int64, so the rows are compared lexicographically
    trials = 300
    problem = build_problem(categories=categories, dims=dims, objective="pairwise", samples=2, trials=trials, seed=7)
    plan = build_plan(problem, ESTIMATORS["arsm"])
    expected = run_plan(plan, trials, set_threads(None))
    got = run_plan(plan, trials, set_threads(None), backend="numpy")
    assert got.evaluation_sum == expected.evaluation_sum
    assert trials < got.evaluation_sum <= trials * (categories * (categories - 1) // 2 + 1)
    assert got.extras == {"unique_sum": 0, "unique_sq_sum": 0, "duplicate_sum": 0}


def test_batch_size_depends_on_the_plan_not_on_the_trials():
    problem = build_problem(categories=10, samples=4, trials=10**9, seed=0)
    plan = build_plan(problem, ESTIMATORS["carms"])
    size = numpy_backend.batch_size(plan)
    assert 1 <= size <= numpy_backend.MAX_BATCH
    heavy = build_plan(problem, ESTIMATORS["carms-g-ref"])
    assert numpy_backend.batch_size(heavy) < size


def test_progress_is_reported_after_every_batch(monkeypatch):
    problem = build_problem(categories=5, samples=3, trials=1000, seed=0)
    plan = build_plan(problem, ESTIMATORS["loorf"])
    monkeypatch.setattr(numpy_backend, "BATCH_ELEMENTS", 1 << 12)
    done = []
    numpy_backend.run_plan(plan, 1000, progress=done.append)
    assert len(done) > 1 and done == sorted(done) and done[-1] == 1000


def test_the_module_imports_no_numba():
    source = Path(numpy_backend.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert "numba" not in imported


def test_variance_backend_numpy_gives_the_cpu_numbers(cli):
    args = ["variance", "-k", 5, "-d", 2, "-o", "pairwise", "-t", 20_000, "--seed", 3, "--json", "-"]
    cpu = cli(*args)
    numpy = cli(*args, "--backend", "numpy")
    assert cpu.code == 0 and numpy.code == 0, numpy.err
    cpu_record, numpy_record = json.loads(cpu.out), json.loads(numpy.out)
    assert numpy_record["config"]["backend"] == "numpy"
    # the NumPy backend's own batch size per estimator plan, not the numba kernel's chunk size
    problem = build_problem(categories=5, dims=2, objective="pairwise", seed=3)
    assert numpy_record["config"]["chunk_size"] == {
        name: numpy_backend.batch_size(build_plan(problem, ESTIMATORS[name]))
        for name in numpy_record["config"]["estimators"]
    }
    assert cpu_record["config"]["chunk_size"] == chunk_size(samples=4, dims=2)
    for a, b in zip(cpu_record["estimators"], numpy_record["estimators"], strict=True):
        assert a["name"] == b["name"]
        assert np.allclose(a["mean"], b["mean"], rtol=1e-9, atol=1e-12)
        assert a["variance_total"] == pytest.approx(b["variance_total"], rel=1e-9)
        assert a["duplicates"]["mean_unique"] == b["duplicates"]["mean_unique"]
