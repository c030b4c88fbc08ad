"""Beta and Dirichlet in ``carms continuous``: exact gradients and moments, the kernels, the NumPy and CUDA backends.

References are independent of :mod:`carms_cli.continuous.exact_simplex`: expectations and score
moments by mpmath's tanh-sinh quadrature over x against the Beta density (30 digits); the implicit
variance by the spec's integral over the CDF value u with x(u) from scipy's betaincinv (the
compiled derivative itself is checked against mpmath in tests/test_implicit_beta.py); Dirichlet
gradients by finite differences of E f over the marginal Betas; Monte Carlo of the compiled kernel
with fixed seeds and |z| ≤ 5.
"""

import importlib.util
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import mpmath
import numpy as np
import pytest
from scipy import integrate as sci_integrate
from scipy import special

from carms_cli.continuous.exact_simplex import BetaLaw, beta_gradient, cdf_derivatives
from carms_cli.continuous.magnitude import estimate_bound
from carms_cli.continuous.objectives import build_objective
from carms_cli.continuous.problem import build_problem
from carms_cli.continuous.registry import ESTIMATORS, parse_estimators
from carms_cli.continuous.source import ContinuousSource
from carms_cli.continuous.truth import exact_expectation, exact_gradient, exact_moments, optimal_baseline
from carms_cli.core.engine import run_source
from carms_cli.core.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
ESTIMATORS_SIMPLEX = ("implicit", "implicit-gamma-ratio", "score", "score-loo", "score-baseline")

#: φ and φ′ as mpmath / numpy-friendly functions.
PHI = {
    "mean": (lambda x: x, lambda x: 1.0),
    "log": (mpmath.log, lambda x: 1.0 / x),
    "square:0.3": (lambda x: (x - 0.3) ** 2, lambda x: 2 * (x - 0.3)),
    "laplace:2": (lambda x: mpmath.exp(-2 * x), lambda x: -2 * np.exp(-2 * x)),
    "cos:3": (lambda x: mpmath.cos(3 * x), lambda x: -3 * np.sin(3 * x)),
    "exp:4": (lambda x: mpmath.exp(-4 * x * x), lambda x: -8 * x * np.exp(-4 * x * x)),
    "poly:1,-2,0,3": (lambda x: 1 - 2 * x + 3 * x**3, lambda x: -2 + 9 * x * x),
}


def make(dist, values, objective, parameter=None, samples=1, trials=None):
    given = {name: ",".join(str(v) for v in np.atleast_1d(value)) for name, value in values.items()}
    return build_problem(dist, given, parameter, objective, samples, None, trials, 0)


def beta_expect(func, a, b):
    """E func(x, 1 − x) for x ~ Beta(a, b) by mpmath tanh-sinh (30 digits), 1 − x passed exactly.

    The endpoint singularities are removed by x = t^{1/a} on [0, ½] and 1 − x = t^{1/b} on [½, 1]
    (x^{a−1} dx = dt/a).
    """
    with mpmath.workdps(30):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        half = mpmath.mpf(0.5)
        lower = (
            mpmath.quad(lambda t: func(t ** (1 / a), 1 - t ** (1 / a)) * (1 - t ** (1 / a)) ** (b - 1), [0, half**a])
            / a
        )
        upper = (
            mpmath.quad(lambda t: func(1 - t ** (1 / b), t ** (1 / b)) * (1 - t ** (1 / b)) ** (a - 1), [0, half**b])
            / b
        )
        return float((lower + upper) / mpmath.beta(a, b))


def score_reference(phi, a, b, second):
    """∂_θ E φ = E[φ s_θ] with s_a = ln x − ψ(a) + ψ(a + b), s_b = ln(1 − x) − ψ(b) + ψ(a + b)."""
    offset = (special.digamma(b) if second else special.digamma(a)) - special.digamma(a + b)
    return beta_expect(lambda x, y: phi(x) * (mpmath.log(y if second else x) - offset), a, b)


# ------------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", list(PHI))
@pytest.mark.parametrize("a, b", [(0.5, 2.0), (3.0, 0.7), (0.08, 0.3)])
def test_beta_gradient_matches_mpmath(objective, a, b):
    phi, _ = PHI[objective]
    value, d_a, d_b = beta_gradient(build_objective(objective, 1), a, b)
    expected = [
        beta_expect(lambda x, y: phi(x), a, b),
        score_reference(phi, a, b, False),
        score_reference(phi, a, b, True),
    ]
    assert np.allclose([value, d_a, d_b], expected, rtol=1e-10, atol=1e-12), (objective, [value, d_a, d_b], expected)


