"""Copulas: closed-form CDFs against quadrature, and the kernel's sampler against them.

The kernel's copula draws are observed through the inverse CDF with K = 256 equal categories
under one fixed order: ``z_i < m  ⇔  U_i ≤ m/K`` exactly, so sample frequencies test the copula
at those points and ``(z + 1/2)/K`` is the copula uniform to within 1/(2K).
"""

import numpy as np
import pytest
from scipy import integrate, special, stats

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.sampling.copulas import (
    Copula,
    bivariate_cdf,
    bivariate_normal_cdf,
    dirichlet_joint_cdf,
    gaussian_rho,
)
from carms_cli.discrete.sampling.samplers import SamplerSpec
from carms_cli.discrete.source import trial_estimates


def _quad_bvn(h, k, rho):
    def integrand(x):
        return np.exp(-x * x / 2) / np.sqrt(2 * np.pi) * special.ndtr((k - rho * x) / np.sqrt(1 - rho * rho))

    return integrate.quad(integrand, -np.inf, h, epsabs=1e-14, epsrel=1e-13)[0]


@pytest.mark.parametrize("rho", [-0.9, -0.5, -1 / 3, -0.2, -1 / 63, 0.3, 0.75, 0.9])
@pytest.mark.parametrize("h,k", [(0.3, -0.7), (-3.0, -2.5), (5.0, -6.0), (1.2, 1.3), (0.0, 0.0), (-8.0, 2.0)])
def test_bivariate_normal_cdf_matches_quadrature(h, k, rho):
    assert bivariate_normal_cdf(h, k, rho) == pytest.approx(_quad_bvn(h, k, rho), abs=1e-13)


def test_bivariate_normal_cdf_limits():
    assert bivariate_normal_cdf(np.inf, 0.4, -0.5) == pytest.approx(special.ndtr(0.4), abs=1e-15)
    assert bivariate_normal_cdf(-np.inf, 0.4, -0.5) == 0.0
    # n = 2: countermonotone
    assert bivariate_normal_cdf(special.ndtri(0.7), special.ndtri(0.6), -1.0) == pytest.approx(0.3, abs=1e-15)


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_dirichlet_cdf_has_uniform_margins_and_known_diagonal(n):
    u = np.linspace(0, 1, 11)
    assert np.allclose(dirichlet_joint_cdf(np.stack([u, np.ones_like(u)], axis=-1), n), u)
    # lower-tail exclusivity: C(p, p) = 0 iff p <= 2^-(n-1)
    edge = 2.0 ** -(n - 1)
    assert bivariate_cdf(Copula.DIRICHLET, n, edge, edge) == 0.0
    assert bivariate_cdf(Copula.DIRICHLET, n, edge * 1.01, edge * 1.01) > 0.0


def _copula_draws(copula: Copula, n: int, count: int, k: int = 256, seed: int = 5):
    problem = build_problem(probs=",".join(["1"] * k).replace("1", str(1 / k)), samples=n, trials=count, seed=seed)
    sampler = SamplerSpec("probe", copula, "identity", 9, "copula probe")
    spec = EstimatorSpec("probe", "probe", sampler, Weighting.SCORE, True, "")
    _, z = trial_estimates(build_plan(problem, spec), 0, count)
    return z[:, :, 0], k


@pytest.mark.parametrize("copula", [Copula.INDEPENDENT, Copula.DIRICHLET, Copula.GAUSSIAN])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_kernel_copula_marginals_pass_ks(copula, n):
    z, k = _copula_draws(copula, n, 20_000)
    for i in range(n):
        u = (z[:, i] + 0.5) / k
        # discretisation moves the empirical CDF by at most 1/(2K) = 0.002
        result = stats.kstest(u, "uniform")
        assert result.statistic < 1.63 / np.sqrt(u.size) + 0.5 / k, (copula, n, i)


@pytest.mark.parametrize("copula", [Copula.INDEPENDENT, Copula.DIRICHLET, Copula.GAUSSIAN])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_kernel_copula_pair_cdf_matches_closed_form(copula, n):
    count = 20_000
    z, k = _copula_draws(copula, n, count)
    for a, b in [(0.1, 0.2), (0.25, 0.25), (0.5, 0.5), (0.6, 0.3), (0.9, 0.8)]:
        ma, mb = int(round(a * k)), int(round(b * k))
        hits = np.mean((z[:, 0] < ma) & (z[:, 1] < mb))
        expected = float(bivariate_cdf(copula, n, ma / k, mb / k))
        se = np.sqrt(max(expected * (1 - expected), 1 / count) / count)
        assert abs(hits - expected) <= 5 * se, (copula, n, a, b, hits, expected)


def test_gaussian_rho():
    assert gaussian_rho(2) == -1.0 and gaussian_rho(5) == -0.25
