"""The Gamma shape α (``--param alpha``): implicit and score estimators, exact gradients and moments.

References are independent of :mod:`carms_cli.continuous.exact`: the α gradient as
∫ φ q (log βx − ψ(α)) dx and the score variance over x by scipy's quad; the implicit variance by
the spec's integral over the CDF value u ∈ (0, 1) with x(u) from scipy's gammaincinv
(∫₀¹ (f′(x(u))·g(α, βx(u))/β)² du − ∇², g the compiled derivative, itself checked against mpmath in
tests/test_implicit.py); derivatives of the closed-form E f by mpmath; Monte Carlo of the compiled
kernels with fixed seeds and |z| ≤ 5. The NumPy backend and the simulated CUDA backend draw the
kernels' numbers.
"""

import math
import warnings

import numpy as np
import pytest
from scipy import integrate as sci_integrate
from scipy import special

from carms_cli.continuous.codes import EstimatorCode, ParameterCode
from carms_cli.continuous.exact import exact_expectation, exact_gradient, exact_moments
from carms_cli.continuous.implicit import shape_derivative
from carms_cli.continuous.kernels.chunks import KERNELS
from carms_cli.continuous.kernels.implicit_trial import implicit_chunk
from carms_cli.continuous.objectives import build_objective
from carms_cli.continuous.problem import build_problem
from carms_cli.continuous.registry import ESTIMATORS, parse_estimators, refusal
from carms_cli.continuous.source import ContinuousSource
from carms_cli.core.engine import run_source
from carms_cli.core.errors import InputError
from tests.continuous_backends import HAS_NUMBA_CUDA, assert_numpy_backend_agrees, assert_simulated_cuda_agrees
from tests.test_continuous_exact import SEPARABLE, line_quad, make, rel_close

SHAPE_ESTIMATORS = ("implicit", "score", "score-loo", "score-baseline")

#: φ, φ′ and the points where φ changes abruptly, for the objectives checked here.
OBJECTIVES = {
    **{name: (phi, None, points) for name, (phi, points) in SEPARABLE.items()},
    "square:1.5": (lambda x: (x - 1.5) ** 2, lambda x: 2 * (x - 1.5), [1.5]),
    "cos:2": (lambda x: math.cos(2 * x), lambda x: -2 * math.sin(2 * x), []),
    "sin:1.3": (lambda x: math.sin(1.3 * x), lambda x: 1.3 * math.cos(1.3 * x), []),
    "mean": (lambda x: x, lambda x: 1.0, []),
    "log": (math.log, lambda x: 1.0 / x, []),
    "laplace:0.8": (lambda x: math.exp(-0.8 * x), lambda x: -0.8 * math.exp(-0.8 * x), []),
}


def log_density(alpha, beta):
    """Return the density of v = log x for x ~ Gamma(α, rate β): x·q(x) = exp(α log βx − βx − log Γ(α))."""

    def w(v):
        return math.exp(alpha * (v + math.log(beta)) - beta * math.exp(v) - math.lgamma(alpha))

    return w


def over_log_x(func, alpha, beta, points):
    """Return E[func(x)] for x ~ Gamma(α, rate β) by scipy quad over v = log x (smooth at any α)."""
    w = log_density(alpha, beta)
    low = max(math.log(1e-300), -800.0 / alpha)  # below: mass < e^{−690α}/Γ(α + 1) ≤ 1e−24 at α ≥ 0.08
    high = math.log((alpha + 60 + 20 * math.sqrt(alpha)) / beta)
    mode = math.log(alpha / beta)
    cuts = [mode - 8, mode - 4, mode - 2, mode - 1, mode, mode + 1, mode + 2, *[math.log(p) for p in points if p > 0]]
    cuts += list(np.linspace(low, mode - 8, 12)[1:-1])
    return line_quad(lambda v: func(math.exp(v), v) * w(v), low, high, cuts)


def shape_reference(phi, alpha, beta, points):
    """Return ∂α E φ = E[φ(x)(log βx − ψ(α))]."""
    psi = special.digamma(alpha)
    return over_log_x(lambda x, v: phi(x) * (v + math.log(beta) - psi), alpha, beta, points)