def test_the_closed_forms():
    """continuous.md: mean ∂a = b/(a + b)², log ∂a = ψ′(a) − ψ′(a + b); both by the quadrature engine too."""
    a, b = 1.7, 0.6
    law = BetaLaw(a, b)
    s = special.digamma(a + b)
    quadrature = law.expect(
        lambda x, y, lx, ly: np.stack([x * (lx - special.digamma(a) + s), lx * (ly - special.digamma(b) + s)])
    )
    _, mean_a, mean_b = beta_gradient(build_objective("mean", 1), a, b)
    _, log_a, log_b = beta_gradient(build_objective("log", 1), a, b)
    assert math.isclose(mean_a, b / (a + b) ** 2, rel_tol=1e-14) and math.isclose(
        mean_b, -a / (a + b) ** 2, rel_tol=1e-14
    )
    assert math.isclose(log_a, special.polygamma(1, a) - special.polygamma(1, a + b), rel_tol=1e-14)
    assert np.allclose(quadrature, [mean_a, log_b], rtol=1e-12)


def test_dirichlet_gradient_is_the_derivative_of_the_expectation():
    """K = 3: ∂/∂α_j of Σ_k E φ(x_k), x_k ~ Beta(α_k, α₀ − α_k) by mpmath, by a five-point difference (h = 1e−3)."""
    alpha = np.array([0.5, 1.0, 3.0])
    phi = PHI["laplace:2"][0]

    def expectation(values):
        total = values.sum()
        return sum(beta_expect(lambda x, y: phi(x), values[k], total - values[k]) for k in range(values.size))

    got = exact_gradient(make("dirichlet", {"alpha": alpha}, "laplace:2"))
    assert math.isclose(
        exact_expectation(make("dirichlet", {"alpha": alpha}, "laplace:2")), expectation(alpha), rel_tol=1e-12
    )
    h = 1e-3
    for j in range(3):
        step = np.eye(3)[j] * h
        diff = (
            expectation(alpha - 2 * step)
            - 8 * expectation(alpha - step)
            + 8 * expectation(alpha + step)
            - expectation(alpha + 2 * step)
        ) / (12 * h)
        assert math.isclose(got[j], diff, rel_tol=1e-8, abs_tol=1e-10), (j, got[j], diff)


# ------------------------------------------------------------------------------------------------
# Exact variances against independent quadrature
# ------------------------------------------------------------------------------------------------


def implicit_variance_over_u(dphi, a, b, second, gradient):
    """Var of φ′(x)·∂x/∂θ by ∫₀¹ (φ′(x(u)) v(x(u)))² du − ∇², x(u) = I⁻¹(u) (each half on its own tail)."""

    def term(x):
        v = cdf_derivatives(a, b, np.array([x]))[1 if second else 0][0]
        return (dphi(x) * v) ** 2

    cuts = [0.0, 1e-12, 1e-8, 1e-4, 1e-2, 0.1, 0.5]
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sci_integrate.IntegrationWarning)
        for lower_tail in (True, False):
            for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):

                def integrand(u, lower_tail=lower_tail):
                    x = special.betaincinv(a, b, u) if lower_tail else 1.0 - special.betaincinv(b, a, u)
                    return term(x)

                total += sci_integrate.quad(integrand, lo, hi, epsabs=0.0, epsrel=1e-11, limit=400)[0]
    return total - gradient**2


@pytest.mark.parametrize("objective", ["mean", "square:0.3", "laplace:2", "cos:3"])
@pytest.mark.parametrize("a, b", [(0.5, 2.0), (3.0, 0.7)])
def test_single_sample_variances_match_independent_quadrature(objective, a, b):
    phi, dphi = PHI[objective]
    problem = make("beta", {"a": a, "b": b}, objective, "all")
    gradient = exact_gradient(problem)
    implicit = exact_moments(problem, "implicit").variance
    score = exact_moments(problem, "score").variance
    for index, second in enumerate((False, True)):
        expected = implicit_variance_over_u(dphi, a, b, second, gradient[index])
        assert math.isclose(implicit[index], expected, rel_tol=1e-7), (objective, index, implicit[index], expected)
        offset = (special.digamma(b) if second else special.digamma(a)) - special.digamma(a + b)

        def squared(x, y, second=second, offset=offset):
            return (phi(x) * (mpmath.log(y if second else x) - offset)) ** 2

        square = beta_expect(squared, a, b)
        assert math.isclose(score[index], square - gradient[index] ** 2, rel_tol=1e-9), (objective, index)


