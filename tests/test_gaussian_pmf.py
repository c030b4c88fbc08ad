"""Gaussian-copula n-tuple pmfs by the 1-D Fourier integral (carms_cli/discrete/exact/gaussian.py).

Every check here is against an independent method: a real adaptive integral (n = 3), the Genz
bivariate normal CDF (pair marginals), closed forms (n = 2; binary n = 3 orthants), a finer
quadrature, and sampled tuples; then the estimators that became exact: their exact mean is the
gradient and their Monte Carlo variance is the exact one.
"""

from math import comb

import numpy as np
import pytest
from scipy import integrate, special

from carms_cli.core.engine import set_threads
from carms_cli.discrete.exact import gaussian
from carms_cli.discrete.exact.inverse import binary_order
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.exact.pmf import pair_pmf, tuple_pmf
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS
from carms_cli.discrete.sampling.copulas import bivariate_normal_cdf, gaussian_rho
from carms_cli.discrete.sampling.samplers import CARMS_I_GAUSSIAN, CARMS_SB_GAUSSIAN
from carms_cli.discrete.source import run_plan, sample_sets

Z_MAX = 5.0


def _orthant_three(g):
    """n = 3 by a real integral: (W1, W2) bivariate normal (var 2/3, cov −1/3), W3 = −W1 − W2.

    ``P(W ≤ g) = ∫_{w1 ≤ g1} f(w1) P(−g3 − w1 ≤ W2 ≤ g2 | w1) dw1`` with ``W2 | w1 ~ N(−w1/2, 1/2)``.
    """

    def integrand(w):
        inside = special.ndtr((g[1] + w / 2) / np.sqrt(0.5)) - special.ndtr((-g[2] - w / 2) / np.sqrt(0.5))
        return np.exp(-0.75 * w * w) / np.sqrt(2 * np.pi * 2 / 3) * max(inside, 0.0)

    low = -g[1] - g[2]
    if g[0] <= low:
        return 0.0
    return integrate.quad(integrand, low, g[0], epsabs=1e-16, epsrel=1e-13, limit=200)[0]


def test_three_dimensional_orthants_match_a_real_integral():
    rng = np.random.default_rng(7)
    bounds = rng.normal(size=(120, 3)) * 1.2
    bounds[:30] *= 0.2  # near the origin: ω = Σγ small
    bounds[30:40, 2] = -bounds[30:40, :2].sum(axis=1)  # ω = 0 exactly: algebraic decay only
    reference = np.array([_orthant_three(g) for g in bounds])
    assert np.abs(gaussian.orthant_probabilities(bounds, 3) - reference).max() < 2e-15


@pytest.mark.parametrize("n", [3, 4, 6, 8])
def test_two_named_coordinates_are_the_bivariate_normal(n):
    """Bounds on two of the n coordinates (the rest free): Φ₂(h, k; −1/(n−1)) by Genz's rule."""
    rng = np.random.default_rng(n)
    latent = rng.normal(size=(200, 2)) * 1.5
    free = np.full((200, n - 2), np.inf)
    named = gaussian.orthant_probabilities(latent / gaussian.scale(n), n)
    padded = gaussian.orthant_probabilities(np.hstack([latent / gaussian.scale(n), free]), n)
    genz = bivariate_normal_cdf(latent[:, 0], latent[:, 1], gaussian_rho(n))
    assert np.abs(named - genz).max() < 1e-15 and np.abs(padded - genz).max() < 1e-15


def test_two_samples_are_countermonotone():
    """n = 2: W2 = −W1 ~ N(0, 1/2), so P(W ≤ γ) = max(Φ(√2 γ1) − Φ(−√2 γ2), 0)."""
    rng = np.random.default_rng(2)
    bounds = rng.normal(size=(100, 2))
    exact = np.maximum(special.ndtr(np.sqrt(2) * bounds[:, 0]) - special.ndtr(-np.sqrt(2) * bounds[:, 1]), 0)
    assert np.abs(gaussian.orthant_probabilities(bounds, 2) - exact).max() < 1e-14


@pytest.mark.parametrize("n", [3, 5, 8])
def test_the_default_rules_agree_with_finer_ones(n, monkeypatch):
    """Halving the head step and a third more ray nodes per panel move no orthant by 1e−15."""
    rng = np.random.default_rng(10 + n)
    bounds = rng.normal(size=(400, n))
    bounds[:100] *= 0.1
    bounds[100:120, 0] = np.inf
    default = gaussian.orthant_probabilities(bounds, n)
    monkeypatch.setattr(gaussian, "HEAD_STEP", gaussian.HEAD_STEP / 2)
    monkeypatch.setattr(gaussian, "RAY_PANEL_NODES", 32)
    gaussian.head_rule.cache_clear()
    gaussian.ray_rule.cache_clear()
    try:
        finer = gaussian.orthant_probabilities(bounds, n)
    finally:
        monkeypatch.undo()
        gaussian.head_rule.cache_clear()
        gaussian.ray_rule.cache_clear()
    assert np.abs(default - finer).max() < 1e-15


