"""Binary mode (K = 2, gradient w.r.t. φ): ARM, DisARM, ARMS-D, ARMS-N, and the binary forms of
reinforce / loorf / carms (spec sections 4, 8 and 15)."""

import numpy as np
import pytest

from carms_cli.core.engine import set_threads
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS, parse_estimators
from carms_cli.discrete.source import run_plan, trial_estimates
from tests.naive import naive_estimate, naive_samples

Z_MAX = 5.0
BINARY = ["reinforce", "loorf", "carms", "arm", "disarm", "arms", "arms-gauss"]
PS = [0.05, 0.3, 0.5, 0.7, 0.95]
NS = [2, 4, 6]


def _problem(p, n, trials=1, **extra):
    return build_problem(probs=f"{1 - p},{p}", objective="quadratic:0.49", samples=n, trials=trials, **extra)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("n", NS)
def test_exact_mean_is_the_gradient(name, p, n):
    problem = _problem(p, n)
    moments = exact_moments(problem, ESTIMATORS[name])  # every binary estimator: arms-gauss too (any n)
    assert moments.probability_total == pytest.approx(1.0, abs=1e-12)
    gradient = problem.exact_gradient()
    assert gradient[0, 1] == pytest.approx(0.02 * p * (1 - p), abs=1e-15)  # the ARMS toy: (1 − 2 p0) p (1 − p)
    assert np.allclose(moments.mean, gradient, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("n", NS)
def test_monte_carlo_mean_and_variance(name, p, n):
    problem = _problem(p, n, trials=200_000, seed=int(100 * p) + n)
    spec = ESTIMATORS[name]
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    variance = raw.m2[0, 1] / (raw.trials - 1)
    gradient = problem.exact_gradient()[0, 1]
    se = np.sqrt(variance / raw.trials)
    # + rounding: at p = 0.5 DisARM and ARMS with n = 2 are exact (zero variance)
    assert abs(raw.mean[0, 1] - gradient) <= Z_MAX * se + 1e-12 * abs(gradient)
    exact = exact_moments(problem, spec)
    spread = np.sqrt(max(exact.fourth_central[0, 1] - exact.variance[0, 1] ** 2, 0.0) / raw.trials)
    # + the O(σ²/T) term of the sample variance: it is all that is left when (g − μ)² is constant
    # a zero-variance estimator's MC variance is pure rounding of the sparse sums (~1e-16 · E[g²])
    rounding = 1e-13 * gradient**2
    tolerance = Z_MAX * spread + Z_MAX**2 * exact.variance[0, 1] / raw.trials + rounding
    assert abs(variance - exact.variance[0, 1]) <= tolerance


@pytest.mark.parametrize("name", ["arm", "disarm"])
def test_pair_estimators_equal_the_naive_reference(name):
    problem = build_problem(probs="0.6,0.4;0.2,0.8;0.9,0.1", objective="pairwise", samples=4, trials=1, seed=5)
    spec = ESTIMATORS[name]
    plan = build_plan(problem, spec)
    g, z = trial_estimates(plan, 77, 50)
    for t in range(50):
        expected_z = naive_samples(plan, spec, 77 + t)
        assert np.array_equal(z[t], expected_z)
        assert np.allclose(g[t], naive_estimate(plan, spec, problem.objective, expected_z, 77 + t), atol=1e-14)


@pytest.mark.parametrize("name", ["arm", "disarm", "arms"])
def test_several_binary_variables_are_unbiased(name):
    problem = build_problem(probs="0.6,0.4;0.2,0.8;0.9,0.1", objective="pairwise", samples=4, seed=5, trials=200_000)
    spec = ESTIMATORS[name]
    exact = exact_moments(problem, spec)
    assert np.allclose(exact.mean, problem.exact_gradient(), atol=1e-12)
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    variance = raw.m2 / (raw.trials - 1)
    z = (raw.mean - problem.exact_gradient()) / np.sqrt(variance / raw.trials)
    assert np.max(np.abs(z)) <= Z_MAX
    spread = np.sqrt(np.maximum(exact.fourth_central - exact.variance**2, 0) / raw.trials)
    assert np.max(np.abs(variance - exact.variance) / spread) <= Z_MAX
    assert abs(variance.sum() - exact.variance_total) <= Z_MAX * np.sqrt(exact.total_spread / raw.trials)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7, 0.9])