def test_the_spec_variances_of_the_two_implicit_paths():
    """continuous.md, f = x, n = 1: CDF-implicit 0.112 at (0.5, 0.5), 0.0116 at (1, 1); gamma ratio 0.207, 0.0215."""
    for (a, b), cdf, ratio in (((0.5, 0.5), 0.112, 0.207), ((1.0, 1.0), 0.0116, 0.0215)):
        problem = make("beta", {"a": a, "b": b}, "mean", "a", trials=200_000)
        exact = exact_moments(problem, "implicit").variance[0]
        assert abs(exact - cdf) <= 0.005 * cdf, exact
        exact_ratio = exact_moments(problem, "implicit-gamma-ratio").variance[0]
        assert abs(exact_ratio - ratio) <= 0.005 * ratio, exact_ratio
        gradient = exact_gradient(problem)
        raw = run_source(ContinuousSource(problem, ESTIMATORS["implicit-gamma-ratio"], gradient, "cpu"), 200_000, 2)
        second = raw.q_sum / raw.trials
        spread = math.sqrt((raw.q_sq_sum / raw.trials - second**2) / raw.trials)
        assert abs(second - exact_ratio) <= 5 * spread, (second, exact_ratio)


def logit_grid(a, b, h=0.25, tail=60.0):
    """Trapezoidal nodes and weights of u = logit(x), x ~ Beta(a, b): x, 1 − x, ln x, ln(1 − x) and the weights.

    The logit's density is smooth (analytic in a strip of half-width π) with tails e^{au} and e^{−bu},
    so the uniform trapezoidal rule converges like e^{−2π²/h}; cut where the tails fall below e^{−tail}.
    """
    mode = math.log(a / b)
    u = np.arange(mode - tail / a - 5.0, mode + tail / b + 5.0, h)
    log_x, log_y = -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)
    weight = h * np.exp(a * log_x + b * log_y - special.betaln(a, b))
    return np.exp(log_x), np.exp(log_y), log_x, log_y, weight


def simplex_trapezoid(alpha, j):
    """Points and weights of x ~ Dirichlet(α), K = 3, as x_j ~ Beta(α_j, α₀ − α_j), (x_i, x_l) = (1 − x_j)(v, 1 − v),
    v ~ Beta(α_i, α_l), by the product trapezoidal rule on the two logits: x (n, 3), ln x (n, 3), 1 − x_j, weights."""
    i, other = (m for m in range(3) if m != j)
    xj, rj, lxj, lrj, wj = logit_grid(alpha[j], alpha[i] + alpha[other])
    v, vc, lv, lvc, wv = logit_grid(alpha[i], alpha[other])
    x = np.empty((xj.size, v.size, 3))
    logs = np.empty_like(x)
    x[..., j], logs[..., j] = xj[:, None], lxj[:, None]
    x[..., i], logs[..., i] = rj[:, None] * v, lrj[:, None] + lv
    x[..., other], logs[..., other] = rj[:, None] * vc, lrj[:, None] + lvc
    rest = np.broadcast_to(rj[:, None], x.shape[:2])
    return x.reshape(-1, 3), logs.reshape(-1, 3), rest.ravel(), (wj[:, None] * wv).ravel()