# ------------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("alpha, beta", [(2.5, 1.5), (0.7, 0.8), (0.08, 2.0)])
def test_shape_gradient_matches_quadrature(objective, alpha, beta):
    phi, _, points = OBJECTIVES[objective]
    problem = make("gamma", {"alpha": alpha, "rate": beta}, objective, "alpha")
    expected = shape_reference(phi, alpha, beta, points)
    assert rel_close(exact_gradient(problem), [expected], 1e-8, floor=1e-6), (exact_gradient(problem), expected)


def test_the_spec_closed_forms():
    """continuous.md: mean 1/β, log ψ′(α), square (2α + 1)/β², E e^{−tx}: −ln(1 + t/β)(1 + t/β)^{−α}."""
    alpha, beta, t = 1.7, 0.6, 0.9
    expected = {
        "mean": 1 / beta,
        "log": special.polygamma(1, alpha),
        "square:0": (2 * alpha + 1) / beta**2,
        f"laplace:{t}": -math.log1p(t / beta) * (1 + t / beta) ** -alpha,
    }
    for objective, value in expected.items():
        problem = make("gamma", {"alpha": alpha, "rate": beta}, objective, "alpha")
        assert rel_close(exact_gradient(problem), [value], 1e-14), objective


@pytest.mark.parametrize("objective", ["cos-sum:0.8", "quad-form:1.5,-0.5", "laplace:0.8"])
def test_shape_gradient_is_the_derivative_of_the_exact_expectation(objective):
    """D = 2: ∂/∂α_d of the closed-form E f by a five-point central difference (h = 1e−3, error ~1e−12)."""
    alpha, beta = [0.7, 2.5], [1.5, 0.8]
    problem = make("gamma", {"alpha": alpha, "rate": beta}, objective, "alpha")
    got = exact_gradient(problem)
    for d in range(2):

        def expectation(step, d=d):
            shifted = list(alpha)
            shifted[d] += step
            return exact_expectation(make("gamma", {"alpha": shifted, "rate": beta}, objective))

        h = 1e-3
        expected = (expectation(-2 * h) - 8 * expectation(-h) + 8 * expectation(h) - expectation(2 * h)) / (12 * h)
        assert rel_close(got[d], expected, 1e-7, floor=1e-6), (d, got[d], expected)


# ------------------------------------------------------------------------------------------------
# Exact variances against independent quadratures
# ------------------------------------------------------------------------------------------------


def implicit_variance_over_u(dphi, alpha, beta, gradient):
    """Var of f′(x)·∂x/∂α by the spec's integral over the CDF value u (x(u) = F⁻¹(u)).

    Each half of (0, 1) is integrated on its own tail's variable, u ≤ ½ with x = P⁻¹(u) and
    1 − u ≤ ½ with x = Q⁻¹(1 − u), so that no digit of u near 1 is lost.
    """

    def term(xt):
        g = shape_derivative(alpha, np.array([xt]))[0][0]
        return (dphi(xt / beta) * g / beta) ** 2

    cuts = [0.0, 1e-12, 1e-8, 1e-4, 1e-2, 0.1, 0.5]
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sci_integrate.IntegrationWarning)
        for inverse in (special.gammaincinv, special.gammainccinv):
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                total += sci_integrate.quad(
                    lambda u, inverse=inverse: term(inverse(alpha, u)), a, b, epsabs=0.0, epsrel=1e-11, limit=400
                )[0]
    return total - gradient**2


def score_variance_over_x(phi, alpha, beta, points, gradient):
    psi = special.digamma(alpha)
    second = over_log_x(lambda x, v: (phi(x) * (v + math.log(beta) - psi)) ** 2, alpha, beta, points)
    return second - gradient**2


@pytest.mark.parametrize("objective", ["square:1.5", "log", "laplace:0.8", "cos:2", "sin:1.3", "mean"])
@pytest.mark.parametrize("alpha, beta", [(0.5, 1.5), (3.0, 0.7)])
def test_single_sample_variances_match_independent_quadrature(objective, alpha, beta):
    phi, dphi, points = OBJECTIVES[objective]
    problem = make("gamma", {"alpha": alpha, "rate": beta}, objective, "alpha", samples=1)
    gradient = float(exact_gradient(problem)[0])
    implicit = exact_moments(problem, "implicit")
    score = exact_moments(problem, "score")
    assert rel_close(implicit.variance, [implicit_variance_over_u(dphi, alpha, beta, gradient)], 1e-8)
    assert rel_close(score.variance, [score_variance_over_x(phi, alpha, beta, points, gradient)], 1e-8)


