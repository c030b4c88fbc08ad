"""The numba kernel against the naive reference, the exact oracle and itself.

Statistical tests use fixed seeds and the threshold |z| <= 5.
"""

import os

import numpy as np
import pytest

from carms_cli.core.engine import set_threads
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS
from carms_cli.discrete.sampling.samplers import Construction
from carms_cli.discrete.source import chunk_size, run_plan, trial_estimates
from tests.conftest import skip_unless_applicable
from tests.naive import naive_estimate, naive_samples

Z_MAX = 5.0
HEAVY_SCALE = float(os.environ.get("CARMS_HEAVY_SCALE", "1"))

PROBLEMS = {
    "A3": dict(probs="0.1,0.2,0.3,0.4", objective="table", samples=3, seed=11),
    "K2": dict(probs="0.8,0.2", objective="quadratic:0.49", samples=4, seed=1),
    "K2-rare0": dict(probs="0.2,0.8", objective="quadratic:0.49", samples=2, seed=1),
    "K5D2-pairwise": dict(categories=5, dims=2, objective="pairwise", samples=3, seed=3),
    "K4D2-skew": dict(probs="0.7,0.2,0.07,0.03;0.25,0.25,0.25,0.25", objective="table", samples=4, seed=5),
    "K3n6": dict(categories=3, objective="linear", samples=6, seed=2, alpha=0.5),
    "K40": dict(categories=40, objective="table", samples=3, seed=4),  # binary-search inverse CDF
    # n above FIXED_SAMPLES_MAX and D > 1: the CARMS-I/independent kernel with run-time n and D
    # (the other keys run it compiled for their fixed n, and for D = 1)
    "K4D2n9": dict(categories=4, dims=2, objective="table", samples=9, seed=6),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("key", ["A3", "K2", "K5D2-pairwise", "K3n6", "K40", "K4D2n9"])
def test_kernel_equals_naive_reference_trial_by_trial(name, key):
    problem = build_problem(**PROBLEMS[key], trials=1)
    spec = ESTIMATORS[name]
    skip_unless_applicable(spec, problem)
    if key in ("K40", "K4D2n9") and spec.sampler.construction != Construction.INVERSE:
        pytest.skip(f"{key} checks a CARMS-I/independent kernel path")
    plan = build_plan(problem, spec)
    count = 5 if spec.mc_pmf_draws else 30
    g, z = trial_estimates(plan, 1000, count)
    for t in range(count):
        expected_z = naive_samples(plan, spec, 1000 + t)
        assert np.array_equal(z[t], expected_z)
        expected_g = naive_estimate(plan, spec, problem.objective, expected_z, 1000 + t)
        assert np.allclose(g[t], expected_g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_accumulators_equal_numpy_moments_of_the_trials(name):
    problem = build_problem(**PROBLEMS["K4D2-skew"], trials=30_001)
    skip_unless_applicable(ESTIMATORS[name], problem)
    plan = build_plan(problem, ESTIMATORS[name])
    g, _ = trial_estimates(plan, 0, problem.trials)
    raw = run_plan(plan, problem.trials, set_threads(None))
    assert raw.trials == problem.trials
    assert np.allclose(raw.mean, g.mean(axis=0), rtol=1e-10, atol=1e-13)
    assert np.allclose(raw.m2, ((g - g.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-9)
    q = ((g - problem.exact_gradient()) ** 2).sum(axis=(1, 2))
    assert raw.q_sum == pytest.approx(q.sum(), rel=1e-10)
    assert raw.q_sq_sum == pytest.approx((q**2).sum(), rel=1e-10)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_results_do_not_depend_on_threads(name):
    trials = 20_003 if ESTIMATORS[name].mc_pmf_draws else 100_003
    problem = build_problem(categories=6, dims=2, objective="pairwise", samples=4, trials=trials, seed=9)
    skip_unless_applicable(ESTIMATORS[name], problem)
    plan = build_plan(problem, ESTIMATORS[name])
    one = run_plan(plan, problem.trials, set_threads(1))
    two = run_plan(plan, problem.trials, set_threads(2) if set_threads(None) >= 2 else 1)
    set_threads(None)
    for a, b in zip(one[:-1], two[:-1], strict=True):  # everything but wall time
        assert np.array_equal(a, b)


def _mc_z(raw, expected):
    variance = raw.m2 / (raw.trials - 1)
    se = np.sqrt(variance / raw.trials)
    diff = raw.mean - expected
    return np.where(se > 0, diff / np.where(se > 0, se, 1), np.where(np.abs(diff) < 1e-12, 0, np.inf))


UNBIASED = [name for name, spec in ESTIMATORS.items() if spec.unbiased_by_design]


@pytest.mark.parametrize("name", UNBIASED)
@pytest.mark.parametrize("key", [key for key in PROBLEMS if key != "K40"])
def test_monte_carlo_mean_is_within_5_se_of_the_exact_gradient(name, key):
    # UNORD's exact set probabilities cost ≈ 0.5 ms a trial at n = 9 (≈ 3,000× LOORF's): fewer trials there
    trials = 20_000 if name == "unord" and PROBLEMS[key]["samples"] > 6 else 200_000
    problem = build_problem(**PROBLEMS[key], trials=int(trials * HEAVY_SCALE))
    skip_unless_applicable(ESTIMATORS[name], problem)
    raw = run_plan(build_plan(problem, ESTIMATORS[name]), problem.trials, set_threads(None))
    z = _mc_z(raw, problem.exact_gradient())
    assert np.max(np.abs(z)) <= Z_MAX, z


@pytest.mark.parametrize("name", ["reinforce", "loorf", "carms", "carms-sb", "carms-ref", "carms-g-indep"])
@pytest.mark.parametrize("key", ["A3", "K2", "K2-rare0", "K5D2-pairwise", "K4D2-skew"])
def test_monte_carlo_variance_matches_exact_enumeration(name, key):
    """(s² − σ²)/SE(s²) with SE(s²) = √((μ₄ − σ⁴)/T) from the exact fourth central moment."""
    problem = build_problem(**PROBLEMS[key], trials=int(200_000 * HEAVY_SCALE))
    spec = ESTIMATORS[name]
    exact = exact_moments(problem, spec)
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    t = raw.trials
    variance = raw.m2 / (t - 1)
    se = np.sqrt(np.maximum(exact.fourth_central - exact.variance**2, 0) / t)
    ok = se > 0
    assert np.all(np.abs(variance[~ok] - exact.variance[~ok]) < 1e-10)
    z = (variance[ok] - exact.variance[ok]) / se[ok]
    assert np.max(np.abs(z)) <= Z_MAX, z
    total_se = np.sqrt(exact.total_spread / t)
    assert abs(variance.sum() - exact.variance_total) <= Z_MAX * total_se


@pytest.mark.parametrize("name", UNBIASED)
def test_sample_marginals_and_pair_frequencies_match_the_exact_pmf(name):
    from carms_cli.discrete.exact.pmf import pair_pmf

    problem = build_problem(probs="0.4,0.1,0.2,0.3", samples=4, trials=1, seed=3)
    spec = ESTIMATORS[name]
    skip_unless_applicable(spec, problem)
    if spec.sampler.construction == Construction.SUBSETS:
        pytest.skip("UNORD's configurations are drawn without replacement: their marginals are not p")
    plan = build_plan(problem, spec)
    count = 60_000
    _, z = trial_estimates(plan, 0, count)
    p = problem.probs[0]
    for i in range(problem.samples):
        freq = np.bincount(z[:, i, 0], minlength=4) / count
        assert np.all(np.abs(freq - p) <= Z_MAX * np.sqrt(p * (1 - p) / count))
    if not spec.has_samples:
        return  # ARSM: its swap-free configuration (checked above) is its only draw from p
    joint = pair_pmf(spec.sampler, p, problem.samples)
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (z[:, 0, 0], z[:, 2, 0]), 1)
    pairs /= count
    assert np.all(np.abs(pairs - joint) <= Z_MAX * np.sqrt(joint * (1 - joint) / count) + 1e-12)


@pytest.mark.heavy
@pytest.mark.parametrize("name", UNBIASED)
def test_heavy_unbiasedness_at_scale(name):
    """Ten million trials (times CARMS_HEAVY_SCALE; CI runs it at 0.05) at K = 10, n = 4."""
    trials = int(10_000_000 * float(os.environ.get("CARMS_HEAVY_SCALE", "0.05")))
    problem = build_problem(categories=10, samples=4, objective="table", trials=trials, seed=21)
    skip_unless_applicable(ESTIMATORS[name], problem)
    raw = run_plan(build_plan(problem, ESTIMATORS[name]), problem.trials, set_threads(None))
    assert np.max(np.abs(_mc_z(raw, problem.exact_gradient()))) <= Z_MAX


@pytest.mark.parametrize("name", ["loorf", "carms", "carms-indep", "carms-gauss"])
def test_large_k_inverse_cdf_paths_equal_naive_on_skewed_p(name):
    """K = 64 with Dirichlet(0.2) probabilities (many tiny categories): loorf goes through the
    guide table (some bucket holds many thresholds), CARMS-I walks its reference orders from
    prefix sums (no per-order tables); both must draw exactly the naive samples."""
    problem = build_problem(categories=64, alpha=0.2, objective="table", samples=4, trials=1, seed=8)
    spec = ESTIMATORS[name]
    plan = build_plan(problem, spec)
    if name == "loorf":
        assert plan.guide.shape[2] == 65 and np.max(np.diff(plan.guide[0], axis=1)) >= 5
    else:
        assert plan.pairs.shape == (64 * 63 // 2, 2) and plan.orders.size == 1
    g, z = trial_estimates(plan, 0, 400)
    for t in range(0, 400, 7):
        assert np.array_equal(z[t], naive_samples(plan, spec, t))


def test_guide_table_brackets_every_latent_value():
    from carms_cli.discrete.plan import bucket_edges, guide_table

    rng = np.random.default_rng(3)
    thresholds = np.sort(rng.random((5, 99)) ** 3, axis=1)
    guide = guide_table(thresholds)
    edges = bucket_edges(100)
    y = np.concatenate([rng.random(20_000), edges, np.nextafter(edges, 0.0)[1:]])
    y = y[(y >= 0) & (y < 1)]
    bucket = np.minimum((y * 100).astype(np.int64), 99)
    for row in range(5):
        position = np.searchsorted(thresholds[row], y, side="left")  # #{j : t_j < y}
        assert np.all(guide[row, bucket] <= position) and np.all(position <= guide[row, bucket + 1])


def test_only_the_importance_weighting_allocates_a_ratio_table():
    """loorf at K = 300, D = 3000 would need 2 GiB for a (D, K, K) ratio table it never reads."""
    from carms_cli.discrete.plan import MAX_PLAN_BYTES, plan_bytes

    big = build_problem(categories=300, dims=3000, objective="table", samples=4, trials=1, seed=0)
    assert plan_bytes(big, ESTIMATORS["loorf"]) < MAX_PLAN_BYTES < plan_bytes(big, ESTIMATORS["carms-g"])
    small = build_problem(categories=5, dims=3, objective="table", samples=4, trials=1, seed=0)
    assert build_plan(small, ESTIMATORS["loorf"]).ratio.shape == (1, 1, 1)
    assert build_plan(small, ESTIMATORS["carms-g-ref"]).ratio.shape == (1, 1, 1)
    assert build_plan(small, ESTIMATORS["carms"]).ratio.shape == (3, 5, 5)


def test_a_monte_carlo_pair_pmf_is_refused_for_carms_i():
    """The kernel's CARMS-I path has no Monte Carlo pmf (only the reference CARMS-G has one)."""
    from dataclasses import replace

    problem = build_problem(categories=4, samples=3, trials=1, seed=0)
    with pytest.raises(ValueError, match="CARMS-G only"):
        build_plan(problem, replace(ESTIMATORS["carms"], mc_pmf_draws=5))


@pytest.mark.parametrize(
    ("samples", "dims", "categories", "expected"),
    [
        (4, 1, 10, 4096),
        (4, 1, 256, 4096),
        (4, 1, 1000, 16384),  # ≥ 16 trials per category: a chunk's D·K row is amortised
        (4, 1, 10_000, 32768),
        (64, 1, 10, 4096),  # 2^18 draws
        (64, 10, 10, 1024),  # the 2^20 draws cap
        (64, 1000, 10, 64),
        (4, 100, 10_000, 2048),  # both: grown, then capped by draws
    ],
)
def test_chunk_size_grows_with_k_and_is_capped_by_draws(samples, dims, categories, expected):
    size = chunk_size(samples, dims, categories)
    assert size == expected
    assert size & (size - 1) == 0  # a power of two


def test_the_run_time_n_problem_is_above_the_fixed_sample_counts():
    from carms_cli.discrete.kernels.trial import FIXED_SAMPLES_MAX

    assert PROBLEMS["K4D2n9"]["samples"] > FIXED_SAMPLES_MAX
