"""von Mises(μ, κ) in ``carms continuous``: implicit κ, pathwise μ and score estimators, exact gradients and moments.

References are independent of :mod:`carms_cli.continuous.exact_vonmises`: gradients as
∫ φ(μ + u) q(u) s(u) du by scipy's quad over [−π, π] (s the score) and A_m′ by mpmath.diff of
I_m/I₀; variances by scipy's quad of the squared terms (the implicit term with the compiled ∂x/∂κ,
itself checked against mpmath in tests/test_implicit_vonmises.py); Monte Carlo of the compiled
kernels with fixed seeds and |z| ≤ 5. The NumPy backend and the simulated CUDA backend draw the
kernels' numbers.
"""

import math

import mpmath
import numpy as np
import pytest
from scipy import special

from carms_cli.continuous.codes import ParameterCode
from carms_cli.continuous.exact import exact_expectation, exact_gradient, exact_moments
from carms_cli.continuous.magnitude import VONMISES_PATH_REACH, estimate_bound
from carms_cli.continuous.problem import build_problem
from carms_cli.continuous.registry import ESTIMATORS, parse_estimators, refusal
from carms_cli.continuous.source import ContinuousSource
from carms_cli.continuous.vonmises import kappa_derivative
from carms_cli.core.engine import run_source
from carms_cli.core.errors import InputError
from tests.continuous_backends import HAS_NUMBA_CUDA, assert_numpy_backend_agrees, assert_simulated_cuda_agrees
from tests.test_continuous_exact import line_quad, rel_close

#: Estimators per reported parameter.
APPLICABLE = {
    "kappa": ("implicit", "score", "score-loo", "score-baseline"),
    "mu": ("pathwise", "implicit", "score", "score-loo", "score-baseline"),
    "all": ("implicit", "score", "score-loo", "score-baseline"),
}
#: φ and φ′ of the separable objectives checked here.
OBJECTIVES = {
    "cos:1": (math.cos, lambda x: -math.sin(x)),
    "cos:2": (lambda x: math.cos(2 * x), lambda x: -2 * math.sin(2 * x)),
    "cos:-3": (lambda x: math.cos(-3 * x), lambda x: 3 * math.sin(-3 * x)),
    "sin:1": (math.sin, math.cos),
    "sin:2": (lambda x: math.sin(2 * x), lambda x: 2 * math.cos(2 * x)),
}


def make(values, objective, parameter=None, samples=1, dims=None, trials=None):
    """Build a von Mises problem from {name: value or list}."""
    given = {name: None for name in ("mu", "sigma", "rate", "alpha", "kappa")}
    for name, value in values.items():
        given[name] = ",".join(str(v) for v in np.atleast_1d(value))
    return build_problem("vonmises", given, parameter, objective, samples, dims, trials, 0)


def density(kappa):
    scale = 2 * math.pi * special.i0e(kappa)
    return lambda u: math.exp(kappa * (math.cos(u) - 1.0)) / scale


def over_circle(func, kappa):
    """∫ func(u) q(u) du over [−π, π] by scipy quad, split where the bump of width 1/√κ ends."""
    q = density(kappa)
    width = 1 / math.sqrt(kappa)
    points = [s * width * 2.0**j for s in (-1, 1) for j in range(-2, 6)] + [0.0]
    return line_quad(lambda u: func(u) * q(u), -math.pi, math.pi, points)


def reference_gradient(phi, mu, kappa):
    """∂μ E φ = E[φ κ sin ε], ∂κ E φ = E[φ (cos ε − A)] by quadrature."""
    mean = special.i1e(kappa) / special.i0e(kappa)
    d_mu = over_circle(lambda u: phi(mu + u) * kappa * math.sin(u), kappa)
    d_kappa = over_circle(lambda u: phi(mu + u) * (math.cos(u) - mean), kappa)
    return d_mu, d_kappa


# ------------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("mu, kappa", [(0.5, 2.0), (-1.2, 0.3), (2.0, 40.0)])
def test_gradient_matches_quadrature(objective, mu, kappa):
    phi, _ = OBJECTIVES[objective]
    problem = make({"mu": mu, "kappa": kappa}, objective, "all")
    expected = reference_gradient(phi, mu, kappa)
    assert rel_close(exact_gradient(problem), expected, 1e-9, floor=1e-6), (exact_gradient(problem), expected)