def dirichlet3_reference(alpha, objective, n):
    """Mean, variance and fourth central moment of every estimator's n-sample estimate (and the optimal
    baselines) for K = 3 by the trapezoidal product rule: an independent route (no pair decomposition, no
    adaptive rule). The per-sample terms are written out as the kernel forms them (module docstring of
    kernels/simplex_trial.py), on the whole simplex; the gamma-ratio term c_j·D_j with c_j = g(α_j, G_j)/ΣG
    as (g/G)·(x_j D_j), its E_S[(g/G)^p] at each x_j by the trapezoidal rule on ln S, S ~ Gamma(α₀).
    """
    from carms_cli.continuous.exact import loo_variance
    from carms_cli.continuous.implicit import shape_derivative

    alpha = np.asarray(alpha, dtype=float)
    total = alpha.sum()
    obj = build_objective(objective, 3)
    u = np.arange(-40.0 / total - 5.0, math.log(total + 80.0) + 1.0, 0.1)
    s_weight = 0.1 * np.exp(total * u - np.exp(u) - special.gammaln(total))
    names = ("implicit", "implicit-gamma-ratio", "score", "score-baseline", "score-loo")
    out = {name: (np.zeros(3), np.zeros(3), np.full(3, np.nan)) for name in names}
    out["baseline"] = np.zeros(3)
    for j in range(3):  # x_j outside: the gamma-ratio factor is a function of x_j alone
        x, logs, complement_j, weight = simplex_trapezoid(alpha, j)
        outer = np.unique(logs[:, j], return_inverse=True)
        complement = x.sum(axis=1, keepdims=True) - x
        complement[:, j] = complement_j
        phi = obj.phi(x) if objective != "log" else logs
        f = phi.sum(axis=1)
        slope = obj.phi(x, 1)
        s = logs[:, j] - special.digamma(alpha[j]) + special.digamma(total)
        paths = [cdf_derivatives(alpha[k], total - alpha[k], x[:, k], complement[:, k]) for k in range(3)]

        def expect(values, weight=weight):
            return np.sum(values * weight)

        for name in names:
            means, variances, fourths = out[name]
            if name == "score-loo":
                centred = f - expect(f)
                m11, m20 = expect(centred * s), expect(centred**2)
                m02, m22 = expect(s * s), expect(centred**2 * s * s)
                means[j], variances[j] = m11, loo_variance(n, m11, m20, m02, m22)
                continue
            if name == "implicit-gamma-ratio":
                w = x * slope if objective != "log" else np.ones_like(x)
                d = w[:, j] * complement[:, j] - x[:, j] * sum(w[:, i] for i in range(3) if i != j)
                gamma = np.exp(outer[0][:, None] + u)
                ratio = shape_derivative(alpha[j], gamma.ravel())[0].reshape(gamma.shape) / gamma
                raw = [expect((ratio**p @ s_weight)[outer[1]] * d**p) for p in range(5)]
                mean = raw[1]
                central2 = raw[2] - mean**2
                central4 = raw[4] - 4 * mean * raw[3] + 6 * mean**2 * raw[2] - 3 * mean**4
            else:
                if name == "implicit":
                    t = slope[:, j] * paths[j][0] + sum(slope[:, i] * paths[i][1] for i in range(3) if i != j)
                else:
                    baseline = expect(f * s * s) / expect(s * s) if name == "score-baseline" else 0.0
                    out["baseline"][j] = baseline
                    t = (f - baseline) * s
                mean = expect(t)
                central2, central4 = expect((t - mean) ** 2), expect((t - mean) ** 4)
            means[j], variances[j] = mean, central2 / n
            fourths[j] = (central4 + 3 * (n - 1) * central2**2) / n**3
    return out


@pytest.mark.parametrize("alpha, objective", [([0.5, 1.0, 3.0], "log"), ([0.3, 1.0, 2.0], "cos:3")])
def test_dirichlet_three_components_match_a_trapezoidal_rule_on_the_simplex(alpha, objective):
    """K = 3, n = 3: every estimator's exact mean is ∇ and its variance and fourth central moment the trapezoidal
    rule's (1e−10; ``score-loo``'s fourth is not computed), so are the optimal baselines (the rule's own mean
    agrees with ∇ to about 1e−14)."""
    problem = make("dirichlet", {"alpha": alpha}, objective, samples=3)
    gradient = exact_gradient(problem)
    reference = dirichlet3_reference(alpha, objective, 3)
    assert np.allclose(optimal_baseline(problem), reference["baseline"], rtol=1e-10, atol=0)
    for name in ESTIMATORS_SIMPLEX:
        moments = exact_moments(problem, name)
        assert not isinstance(moments, str), (name, moments)
        mean, variance, fourth = reference[name]
        assert np.allclose(moments.mean, gradient, rtol=1e-11, atol=0) and np.allclose(mean, gradient, rtol=1e-10)
        assert np.allclose(moments.variance, variance, rtol=1e-10, atol=0), (name, moments.variance, variance)
        assert np.allclose(moments.fourth_central, fourth, rtol=1e-10, atol=0, equal_nan=True), (name, fourth)