def _binary_three_closed_form(p):
    """K = 2, n = 3 pattern pmf from orthants: G(0) = 1, G(1) = p_r, G(2) = Φ₂(t, t; −1/2), G(3) = 0."""
    rare = int(binary_order(p)[0, 0])
    t = special.ndtri(p[rare])
    orthant = [1.0, p[rare], float(bivariate_normal_cdf(t, t, gaussian_rho(3))), 0.0]
    out = np.zeros((2, 2, 2))
    for pattern in np.ndindex(*out.shape):
        j = sum(1 for z in pattern if z == rare)
        out[pattern] = sum((-1) ** i * comb(3 - j, i) * orthant[j + i] for i in range(3 - j + 1))
    return out


@pytest.mark.parametrize("q", [0.02, 0.3, 0.5, 0.8])
def test_binary_three_samples_match_the_closed_form(q):
    p = np.array([q, 1 - q])
    assert np.abs(tuple_pmf(CARMS_I_GAUSSIAN, p, 3) - _binary_three_closed_form(p)).max() < 1e-15


@pytest.mark.parametrize("sampler", [CARMS_I_GAUSSIAN, CARMS_SB_GAUSSIAN], ids=lambda s: s.name)
@pytest.mark.parametrize("k,n", [(4, 3), (4, 4), (3, 6), (3, 8), (2, 8)])
def test_tuple_pmf_sums_to_one_and_its_pairs_are_the_pair_pmf(sampler, k, n):
    p = np.random.default_rng(k * n).dirichlet(np.ones(k))
    pmf = tuple_pmf(sampler, p, n)
    assert pmf.shape == (k,) * n and np.all(pmf >= 0)
    assert abs(pmf.sum() - 1.0) < 1e-13
    pair = pmf.sum(axis=tuple(range(2, n)))
    # sums of K^(n−2) tuples; against Genz Φ₂ (CARMS-I) or the closed form (stick-breaking)
    assert np.abs(pair - pair_pmf(sampler, p, n)).max() < 1e-13
    assert np.abs(np.transpose(pmf, np.roll(np.arange(n), 1)) - pmf).max() == 0.0  # exchangeable


@pytest.mark.parametrize("sampler,k,n", [(CARMS_I_GAUSSIAN, 3, 5), (CARMS_I_GAUSSIAN, 2, 7)], ids=["K3n5", "K2n7"])
def test_tuple_pmf_matches_the_kernels_samples(sampler, k, n):
    """Tuple frequencies of 3·10⁵ sets drawn by the kernel itself (Box–Muller, its own stream)."""
    p = np.array([0.5, 0.3, 0.2])[:k] if k == 3 else np.array([0.15, 0.85])
    pmf = tuple_pmf(sampler, p, n).ravel()
    count = 300_000
    z = np.concatenate(list(sample_sets(sampler, p, n, count, seed=5)))
    frequency = np.bincount(np.ravel_multi_index(tuple(z.T), (k,) * n), minlength=k**n) / count
    se = np.sqrt(pmf * (1 - pmf) / count)
    assert np.all(frequency[pmf == 0] == 0)
    assert np.abs((frequency - pmf)[se > 0] / se[se > 0]).max() < 5.5  # k^n cells


NEWLY_EXACT = [
    ("carms-gauss", dict(probs="0.4,0.1,0.2,0.3", samples=3, seed=1, objective="table")),
    ("carms-gauss", dict(categories=3, samples=5, dims=2, seed=4, objective="pairwise")),
    ("carms-sb-gauss", dict(probs="0.4,0.1,0.2,0.3", samples=4, seed=2, objective="table")),
    ("carms-sb-gauss", dict(categories=3, samples=6, seed=3, objective="table")),
    ("arms-gauss", dict(probs="0.8,0.2", samples=5, seed=5, objective="quadratic:0.49")),
    ("arms-gauss", dict(probs="0.1,0.9", samples=8, seed=6, objective="quadratic:0.49")),
]


@pytest.mark.parametrize("name,config", NEWLY_EXACT, ids=lambda c: c if isinstance(c, str) else "")
def test_newly_exact_estimators_mean_and_monte_carlo_variance(name, config):
    problem = build_problem(trials=100_000, **config)
    spec = ESTIMATORS[name]
    exact = exact_moments(problem, spec)
    assert exact.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(exact.mean, problem.exact_gradient(), rtol=0, atol=1e-12)
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    variance = raw.m2 / (raw.trials - 1)
    spread = np.sqrt(np.maximum(exact.fourth_central - exact.variance**2, 0.0) / raw.trials)
    tolerance = Z_MAX * spread + Z_MAX**2 * exact.variance / raw.trials + 1e-13 * exact.variance.max()
    assert np.all(np.abs(variance - exact.variance) <= tolerance)


def test_one_blas_thread_restores_the_count_and_keeps_the_bits():
    from carms_cli.core import blas

    rng = np.random.default_rng(0)
    a, b = rng.random((100, 4096)), rng.random((100, 4096))
    threaded = a @ b.T
    functions = blas._openblas()
    before = functions[1]() if functions else None
    with blas.single_thread():
        if functions:
            assert functions[1]() == 1
        single = a @ b.T
    assert functions is None or functions[1]() == before
    assert np.array_equal(single, threaded)  # OpenBLAS splits rows and columns, never the sums