@pytest.mark.parametrize("kappa", [1e-3, 0.7, 5.0, 300.0, 1e4, 1e6])
@pytest.mark.parametrize("order", [1, 2, 5])
def test_the_kappa_slope_is_the_derivative_of_the_bessel_ratio(order, kappa):
    """∂κ E cos(mx) at μ = 0 is d/dκ I_m(κ)/I₀(κ), by mpmath.diff at 40 digits, to 1e−13 at every κ."""
    with mpmath.workdps(40):
        expected = float(mpmath.diff(lambda k: mpmath.besseli(order, k) / mpmath.besseli(0, k), mpmath.mpf(kappa)))
    got = exact_gradient(make({"mu": 0.0, "kappa": kappa}, f"cos:{order}", "kappa"))[0]
    assert rel_close(got, expected, 1e-13), (got, expected)


def test_the_spec_closed_form():
    """continuous.md: ∂κ E cos x = 1 − A/κ − A², A = I₁(κ)/I₀(κ) (at μ = 0), and ∂μ E cos x = −A sin μ."""
    for kappa in (0.4, 3.0, 25.0):
        a = special.i1e(kappa) / special.i0e(kappa)
        problem = make({"mu": 0.0, "kappa": kappa}, "cos:1", "kappa")
        assert rel_close(exact_gradient(problem), [1 - a / kappa - a * a], 1e-10)
        problem = make({"mu": 0.9, "kappa": kappa}, "cos:1", "mu")
        assert rel_close(exact_gradient(problem), [-a * math.sin(0.9)], 1e-14)


@pytest.mark.parametrize("objective", ["cos-sum:1", "cos-sum:-2", "cos:2", "sin:1"])
def test_gradient_is_the_derivative_of_the_exact_expectation(objective):
    """D = 2: ∂/∂μ_d and ∂/∂κ_d of the closed-form E f by a five-point central difference (h = 1e−3)."""
    mu, kappa = [0.4, -1.1], [0.8, 6.0]
    got = exact_gradient(make({"mu": mu, "kappa": kappa}, objective, "all"))
    for j, name in enumerate(("mu", "kappa")):
        for d in range(2):

            def expectation(step, d=d, name=name):
                values = {"mu": list(mu), "kappa": list(kappa)}
                values[name][d] += step
                return exact_expectation(make(values, objective))

            h = 1e-3
            expected = (expectation(-2 * h) - 8 * expectation(-h) + 8 * expectation(h) - expectation(2 * h)) / (12 * h)
            assert rel_close(got[2 * j + d], expected, 1e-8, floor=1e-6), (name, d, got[2 * j + d], expected)


# ------------------------------------------------------------------------------------------------
# Exact moments
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["cos:1", "sin:2", "cos:-3"])
@pytest.mark.parametrize("mu, kappa", [(0.5, 2.0), (-1.2, 0.3), (2.0, 40.0)])
def test_single_sample_variances_match_independent_quadrature(objective, mu, kappa):
    phi, dphi = OBJECTIVES[objective]
    problem = make({"mu": mu, "kappa": kappa}, objective, "all", samples=1)
    d_mu, d_kappa = exact_gradient(problem)
    mean = special.i1e(kappa) / special.i0e(kappa)

    def implicit_term(u):
        return dphi(mu + u) * kappa_derivative(kappa, np.array([u]))[0][0]

    expected = {
        "pathwise-mu": over_circle(lambda u: dphi(mu + u) ** 2, kappa) - d_mu**2,
        "implicit-kappa": over_circle(lambda u: implicit_term(u) ** 2, kappa) - d_kappa**2,
        "score-mu": over_circle(lambda u: (phi(mu + u) * kappa * math.sin(u)) ** 2, kappa) - d_mu**2,
        "score-kappa": over_circle(lambda u: (phi(mu + u) * (math.cos(u) - mean)) ** 2, kappa) - d_kappa**2,
    }
    implicit, score = exact_moments(problem, "implicit"), exact_moments(problem, "score")
    pathwise = exact_moments(make({"mu": mu, "kappa": kappa}, objective, "mu"), "pathwise")
    assert rel_close(pathwise.variance, [expected["pathwise-mu"]], 1e-9)
    assert rel_close(implicit.variance, [expected["pathwise-mu"], expected["implicit-kappa"]], 1e-9)
    assert rel_close(score.variance, [expected["score-mu"], expected["score-kappa"]], 1e-9)