def test_the_gamma_ratio_variance_by_an_independent_double_integral():
    """Beta(0.7, 1.6), f = x², one sample: E t² = ∫∫ (2x·g(a, xS)(1 − x)/S)² q(x) Gamma(S) dS dx by scipy dblquad."""
    from scipy import stats

    from carms_cli.continuous.implicit import shape_derivative

    a, b = 0.7, 1.6
    problem = make("beta", {"a": a, "b": b}, "poly:0,0,1", "a")
    gradient = exact_gradient(problem)[0]

    def integrand(s, x):
        g = shape_derivative(a, np.array([x * s]))[0][0]
        return (2 * x * g * (1 - x) / s) ** 2 * stats.beta.pdf(x, a, b) * stats.gamma.pdf(s, a + b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sci_integrate.IntegrationWarning)
        second, _ = sci_integrate.dblquad(integrand, 0, 1, 0, 40, epsabs=0, epsrel=1e-7)
    exact = exact_moments(problem, "implicit-gamma-ratio").variance[0]
    assert math.isclose(exact, second - gradient**2, rel_tol=1e-5), (exact, second - gradient**2)
    assert exact > exact_moments(problem, "implicit").variance[0]


def test_every_exact_mean_is_the_exact_gradient():
    for dist, values in (("beta", {"a": [0.5, 3.0], "b": [1.5, 0.8]}), ("dirichlet", {"alpha": [0.6, 2.5]})):
        for objective in ("log", "square:0.3", "laplace:2", "exp:4", "cos:3", "step:0.4"):
            if dist == "dirichlet" and objective == "mean":
                continue
            problem = make(dist, values, objective, "all" if dist == "beta" else None, samples=2)
            gradient = exact_gradient(problem)
            for name in ESTIMATORS_SIMPLEX:
                if objective == "step:0.4" and name.startswith("implicit"):
                    continue
                if name == "implicit-gamma-ratio" and objective not in ("log", "laplace:2"):
                    continue  # a 2-D rule, seconds each: two objectives suffice here
                moments = exact_moments(problem, name)
                assert not isinstance(moments, str), (dist, objective, name, moments)
                scale = np.maximum(np.abs(gradient), np.sqrt(2 * moments.variance))
                assert np.all(np.abs(moments.mean - gradient) <= 1e-10 * scale), (dist, objective, name)


def test_dirichlet_above_three_components_says_why_no_gamma_ratio_variance():
    problem = make("dirichlet", {"alpha": [0.5, 1, 2, 0.7]}, "log", samples=2)
    reason = exact_moments(problem, "implicit-gamma-ratio")
    assert isinstance(reason, str) and "K = 4 > 3" in reason and "3-D quadrature" in reason
    assert "score-baseline" in [spec.name for spec in parse_estimators("all", problem)]


# ------------------------------------------------------------------------------------------------
# Monte Carlo of the compiled kernel
# ------------------------------------------------------------------------------------------------

MC_CASES = [
    ("beta", {"a": 0.5, "b": 2.0}, "log", "all"),
    ("beta", {"a": 3.0, "b": 0.7}, "square:0.3", "a"),
    ("beta", {"a": 0.3, "b": 0.3}, "laplace:2", "b"),
    ("beta", {"a": [0.5, 4.0], "b": [1.5, 0.8]}, "cos:3", "all"),
    ("dirichlet", {"alpha": [0.5, 2.0]}, "square:0.3", None),
    ("dirichlet", {"alpha": [0.7, 0.4]}, "log", None),
]


@pytest.mark.parametrize("dist, values, objective, parameter", MC_CASES)
def test_kernels_are_unbiased_with_the_exact_variance(dist, values, objective, parameter):
    """n = 2, 30 000 estimates (seed 11): every coordinate's mean within 5 SE of ∇, and the total variance
    Σ_p Var g_p = E‖g − ∇‖² within 5 SE (from ‖g − ∇‖⁴) of the exact one where it is computed."""
    trials = 30_000
    problem = build_problem(
        dist,
        {k: ",".join(str(v) for v in np.atleast_1d(x)) for k, x in values.items()},
        parameter,
        objective,
        2,
        None,
        trials,
        11,
    )
    gradient = exact_gradient(problem)
    for name in ESTIMATORS_SIMPLEX:
        raw = run_source(ContinuousSource(problem, ESTIMATORS[name], gradient, "cpu"), trials, 2)
        se = np.sqrt(raw.m2 / (trials - 1) / trials)
        assert np.all(np.abs(raw.mean - gradient) <= 5 * se), (name, raw.mean, gradient)
        exact = exact_moments(problem, name)
        assert not isinstance(exact, str), (name, exact)
        second = raw.q_sum / trials
        spread = math.sqrt((raw.q_sq_sum / trials - second**2) / trials)
        assert abs(second - exact.variance.sum()) <= 5 * spread, (name, second, exact.variance.sum())


