"""The exact oracle: gradient in closed form, estimator moments by enumeration (spec 1, 15)."""

import numpy as np
import pytest

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.exact.duplicates import exact_duplicates
from carms_cli.discrete.exact.moments import (
    NotComputable,
    exact_moments,
)
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS
from carms_cli.discrete.sampling.samplers import CARMS_I_DIRICHLET, INDEPENDENT
from tests.conftest import PROBLEM_A_GRADIENT


def test_problem_a_exact_gradient(problem_a):
    assert np.allclose(problem_a().exact_gradient(), [PROBLEM_A_GRADIENT], atol=1e-15)


def _brute_force_gradient(problem):
    """∇ by enumerating all K^D configurations: Σ_z P(z) f(z) s(z)."""
    k, d_count = problem.categories, problem.dims
    configs = np.indices((k,) * d_count).reshape(d_count, -1).T
    prob = np.prod(problem.probs[np.arange(d_count), configs], axis=1)
    f = problem.objective.evaluate(configs)
    grad = np.zeros((d_count, k))
    for z, pz, fz in zip(configs, prob, f, strict=True):
        for d in range(d_count):
            score = -problem.probs[d].copy()
            score[z[d]] += 1
            grad[d] += pz * fz * score
    return grad


@pytest.mark.parametrize("objective", ["linear", "table", "quadratic:0.3", "needle:1", "pairwise"])
def test_exact_gradient_matches_brute_force(objective):
    problem = build_problem(categories=3, dims=3, objective=objective, seed=4)
    assert np.allclose(problem.exact_gradient(), _brute_force_gradient(problem), atol=1e-12)


def test_exact_gradient_of_a_full_table(tmp_path):
    table = np.random.default_rng(1).standard_normal(27)
    np.save(tmp_path / "full.npy", table)
    problem = build_problem(categories=3, dims=3, objective=f"file:{tmp_path / 'full.npy'}", seed=2)
    assert not problem.objective.additive
    assert np.allclose(problem.exact_gradient(), _brute_force_gradient(problem), atol=1e-12)


RANDOM_PROBLEMS = [
    dict(categories=2, samples=2, dims=1, seed=1),
    dict(categories=3, samples=3, dims=1, seed=2),
    dict(categories=4, samples=4, dims=1, seed=3),
    dict(categories=5, samples=3, dims=1, seed=4),
    dict(categories=5, samples=2, dims=2, seed=5),
    dict(categories=3, samples=3, dims=2, seed=6, objective="pairwise"),
    dict(categories=4, samples=3, dims=2, seed=7, objective="table"),
    dict(categories=2, samples=4, dims=2, seed=8, objective="pairwise"),
    dict(categories=3, samples=4, dims=2, seed=9, objective="quadratic:0.2", alpha=0.3),
]


@pytest.mark.parametrize("name", ["reinforce", "loorf", "carms"])
@pytest.mark.parametrize("config", RANDOM_PROBLEMS, ids=lambda c: "-".join(f"{k[0]}{v}" for k, v in c.items()))
def test_exact_mean_by_enumeration_equals_exact_gradient(name, config):
    problem = build_problem(**config)
    moments = exact_moments(problem, ESTIMATORS[name])
    assert moments.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(moments.mean, problem.exact_gradient(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["carms-gauss", "carms-sb-gauss"])
@pytest.mark.parametrize("samples", [2, 3, 4, 5])
def test_gaussian_copula_estimators_enumerate_at_every_n(problem_a, name, samples):
    moments = exact_moments(problem_a(samples=samples), ESTIMATORS[name])
    assert moments.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(moments.mean, [PROBLEM_A_GRADIENT], rtol=0, atol=1e-12)


def test_carms_g_gauss_enumerates_at_two_samples_only(problem_a):
    moments = exact_moments(problem_a(samples=2), ESTIMATORS["carms-g-gauss"])
    assert np.allclose(moments.mean, [PROBLEM_A_GRADIENT], atol=1e-12)
    with pytest.raises(NotComputable, match="winning values"):
        exact_moments(problem_a(samples=3), ESTIMATORS["carms-g-gauss"])


def test_problem_a_variances_match_the_spec(problem_a):
    # spec 9.1: CARMS-I total variance 0.4746 with the reference order set at n = 3
    carms = exact_moments(problem_a(), ESTIMATORS["carms"])
    loorf = exact_moments(problem_a(), ESTIMATORS["loorf"])
    assert carms.variance_total == pytest.approx(0.4746, abs=5e-5)
    assert carms.variance_total < loorf.variance_total


def test_loorf_on_antithetic_samples_is_biased_as_the_spec_says(problem_a):
    # spec 3: LOORF on CARMS-I samples, problem A, n = 3: bias [+0.017, −0.058, +0.058, −0.017]
    spec = EstimatorSpec("loorf-on-carms", "", CARMS_I_DIRICHLET, Weighting.LEAVE_ONE_OUT, False, "")
    problem = problem_a()
    bias = exact_moments(problem, spec).mean - problem.exact_gradient()
    assert np.allclose(bias, [[0.017, -0.058, 0.058, -0.017]], atol=1e-3)


def test_enumeration_cap():
    problem = build_problem(categories=10, samples=4, dims=2)
    with pytest.raises(NotComputable, match="exceed"):
        exact_moments(problem, ESTIMATORS["loorf"])


def test_independent_duplicate_formulas_match_enumeration():
    p = np.array([[0.1, 0.2, 0.3, 0.4]])
    n = 3
    tuples = np.indices((4,) * n).reshape(n, -1).T
    prob = np.prod(p[0][tuples], axis=1)
    distinct = np.array([len(set(t)) for t in tuples])
    exact = exact_duplicates(INDEPENDENT, p[0], n)
    assert exact.mean_unique == pytest.approx(prob @ distinct, abs=1e-14)
    assert exact.prob_any_coincide == pytest.approx(prob @ (distinct < n), abs=1e-14)