@pytest.mark.parametrize("objective", ["cos:1", "sin:2", "cos-sum:1"])
@pytest.mark.parametrize("parameter", ["kappa", "mu", "all"])
def test_every_exact_mean_is_the_exact_gradient(objective, parameter):
    """Unbiasedness of every estimator by quadrature, D = 2, n = 2, to 1e−10 of the gradient or the spread."""
    problem = make({"mu": [0.5, -2.0], "kappa": [0.3, 12.0]}, objective, parameter, samples=2)
    gradient = exact_gradient(problem)
    for estimator in APPLICABLE[parameter]:
        if refusal(ESTIMATORS[estimator], problem):
            assert estimator == "score-baseline" and not problem.objective.separable
            continue
        moments = exact_moments(problem, estimator)
        assert not isinstance(moments, str), (estimator, moments)
        scale = np.maximum(np.abs(gradient), np.sqrt(2 * moments.variance))
        assert np.all(np.abs(moments.mean - gradient) <= 1e-10 * scale), (estimator, moments.mean, gradient)


def test_the_path_reach_bounds_the_implicit_derivative():
    """|∂ε/∂κ| stays below the magnitude check's bound over κ and ε (and the bound is not vacuous)."""
    largest = 0.0
    for kappa in (1e-3, 0.1, 1.0, 3.0, 30.0, 1e3, 1e6):
        u = np.linspace(-math.pi, math.pi, 4001)
        largest = max(largest, float(np.max(np.abs(kappa_derivative(kappa, u)[0]))))
    assert largest < VONMISES_PATH_REACH and largest > 0.05 * VONMISES_PATH_REACH
    bound, value = estimate_bound(make({"mu": 0.5, "kappa": 1e6}, "cos:2", "all"))
    assert value == 1.0 and bound == 4.0 * 1e6  # the score of μ: |f|·κ = 1e6 (f′·∂x/∂κ ≤ 2·4π), times 4


# ------------------------------------------------------------------------------------------------
# Monte Carlo of the compiled kernels
# ------------------------------------------------------------------------------------------------

MC_CASES = [(0.5, 2.0, "cos:1", "all"), (-1.2, 0.3, "sin:2", "all"), (2.0, 40.0, "cos:1", "kappa")]


@pytest.mark.parametrize("mu, kappa, objective, parameter", MC_CASES)
def test_kernels_are_unbiased_with_the_exact_variance(mu, kappa, objective, parameter):
    """D = 1, n = 2, 40 000 estimates (seed 0): every coordinate's mean within 5 SE of ∇, and the total variance,
    Σ‖g − ∇‖²/T, within 5 SE of the exact one."""
    trials = 40_000
    problem = make({"mu": mu, "kappa": kappa}, objective, parameter, samples=2)
    gradient = exact_gradient(problem)
    for name in APPLICABLE[parameter]:
        exact = exact_moments(problem, name)
        raw = run_source(ContinuousSource(problem, ESTIMATORS[name], gradient, "cpu"), trials, 2)
        variance = raw.m2 / (trials - 1)
        assert np.all(np.abs(raw.mean - gradient) <= 5 * np.sqrt(variance / trials)), name
        second = raw.q_sum / trials
        spread = math.sqrt((raw.q_sq_sum / trials - second**2) / trials)
        assert abs(second - exact.variance.sum()) <= 5 * spread, (name, second, exact.variance)


def test_pathwise_and_implicit_agree_on_the_location():
    """∂x/∂μ = 1 both ways: the same exact moments."""
    problem = make({"mu": 0.3, "kappa": 1.5}, "sin:1", "mu", samples=3)
    pathwise, implicit = exact_moments(problem, "pathwise"), exact_moments(problem, "implicit")
    assert np.array_equal(pathwise.variance, implicit.variance)


def test_implicit_beats_score_at_high_concentration():
    """κ = 40, cos: the implicit estimator's exact variance of ∂κ is far below the score function's."""
    problem = make({"mu": 0.5, "kappa": 40.0}, "cos:1", "kappa", samples=4)
    implicit, score = (exact_moments(problem, name).variance[0] for name in ("implicit", "score"))
    assert implicit < 0.05 * score