@pytest.mark.parametrize("alpha, objective", [([0.5, 1.0, 3.0], "log"), ([0.3, 2.0, 0.8, 5.0], "square:0.2")])
def test_dirichlet_kernels_are_unbiased(alpha, objective):
    """K = 3, 4: every estimator agrees with ∇ (5 SE) and its total variance with the exact one (5 SE, where
    computed: all but the gamma ratio at K = 4); here the CDF path has less variance than the gamma ratio's
    (for K ≥ 3 not always: it is the ratio's expectation given each x_i, not given x)."""
    trials = 30_000
    problem = build_problem("dirichlet", {"alpha": ",".join(map(str, alpha))}, None, objective, 3, None, trials, 4)
    gradient = exact_gradient(problem)
    variances = {}
    for name in ESTIMATORS_SIMPLEX:
        raw = run_source(ContinuousSource(problem, ESTIMATORS[name], gradient, "cpu"), trials, 2)
        se = np.sqrt(raw.m2 / (trials - 1) / trials)
        assert np.all(np.abs(raw.mean - gradient) <= 5 * se), (name, raw.mean, gradient)
        variances[name] = second = raw.q_sum / trials
        exact = exact_moments(problem, name)
        if name == "implicit-gamma-ratio" and len(alpha) > 3:
            assert isinstance(exact, str)
            continue
        spread = math.sqrt((raw.q_sq_sum / trials - second**2) / trials)
        assert abs(second - exact.variance.sum()) <= 5 * spread, (name, second, exact.variance.sum())
    assert variances["implicit"] < variances["implicit-gamma-ratio"] < variances["score"]


def test_the_numpy_backend_draws_the_kernels_numbers():
    cases = [("beta", {"a": "0.4,3", "b": "2,0.7"}, "all"), ("dirichlet", {"alpha": "0.4,1,3"}, None)]
    for dist, given, parameter in cases:
        problem = build_problem(dist, given, parameter, "laplace:0.3", 3, None, 1_500, 5)
        shift = np.linspace(-0.3, 0.3, problem.size)
        for spec in parse_estimators("all", problem):
            cpu = run_source(ContinuousSource(problem, spec, shift, "cpu"), problem.trials, 2)
            vectorised = run_source(ContinuousSource(problem, spec, shift, "numpy"), problem.trials, 1)
            assert np.allclose(cpu.mean, vectorised.mean, rtol=1e-9, atol=1e-12), (dist, spec.name)
            assert np.allclose(cpu.m2, vectorised.m2, rtol=1e-8), (dist, spec.name)
            assert cpu.extras == vectorised.extras and cpu.evaluation_sum == vectorised.evaluation_sum


def test_results_do_not_depend_on_the_threads():
    problem = build_problem("dirichlet", {"alpha": "0.5,1,2"}, None, "log", 2, None, 5_000, 1)
    for name in ("implicit", "implicit-gamma-ratio"):
        one = run_source(ContinuousSource(problem, ESTIMATORS[name], np.zeros(3), "cpu"), 5_000, 1)
        two = run_source(ContinuousSource(problem, ESTIMATORS[name], np.zeros(3), "cpu"), 5_000, 2)
        assert np.array_equal(one.mean, two.mean) and np.array_equal(one.m2, two.m2)


def test_the_magnitude_bound_holds():
    """Every estimate drawn at the least shapes (log, whose f′ = 1/x) lies within estimate_bound."""
    from carms_cli.continuous.kernels.numpy_simplex import simplex_estimates
    from carms_cli.continuous.source import kernel_args

    for dist, given in (("beta", {"a": "0.06", "b": "0.06,5"}), ("dirichlet", {"alpha": "0.06,0.06,3"})):
        problem = build_problem(dist, given, None, "log", 2, None, 4_000, 2)
        bound, _ = estimate_bound(problem)
        assert math.isfinite(bound)
        for spec in parse_estimators("all", problem):
            g, _ = simplex_estimates(kernel_args(problem, spec, np.zeros(problem.size)), 0, 4_000)
            assert np.all(np.isfinite(g)) and np.max(np.abs(g)) <= bound, (dist, spec.name)