def test_implicit_of_mean_is_the_derivative_identity():
    """f = x: the implicit term is ∂x/∂α itself, whose mean is ∂α E x = 1/β for every α."""
    for alpha, beta in [(0.06, 1.0), (0.3, 2.0), (40.0, 0.5)]:
        problem = make("gamma", {"alpha": alpha, "rate": beta}, "mean", "alpha")
        moments = exact_moments(problem, "implicit")
        assert rel_close(moments.mean, [1 / beta], 1e-10), alpha


@pytest.mark.parametrize(
    "objectives",
    [["square:1", "exp:0.7", "cos:2", "poly:1,2,-1,0.5", "log", "laplace:0.8", "cos-sum:0.8", "quad-form:1,-2"]],
)
def test_every_exact_mean_is_the_exact_gradient(objectives):
    """Unbiasedness of implicit, score, score-loo and score-baseline by quadrature, D = 2, to 1e−10."""
    for objective in objectives:
        problem = make("gamma", {"alpha": [0.5, 3.0], "rate": [1.5, 2.0]}, objective, "alpha", samples=2)
        gradient = exact_gradient(problem)
        for estimator in SHAPE_ESTIMATORS:
            if refusal(ESTIMATORS[estimator], problem):
                assert estimator == "score-baseline" and not problem.objective.separable
                continue
            moments = exact_moments(problem, estimator)
            assert not isinstance(moments, str), (objective, estimator, moments)
            scale = np.maximum(np.abs(gradient), np.sqrt(2 * moments.variance))
            assert np.all(np.abs(moments.mean - gradient) <= 1e-10 * scale), (objective, estimator)


# ------------------------------------------------------------------------------------------------
# Monte Carlo of the compiled kernels
# ------------------------------------------------------------------------------------------------

MC_CASES = [
    (0.5, 1.5, "log"),
    (0.5, 1.5, "laplace:0.8"),
    (3.0, 0.7, "square:1"),
    (3.0, 0.7, "mean"),
    (0.08, 2.0, "cos:1.3"),
]


@pytest.mark.parametrize("alpha, beta, objective", MC_CASES)
def test_kernels_are_unbiased_with_the_exact_variance(alpha, beta, objective):
    """D = 1, n = 2, 60 000 estimates (seed 7): the mean within 5 SE of ∇ and the variance of an estimate,
    Σ(g − ∇)²/T, within 5 SE (from Σ(g − ∇)⁴) of the exact variance by quadrature."""
    trials = 60_000
    problem = make("gamma", {"alpha": alpha, "rate": beta}, objective, "alpha", samples=2)
    gradient = exact_gradient(problem)
    for name in SHAPE_ESTIMATORS:
        exact = exact_moments(problem, name)
        raw = run_source(ContinuousSource(problem, ESTIMATORS[name], gradient, "cpu"), trials, 2)
        variance = raw.m2[0] / (trials - 1)
        assert abs(raw.mean[0] - gradient[0]) <= 5 * math.sqrt(variance / trials), name
        second = raw.q_sum / trials
        spread = math.sqrt((raw.q_sq_sum / trials - second**2) / trials)
        assert abs(second - exact.variance[0]) <= 5 * spread, (name, second, exact.variance[0])


def test_implicit_beats_score_where_the_spec_says():
    """The implicit estimator's exact variance is far below the score function's (α = 0.5, log)."""
    problem = make("gamma", {"alpha": 0.5, "rate": 1.0}, "log", "alpha", samples=4)
    implicit, score = (exact_moments(problem, name).variance[0] for name in ("implicit", "score"))
    assert implicit < 0.1 * score