def test_the_numpy_backend_draws_the_kernels_numbers():
    problem = build_problem(
        "vonmises", {"mu": "0.4,-2", "kappa": "0.2,30"}, "all", "cos-sum:1", 3, None, 1_500, 5
    )
    shift = np.linspace(-0.3, 0.3, problem.size)
    for name in APPLICABLE["all"]:
        if refusal(ESTIMATORS[name], problem):
            continue
        assert_numpy_backend_agrees(problem, ESTIMATORS[name], shift, problem.trials)
    mu_problem = build_problem("vonmises", {"mu": "1", "kappa": "3"}, "mu", "sin:2", 2, None, 500, 5)
    assert_numpy_backend_agrees(mu_problem, ESTIMATORS["pathwise"], np.zeros(1), 500)


@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_simulated_cuda_equals_the_numpy_backend():
    assert_simulated_cuda_agrees(
        'build_problem("vonmises", {"mu": "0.5", "kappa": "0.7,20"}, "all", "cos:1", 2, None, 48, 5)'
    )


# ------------------------------------------------------------------------------------------------
# Problem, registry and command line
# ------------------------------------------------------------------------------------------------


def test_problem_and_defaults():
    problem = make({}, "cos:1", samples=2)
    assert problem.parameters == ("kappa",) and problem.parameter_codes == (ParameterCode.KAPPA,)
    assert problem.describe() == "vonmises(mu = 1, kappa = 2)"
    assert [spec.name for spec in parse_estimators(None, problem)] == ["implicit", "score", "score-loo"]
    both = make({"mu": [0, 1], "kappa": 3}, "sin:1", "all", samples=2)
    assert both.coordinate_names() == ["mu[0]", "mu[1]", "kappa[0]", "kappa[1]"]
    location = make({"kappa": 3}, "cos:1", "mu", samples=2)
    assert [spec.name for spec in parse_estimators(None, location)] == ["pathwise", "implicit", "score", "score-loo"]


@pytest.mark.parametrize(
    "values, objective, parameter, words",
    [
        ({"kappa": 0}, "cos:1", None, "--kappa must be positive"),
        ({"kappa": "1,-2"}, "cos:1", None, "--kappa must be positive"),
        ({"kappa": 2e6}, "cos:1", None, "at most 1e\\+06"),
        ({}, "square:0", None, "not 2π-periodic"),
        ({}, "log", None, "not 2π-periodic"),
        ({}, "cos:1.5", None, "not 2π-periodic"),
        ({}, "mean", None, "not 2π-periodic"),
        ({}, "quad-form:1", None, "not 2π-periodic"),
        ({}, "step:0", None, "not 2π-periodic"),
        ({"sigma": 1}, "cos:1", None, "--sigma does not apply to --dist vonmises"),
        ({}, "cos:1", "sigma", "choose from kappa, mu, all"),
    ],
)
def test_problem_refusals(values, objective, parameter, words):
    with pytest.raises(InputError, match=words):
        make(values, objective, parameter)


@pytest.mark.parametrize(
    "parameter, estimator, words",
    [
        ("kappa", "pathwise", "use implicit"),
        ("all", "pathwise", "use implicit"),
        ("kappa", "mvd", "mvd applies to --dist"),
        ("mu", "score-delta", "score-delta applies to --dist gaussian"),
    ],
)
def test_estimator_refusals(parameter, estimator, words):
    reason = refusal(ESTIMATORS[estimator], make({}, "cos:1", parameter, samples=2))
    assert reason is not None and words in reason and "\n" not in reason


@pytest.mark.parametrize(
    "args",
    [
        ["--kappa", "0"],
        ["--kappa", "-1"],
        ["-o", "square:1"],
        ["-o", "cos:0.5"],
        ["-e", "mvd"],
        ["--param", "kappa", "-e", "pathwise"],
    ],
)
def test_bad_input_exits_2_with_one_line(cli, args):
    result = cli("continuous", "--dist", "vonmises", *args, "-t", "100")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err


def test_cli_run_is_unbiased_with_exact_variances(cli):
    result = cli("continuous", "--dist", "vonmises", "--mu", "0.5,-1", "--kappa", "2,15", "--param", "all",
                 "-o", "cos:2", "-n", "4", "-t", "20000", "--seed", "3", "--exact", "--json", "-", "--fail-on-bias",
                 "-e", "implicit,score,score-loo,score-baseline")
    assert result.code == 0, result.err
    record = result.json()
    for entry in record["estimators"]:
        assert entry["unbiased"] is True and entry["bias_max_abs_z"] <= 5, entry["name"]
        assert entry["bias_exact_max_abs"] < 1e-9
        if entry["variance_exact_z_max"] is not None:
            assert entry["variance_exact_z_max"] <= 5, entry["name"]
        assert entry["rejections_per_trial"] > 0