def test_arms_at_two_samples_equals_disarm_sample_by_sample(p):
    """ARMS-D at n = 2 is DisARM: apply DisARM's formula to ARMS's own pair (b̃, b) = (z_1, z_2)."""
    problem = _problem(p, 2)
    plan = build_plan(problem, ESTIMATORS["arms"])
    g, z = trial_estimates(plan, 0, 5000)
    f = problem.objective.evaluate(z)  # (T, 2)
    b, b_tilde = z[:, 1, 0], z[:, 0, 0]
    if p > 0.5:  # the inversion puts the rare value 0 first: the roles of the two samples swap
        b, b_tilde = b_tilde, b
        f = f[:, ::-1]
    disarm = 0.5 * (f[:, 1] - f[:, 0]) * max(p, 1 - p) * (b - b_tilde)
    assert np.allclose(g[:, 0, 1], disarm, atol=1e-15)


def test_arms_toy_at_n4_p03_arms_beats_disarm_and_loorf(cli):
    record = cli(
        "variance",
        "--binary",
        "--probs",
        "0.7,0.3",
        "-o",
        "quadratic:0.49",
        "-n",
        4,
        "-t",
        200_000,
        "--exact",
        "--json",
        "-",
    ).json()
    assert record["config"]["binary"] is True
    totals = {e["name"]: e["variance_total"] for e in record["estimators"]}
    assert list(totals) == ["reinforce", "loorf", "arm", "disarm", "arms", "arms-gauss"]
    assert totals["arms"] < totals["disarm"] and totals["arms"] < totals["loorf"]
    for entry in record["estimators"]:
        assert np.asarray(entry["mean"]).shape == (1, 1)  # one φ-gradient per variable
        assert entry["unbiased"] is True
    table = cli("variance", "--binary", "--probs", "0.7,0.3", "-o", "quadratic:0.49", "-n", 4, "-t", 100_000)
    assert "arms: total variance" in table.out and "is below loorf's" in table.out


def test_binary_input_errors(cli):
    odd = cli("variance", "--binary", "-n", 3, "-e", "arm")
    assert odd.code == 2 and "--samples must be even" in odd.err
    wrong_k = cli("variance", "-k", 3, "-e", "disarm")
    assert wrong_k.code == 2 and "is binary" in wrong_k.err
    both = cli("variance", "--binary", "-k", 3)
    assert both.code == 2 and "--binary means --categories 2" in both.err


def test_default_and_all_sets_follow_the_problem():
    assert [s.name for s in parse_estimators(None, 2, 4)] == [
        "reinforce",
        "loorf",
        "arm",
        "disarm",
        "arms",
        "arms-gauss",
    ]
    assert "arm" not in [s.name for s in parse_estimators(None, 2, 3)]
    assert all(not s.binary_only for s in parse_estimators("all", 5, 4))


@pytest.mark.parametrize("p", PS)
def test_arms_gauss_is_exact_at_three_samples(p):
    """K = 2, n = 3: the Gaussian copula's pattern pmf is closed-form (G(3) = 0)."""
    problem = _problem(p, 3, trials=300_000, seed=3)
    spec = ESTIMATORS["arms-gauss"]
    exact = exact_moments(problem, spec)
    assert exact.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(exact.mean, problem.exact_gradient(), atol=1e-12)
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    variance = raw.m2[0, 1] / (raw.trials - 1)
    spread = np.sqrt(max(exact.fourth_central[0, 1] - exact.variance[0, 1] ** 2, 0.0) / raw.trials)
    rounding = 1e-13 * problem.exact_gradient()[0, 1] ** 2  # zero-variance case: rounding of the sums
    assert abs(variance - exact.variance[0, 1]) <= Z_MAX * spread + rounding