def test_the_numpy_backend_draws_the_kernels_numbers():
    problem = build_problem("gamma", {"alpha": "0.4,6", "rate": "2,0.5"}, "alpha", "laplace:0.3", 3, None, 1_500, 5)
    shift = np.linspace(-0.3, 0.3, problem.size)
    for name in SHAPE_ESTIMATORS:
        assert_numpy_backend_agrees(problem, ESTIMATORS[name], shift, problem.trials)


@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_simulated_cuda_equals_the_numpy_backend():
    assert_simulated_cuda_agrees(
        'build_problem("gamma", {"alpha": "0.7,3", "rate": "2"}, "alpha", "log", 2, None, 48, 5)'
    )


# ------------------------------------------------------------------------------------------------
# Registry, problem and objectives
# ------------------------------------------------------------------------------------------------


def test_the_implicit_kernel_is_registered():
    assert KERNELS[EstimatorCode.IMPLICIT] is implicit_chunk
    problem = make("gamma", {"alpha": 2.0}, "cos:1", "shape", samples=2)
    assert problem.parameters == ("alpha",) and problem.parameter_codes == (ParameterCode.SHAPE,)
    assert problem.coordinate_names() == ["alpha[0]"]
    assert [spec.name for spec in parse_estimators(None, problem)] == ["implicit", "score", "score-loo"]


@pytest.mark.parametrize(
    "dist, values, parameter, estimator, words",
    [
        ("gaussian", {"mu": 1.0, "sigma": 1.0}, "mu", "implicit", "use pathwise"),
        ("gamma", {"alpha": 2.0}, "rate", "implicit", "use pathwise"),
        ("gamma", {"alpha": 2.0}, "alpha", "pathwise", "use implicit"),
        ("gamma", {"alpha": 2.0}, "alpha", "mvd", "use implicit or score"),
        ("gamma", {"alpha": 2.0}, "alpha", "mvd-uncoupled", "use implicit or score"),
        ("gamma", {"alpha": 2.0}, "alpha", "score-delta", "score-delta"),
    ],
)
def test_refusals(dist, values, parameter, estimator, words):
    problem = make(dist, values, "cos:1", parameter)
    reason = refusal(ESTIMATORS[estimator], problem)
    assert reason is not None and words in reason and "\n" not in reason


def test_problem_refusals():
    with pytest.raises(InputError, match="--alpha ≥ 0.06"):
        make("gamma", {"alpha": [0.05, 1.0]}, "cos:1", "alpha")
    with pytest.raises(InputError, match="choose from rate"):
        make("exponential", {"rate": 1.0}, "cos:1", "alpha")
    make("gamma", {"alpha": 0.05}, "cos:1", "rate")  # the rate's estimators need no log x


def test_new_objectives_parse():
    mean = build_objective("mean", 1)
    assert mean.spec == "mean" and np.allclose(mean.value(np.array([[2.5]])), [2.5])
    assert np.allclose(mean.gradient(np.array([[2.5]])), [[1.0]])
    laplace = build_objective("laplace:0.4", 1)
    assert np.allclose(laplace.phi(np.array([1.5]), 1), -0.4 * math.exp(-0.6))
    assert build_objective("laplace", 1).spec == "laplace:1"
    for bad in ("mean:2", "laplace:1,2"):
        with pytest.raises(InputError):
            build_objective(bad, 1)


def test_laplace_gradients_gaussian_and_rate():
    """E e^{−tx}: Gaussian e^{−tμ + t²σ²/2}; Gamma (1 + t/β)^{−α}, ∂β = αt/β²(1 + t/β)^{−α−1}; t ≤ −β: NaN."""
    mu, sigma, t = 0.4, 1.3, 0.8
    e = math.exp(-t * mu + 0.5 * t * t * sigma * sigma)
    gaussian = make("gaussian", {"mu": mu, "sigma": sigma}, f"laplace:{t}", "all")
    assert rel_close(exact_gradient(gaussian), [-t * e, t * t * sigma * e], 1e-14)
    gamma = make("gamma", {"alpha": 2.5, "rate": 1.5}, "laplace:-2")
    assert np.all(np.isnan(exact_gradient(gamma)))
    assert "grows like" in exact_moments(make("gamma", {"alpha": 2.5, "rate": 3.0}, "laplace:-1"), "score")