@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_simulated_cuda_equals_the_numpy_backend():
    script = """
        import numpy as np
        from carms_cli.continuous.kernels import cuda as gpu
        from carms_cli.continuous.problem import build_problem
        from carms_cli.continuous.registry import ESTIMATORS
        from carms_cli.continuous.source import ContinuousSource
        from carms_cli.core.engine import run_source
        gpu.LAUNCH.threads_per_block, gpu.LAUNCH.max_blocks = 32, 1
        cases = (("beta", {"a": "0.7,3", "b": "2"}, ("implicit", "implicit-gamma-ratio")),
                 ("dirichlet", {"alpha": "0.7,3,1"}, ("implicit", "score-loo")))
        for dist, given, names in cases:
            problem = build_problem(dist, given, None, "log", 2, None, 48, 5)
            for name in names:
                shift = np.linspace(-0.3, 0.3, problem.size)
                a = run_source(ContinuousSource(problem, ESTIMATORS[name], shift, "numpy"), 48, 1)
                b = run_source(ContinuousSource(problem, ESTIMATORS[name], shift, "cuda"), 48, 1)
                assert np.allclose(a.mean, b.mean, rtol=1e-9, atol=1e-12), (dist, name)
                assert np.allclose(a.m2, b.m2, rtol=1e-8) and a.extras == b.extras, (dist, name)
        print("ok")
    """
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


# ------------------------------------------------------------------------------------------------
# Problem, registry and command line
# ------------------------------------------------------------------------------------------------


def test_problem_shapes_and_names():
    beta = make("beta", {"a": [0.5, 2], "b": 3}, "log")
    assert beta.parameters == ("a", "b") and beta.coordinate_names() == ["a[0]", "a[1]", "b[0]", "b[1]"]
    assert make("beta", {"a": 1}, "log", "both").parameters == ("a", "b")
    dirichlet = make("dirichlet", {"alpha": [0.5, 1, 2]}, "log", samples=2)
    assert dirichlet.dims == 3 and dirichlet.coordinate_names() == ["alpha[0]", "alpha[1]", "alpha[2]"]
    symmetric = build_problem("dirichlet", {"alpha": "0.5"}, None, "log", 1, 4, None, 0)
    assert symmetric.dims == 4
    names = [spec.name for spec in parse_estimators(None, dirichlet)]
    assert names == ["implicit", "implicit-gamma-ratio", "score", "score-loo"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--dist", "beta", "--a", "0"], "--a must be positive"),
        (["--dist", "beta", "--a", "-1"], "--a must be positive"),
        (["--dist", "beta", "--b", "0.05"], "--b ≥ 0.06"),
        (["--dist", "dirichlet", "--alpha", "2"], "K ≥ 2"),
        (["--dist", "dirichlet", "--alpha", "1,0.01"], "--alpha ≥ 0.06"),
        (["--dist", "dirichlet", "--alpha", "1,2", "-o", "mean"], "constant on the simplex"),
        (["--dist", "beta", "-o", "quad-form:1"], "not separable"),
        (["--dist", "dirichlet", "--alpha", "1,2", "-o", "cos-sum:1"], "not separable"),
        (["--dist", "beta", "--rate", "2"], "--rate does not apply to --dist beta"),
        (["--dist", "gamma", "--a", "2"], "--a does not apply to --dist gamma"),
        (["--dist", "beta", "--param", "alpha"], "--param alpha does not apply to --dist beta"),
        (["--dist", "beta", "-e", "pathwise"], "pathwise applies to --dist"),
        (["--dist", "gamma", "--param", "alpha", "-e", "implicit-gamma-ratio"], "implicit-gamma-ratio applies to"),
        (["--dist", "beta", "-o", "step:0.5", "-e", "implicit"], "needs f′"),
        (["--dist", "beta", "-e", "score-loo", "-n", "1"], "-n 2 or more"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(cli, args, words):
    result = cli("continuous", *args, "-t", "200")
    assert result.code == 2, (result.code, result.err)
    assert words in result.err and result.err.strip().count("\n") == 0, result.err


def test_refused_parameters_raise_input_error():
    with pytest.raises(InputError, match="K ≥ 2"):
        make("dirichlet", {"alpha": 1.0}, "log")
