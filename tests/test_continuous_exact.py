"""Exact ground truth of the continuous family: closed-form gradients and quadrature moments (issue 15).

Every reference here is computed independently of :mod:`carms_cli.continuous.exact`: scipy's
adaptive quadrature, product Gauss rules, exact polynomial expectations from the moments of
independent variables, enumeration of a discrete stand-in, the spec's closed forms, or Monte Carlo
with a fixed seed and |z| ≤ 5.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate as sci_integrate
from scipy import special

from carms_cli.continuous.exact import (
    DELTA_REASON,
    WG,
    WGK,
    XGK,
    exact_expectation,
    exact_gradient,
    exact_moments,
    loo_statistics,
    loo_variance,
    sample_moments,
)
from carms_cli.continuous.problem import build_problem
from carms_cli.core.errors import InputError

SQRT_2PI = math.sqrt(2.0 * math.pi)


def make(dist, values, objective, parameter=None, samples=1, dims=None):
    """Build a problem from {name: value or list}."""
    given = {name: None for name in ("mu", "sigma", "rate", "alpha")}
    for name, value in values.items():
        given[name] = ",".join(str(v) for v in np.atleast_1d(value))
    return build_problem(dist, given, parameter, objective, samples, dims, None, 0)


def rel_close(actual, expected, rel, floor=0.0):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    return np.all(np.abs(actual - expected) <= rel * np.maximum(np.abs(expected), floor))


# ------------------------------------------------------------------------------------------------
# The quadrature rule
# ------------------------------------------------------------------------------------------------


def test_gauss_kronrod_rule_degrees():
    """Kronrod 21 integrates x^j exactly up to j = 31, its Gauss 10 part up to 19 (and not 20)."""
    for j in range(32):
        exact = (1 - (-1) ** (j + 1)) / (j + 1)
        assert abs(WGK @ XGK**j - exact) < 1e-14
        if j < 20:
            assert abs(WG @ XGK**j - exact) < 1e-14
    assert abs(WG @ XGK**20 - 2 / 21) > 1e-8
    nodes, weights = np.polynomial.legendre.leggauss(10)
    assert np.allclose(XGK[1::2], nodes, atol=1e-15, rtol=0)
    assert np.allclose(WG[1::2], weights, atol=1e-15, rtol=0)


# ------------------------------------------------------------------------------------------------
# Gradient and expectation: closed forms against scipy.integrate.quad of f·q and f·q·∂log q
# ------------------------------------------------------------------------------------------------


def line_quad(func, lower, upper, points=()):
    """∫ func over [lower, upper] by scipy quad, split at the given points (tight tolerances)."""
    cuts = sorted({p for p in points if lower < p < upper})
    edges = [lower, *cuts, upper]
    total = 0.0
    with warnings.catch_warnings():  # "roundoff detected" means it reached rounding level: the tests judge
        warnings.simplefilter("ignore", sci_integrate.IntegrationWarning)
        for a, b in itertools.pairwise(edges):
            total += sci_integrate.quad(func, a, b, epsabs=0.0, epsrel=1e-13, limit=500)[0]
    return total


def gaussian_reference(phi, mu, sigma, k_points):
    """E φ, ∂μ E φ, ∂σ E φ as ∫ φ q, ∫ φ q (x − μ)/σ², ∫ φ q ((x − μ)²/σ² − 1)/σ over x."""

    def q(x):
        return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * SQRT_2PI)

    points = [mu, *k_points]
    lo, hi = mu - 40 * sigma, mu + 40 * sigma
    e = line_quad(lambda x: phi(x) * q(x), lo, hi, points)
    d_mu = line_quad(lambda x: phi(x) * q(x) * (x - mu) / sigma**2, lo, hi, points)
    d_sigma = line_quad(lambda x: phi(x) * q(x) * (((x - mu) / sigma) ** 2 - 1) / sigma, lo, hi, points)
    return e, d_mu, d_sigma


def gamma_reference(phi, alpha, beta, k_points):
    """E φ and ∂β E φ = ∫ φ q (α/β − x) for x ~ Gamma(α, rate β)."""

    def q(x):
        return math.exp(alpha * math.log(beta) + (alpha - 1) * math.log(x) - beta * x - math.lgamma(alpha))

    points = [alpha / beta, *[k for k in k_points if k > 0]]
    hi = (alpha + 60 + 20 * math.sqrt(alpha)) / beta
    e = line_quad(lambda x: phi(x) * q(x), 0.0, hi, points)
    d_beta = line_quad(lambda x: phi(x) * q(x) * (alpha / beta - x), 0.0, hi, points)
    return e, d_beta


SEPARABLE = {
    "square:1.5": (lambda x: (x - 1.5) ** 2, [1.5]),
    "exp:0.7": (lambda x: math.exp(-0.7 * x * x), [0.0]),
    "cos:2": (lambda x: math.cos(2 * x), []),
    "sin:1.3": (lambda x: math.sin(1.3 * x), []),
    "poly:1,-2,0.5,0.25": (lambda x: 1 - 2 * x + 0.5 * x**2 + 0.25 * x**3, []),
    "step:0.4": (lambda x: float(x > 0.4), [0.4]),
    "laplace:0.8": (lambda x: math.exp(-0.8 * x), []),
}


@pytest.mark.parametrize("objective", list(SEPARABLE))
@pytest.mark.parametrize("mu, sigma", [(0.3, 1.2), (-1.1, 0.45)])
def test_gaussian_gradient_matches_quadrature(objective, mu, sigma):
    phi, points = SEPARABLE[objective]
    e, d_mu, d_sigma = gaussian_reference(phi, mu, sigma, points)
    problem = make("gaussian", {"mu": mu, "sigma": sigma}, objective, "all")
    assert rel_close(exact_expectation(problem), e, 1e-9, floor=1e-3)
    assert rel_close(exact_gradient(problem), [d_mu, d_sigma], 1e-9, floor=1e-3)
    log_sigma = make("gaussian", {"mu": mu, "sigma": sigma}, objective, "log-sigma")
    assert rel_close(exact_gradient(log_sigma), [sigma * d_sigma], 1e-9, floor=1e-3)


@pytest.mark.parametrize("objective", [*SEPARABLE, "log"])
@pytest.mark.parametrize("dist, alpha, beta", [("gamma", 2.5, 1.5), ("gamma", 0.7, 0.8), ("exponential", 1.0, 0.7)])
def test_rate_gradient_matches_quadrature(objective, dist, alpha, beta):
    phi, points = SEPARABLE.get(objective, (math.log, []))
    e, d_beta = gamma_reference(phi, alpha, beta, points)
    values = {"rate": beta} if dist == "exponential" else {"alpha": alpha, "rate": beta}
    problem = make(dist, values, objective)
    assert rel_close(exact_expectation(problem), e, 1e-9, floor=1e-3)
    assert rel_close(exact_gradient(problem), [d_beta], 1e-9, floor=1e-3)


def product_rule(dist, values, nodes=150):
    """Nodes (n, 2) and weights of a product rule for two independent coordinates.

    Gaussian: ``nodes``-point Gauss–Hermite per axis. Gamma: x = y², whose density
    2β^α y^{2α−1} e^{−βy²}/Γ(α) is a smooth function of y for half-integer α, by composite 12-point
    Gauss–Legendre on 4·``nodes``/12 panels over [0, √(90/β)] (e^{−90} is negligible).
    """
    axes = []
    for d in range(2):
        if dist == "gaussian":
            t, w = np.polynomial.hermite_e.hermegauss(nodes)
            axes.append((values["mu"][d] + values["sigma"][d] * t, w / SQRT_2PI))
        else:
            alpha, beta = values.get("alpha", [1.0, 1.0])[d], values["rate"][d]
            panels = 4 * nodes // 12
            edges = np.linspace(0.0, math.sqrt(90.0 / beta), panels + 1)
            t, w = np.polynomial.legendre.leggauss(12)
            half = 0.5 * np.diff(edges)
            y = ((edges[:-1] + edges[1:]) / 2)[:, None] + half[:, None] * t
            wy = (half[:, None] * w).ravel()
            y = y.ravel()
            log_density = alpha * math.log(beta) + (2 * alpha - 1) * np.log(y) - beta * y * y - math.lgamma(alpha)
            density = 2 * np.exp(log_density)
            axes.append((y * y, wy * density))
    x = np.stack(np.meshgrid(axes[0][0], axes[1][0], indexing="ij"), axis=-1).reshape(-1, 2)
    w = np.outer(axes[0][1], axes[1][1]).ravel()
    return x, w


def scores(dist, values, x, parameter, d):
    if dist == "gaussian":
        mu, sigma = values["mu"][d], values["sigma"][d]
        e = (x[:, d] - mu) / sigma
        return e / sigma if parameter == "mu" else (e * e - 1) / sigma
    alpha = values.get("alpha", [1.0, 1.0])[d]
    return alpha / values["rate"][d] - x[:, d]


NON_SEPARABLE_CASES = [
    ("gaussian", {"mu": [0.3, -0.7], "sigma": [1.2, 0.6]}, ("mu", "sigma")),
    ("gamma", {"alpha": [2.5, 1.5], "rate": [1.5, 0.9]}, ("rate",)),
]


@pytest.mark.parametrize("dist, values, parameters", NON_SEPARABLE_CASES)
@pytest.mark.parametrize("objective", ["cos-sum:0.8", "quad-form:1.5,-0.5"])
def test_non_separable_gradient_matches_product_rule(dist, values, parameters, objective):
    """E f and ∂θ_d E f = E[f s_d] by a product rule (:func:`product_rule`)."""
    problem = make(dist, values, objective, "all" if dist == "gaussian" else "rate")
    x, w = product_rule(dist, values)
    f = problem.objective.value(x)
    assert rel_close(exact_expectation(problem), w @ f, 1e-10)
    expected = [w @ (f * scores(dist, values, x, p, d)) for p in parameters for d in range(2)]
    assert rel_close(exact_gradient(problem), expected, 1e-9, floor=1e-3)


# ------------------------------------------------------------------------------------------------
# Moments: the spec's closed forms for the square cost
# ------------------------------------------------------------------------------------------------

SQUARE_TABLE = {  # estimator: (Var t for μ, Var t for σ), d = μ − k (continuous.md, "Single-sample variances")
    "score": (lambda d, s: d**4 / s**2 + 14 * d**2 + 15 * s**2, lambda d, s: 2 * d**4 / s**2 + 60 * d**2 + 74 * s**2),
    "pathwise": (lambda d, s: 4 * s**2, lambda d, s: 4 * d**2 + 8 * s**2),
    "mvd": (lambda d, s: 4 * d**2 * (4 - math.pi) / math.pi, lambda d, s: 4 * d**2 + 4 * s**2),
    "mvd-uncoupled": (
        lambda d, s: 2 * d**2 * (4 - math.pi) / math.pi + 4 * s**2 / math.pi,
        lambda d, s: 16 * d**2 + 8 * s**2,
    ),
}


@pytest.mark.parametrize("estimator", list(SQUARE_TABLE))
@pytest.mark.parametrize("mu, sigma, k", [(1.0, 1.0, -3.0), (0.3, 1.7, 0.9), (-2.0, 0.4, 1.5), (0.5, 2.5, 0.5)])
def test_square_cost_single_sample_variances(estimator, mu, sigma, k):
    """Var t of the spec's table (d = μ − k; the last case has d = 0, where coupled MVD-μ has Var 0)."""
    problem = make("gaussian", {"mu": mu, "sigma": sigma}, f"square:{k}", "all")
    moments = exact_moments(problem, estimator)
    expected = [form(mu - k, sigma) for form in SQUARE_TABLE[estimator]]
    assert rel_close(moments.variance, expected, 1e-9, floor=1e-6 * sigma**2)
    assert rel_close(moments.mean, [2 * (mu - k), 2 * sigma], 1e-12, floor=sigma)


def test_coupling_is_not_always_better():
    """Spec: square, k = −3, μ = σ = 1: coupled 17.49 vs uncoupled 10.02 for μ."""
    problem = make("gaussian", {"mu": 1.0, "sigma": 1.0}, "square:-3", "mu")
    coupled = exact_moments(problem, "mvd").variance[0]
    uncoupled = exact_moments(problem, "mvd-uncoupled").variance[0]
    assert round(coupled, 2) == 17.49 and round(uncoupled, 2) == 10.02


# ------------------------------------------------------------------------------------------------
# Moments of polynomial objectives: exact expectations of polynomials in independent variables
# ------------------------------------------------------------------------------------------------


class Poly:
    """A polynomial in independent random variables V_0 … V_{m−1}: {exponent tuple: coefficient}."""

    def __init__(self, terms, count):
        self.terms, self.count = {e: c for e, c in terms.items() if c != 0}, count

    @classmethod
    def affine(cls, count, index, a=0.0, b=1.0):
        """a + b·V_index."""
        unit = tuple(int(i == index) for i in range(count))
        return cls({(0,) * count: a, unit: b}, count)

    def _lift(self, other):
        return other if isinstance(other, Poly) else Poly({(0,) * self.count: float(other)}, self.count)

    def __add__(self, other):
        other, terms = self._lift(other), dict(self.terms)
        for e, c in other.terms.items():
            terms[e] = terms.get(e, 0.0) + c
        return Poly(terms, self.count)

    __radd__ = __add__

    def __neg__(self):
        return Poly({e: -c for e, c in self.terms.items()}, self.count)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        other, terms = self._lift(other), {}
        for (e1, c1), (e2, c2) in itertools.product(self.terms.items(), other.terms.items()):
            e = tuple(a + b for a, b in zip(e1, e2, strict=True))
            terms[e] = terms.get(e, 0.0) + c1 * c2
        return Poly(terms, self.count)

    __rmul__ = __mul__

    def __pow__(self, power):
        out = Poly({(0,) * self.count: 1.0}, self.count)
        for _ in range(power):
            out = out * self
        return out

    def expect(self, moments):
        """E of the polynomial, ``moments[i](j)`` = E V_i^j."""
        return sum(c * math.prod(moments[i](j) for i, j in enumerate(e) if j) for e, c in self.terms.items())


def normal_moment(j):
    return 0.0 if j % 2 else float(math.prod(range(1, j, 2)))


def rayleigh_moment(j):
    return 2.0 ** (j / 2) * math.gamma(1 + j / 2)


def maxwell_moment(j):  # double-sided Maxwell: E M^{2i} = (2i + 1)!!
    return 0.0 if j % 2 else float(math.prod(range(1, j + 2, 2)))


def uniform_moment(j):
    return 1.0 / (j + 1)


def gamma_moment(alpha, beta):
    return lambda j: float(special.poch(alpha, j)) / beta**j


def oracle_moments(t, moments):
    """Mean, variance and fourth central moment of the polynomial t."""
    mean = t.expect(moments)
    centred = t - mean
    return mean, (centred**2).expect(moments), (centred**4).expect(moments)


def polynomial_term(dist, values, f, df, estimator, parameter, d, dims):
    """The per-sample term of coordinate d as a Poly, and the moments of its variables.

    Variables: 0 … dims−1 the coordinates' own (standard normal / Gamma) variables, then the extra
    ones of the estimator (Rayleigh W, Maxwell M, U, N, E, a second Gamma).
    """
    count = dims + 2
    v = [Poly.affine(count, i) for i in range(count)]
    if dist == "gaussian":
        mu, sigma = values["mu"], values["sigma"]
        xs = [mu[e] + sigma[e] * v[e] for e in range(dims)]
        moments = [normal_moment] * dims
        m, s = mu[d], sigma[d]
        factor = s if parameter == "log-sigma" else 1.0
        base = "sigma" if parameter == "log-sigma" else parameter
        swap = lambda new: [new if e == d else xs[e] for e in range(dims)]  # noqa: E731
        if estimator == "pathwise":
            t = df(xs, d) * (1.0 if base == "mu" else v[d])
        elif estimator == "score":
            t = f(xs) * (v[d] * (1 / s) if base == "mu" else (v[d] * v[d] - 1) * (1 / s))
        elif base == "mu":
            c = 1 / (s * SQRT_2PI)
            w_plus = v[dims]
            w_minus = v[dims] if estimator == "mvd" else v[dims + 1]
            t = c * (f(swap(m + s * w_plus)) - f(swap(m - s * w_minus)))
            moments = moments + [rayleigh_moment, rayleigh_moment]
        else:
            plus = m + s * v[dims]
            minus = m + s * v[dims] * v[dims + 1] if estimator == "mvd" else m + s * v[dims + 1]
            t = (1 / s) * (f(swap(plus)) - f(swap(minus)))
            moments = moments + [maxwell_moment, uniform_moment if estimator == "mvd" else normal_moment]
        return t * factor, moments
    alpha = values.get("alpha", [1.0] * dims)
    beta = values["rate"]
    xs = [v[e] for e in range(dims)]
    moments = [gamma_moment(alpha[e], beta[e]) for e in range(dims)]
    a, b = alpha[d], beta[d]
    swap = lambda new: [new if e == d else xs[e] for e in range(dims)]  # noqa: E731
    if estimator == "pathwise":
        return df(xs, d) * (v[d] * (-1 / b)), moments
    if estimator == "score":
        return f(xs) * (a / b - v[d]), moments
    if estimator == "mvd":  # x⁻ = x⁺ + E, E ~ Exp(β)
        t = (a / b) * (f(xs) - f(swap(v[d] + v[dims])))
        return t, moments + [gamma_moment(1.0, b), uniform_moment]
    t = (a / b) * (f(xs) - f(swap(v[dims])))  # x⁻ ~ Gamma(α + 1, β) independent
    return t, moments + [gamma_moment(a + 1.0, b), uniform_moment]


def quad_form(w):
    def f(xs):
        y = sum(wi * x for wi, x in zip(w, xs, strict=True))
        return y * y

    def df(xs, d):
        return 2 * w[d] * sum(wi * x for wi, x in zip(w, xs, strict=True))

    return f, df


def separable_poly(c):
    def phi(x):
        return sum(ci * x**i for i, ci in enumerate(c))

    def f(xs):
        return sum(phi(x) for x in xs)

    def df(xs, d):
        return sum(i * ci * xs[d] ** (i - 1) for i, ci in enumerate(c) if i)

    return f, df


POLY_CASES = [
    ("gaussian", {"mu": [0.3, -0.7], "sigma": [1.2, 0.6]}, ("mu", "sigma", "log-sigma")),
    ("gamma", {"alpha": [2.5, 0.8], "rate": [1.5, 0.9]}, ("rate",)),
    ("exponential", {"rate": [0.7, 2.0]}, ("rate",)),
]
ITERATED = ("pathwise", "score", "mvd", "mvd-uncoupled")


@pytest.mark.parametrize("dist, values, parameters", POLY_CASES)
@pytest.mark.parametrize("objective", ["quad-form:1.5,-0.5", "poly:0.5,-1,0.3,0.2"])
def test_polynomial_objectives_match_exact_polynomial_expectations(dist, values, parameters, objective):
    """D = 2: mean, Var t and μ₄ of every iid estimator equal exact polynomial expectations.

    Covers the non-separable quad-form (remainder moments up to the 8th), the separable score's
    remainder, and the nested integrals of coupled MVD-σ and coupled MVD of the rate.
    """
    if objective.startswith("quad"):
        f, df = quad_form([1.5, -0.5])
    else:
        f, df = separable_poly([0.5, -1, 0.3, 0.2])
    for parameter in parameters:
        problem = make(dist, values, objective, parameter)
        for estimator in ITERATED:
            mean, var, fourth = sample_moments(problem, estimator)
            for d in range(2):
                t, moments = polynomial_term(dist, values, f, df, estimator, parameter, d, 2)
                expected = oracle_moments(t, moments)
                scale = math.sqrt(expected[1]) + abs(expected[0])
                assert abs(mean[d] - expected[0]) <= 1e-10 * scale, (parameter, estimator, d)
                assert rel_close(var[d], expected[1], 1e-9), (parameter, estimator, d)
                assert rel_close(fourth[d], expected[2], 1e-9), (parameter, estimator, d)


def test_one_dimensional_non_separable_objectives_equal_their_separable_forms():
    """D = 1: quad-form:w is poly:0,0,w², cos-sum:k is cos:k, for every estimator."""
    for dist, values in [("gaussian", {"mu": 0.4, "sigma": 1.3}), ("gamma", {"alpha": 1.7, "rate": 0.6})]:
        parameter = "all" if dist == "gaussian" else "rate"
        for left, right in [("quad-form:1.5", "poly:0,0,2.25"), ("cos-sum:0.9", "cos:0.9")]:
            a, b = make(dist, values, left, parameter, samples=3), make(dist, values, right, parameter, samples=3)
            assert rel_close(exact_gradient(a), exact_gradient(b), 1e-12)
            for estimator in ("pathwise", "score", "score-loo", "mvd", "mvd-uncoupled"):
                ma, mb = exact_moments(a, estimator), exact_moments(b, estimator)
                assert rel_close(ma.mean, mb.mean, 1e-10, floor=1e-3), (left, estimator)
                assert rel_close(ma.variance, mb.variance, 1e-9), (left, estimator)


# ------------------------------------------------------------------------------------------------
# Moments of non-polynomial objectives: closed forms and independent quadrature
# ------------------------------------------------------------------------------------------------


def three_point(c, p_up, p_down):
    """Mean, variance, μ₄ of t ∈ {c, 0, −c} with probabilities p_up, 1 − p_up − p_down, p_down."""
    values = np.array([c, 0.0, -c])
    probs = np.array([p_up, 1 - p_up - p_down, p_down])
    mean = probs @ values
    return mean, probs @ (values - mean) ** 2, probs @ (values - mean) ** 4


def npdf(z):
    return math.exp(-0.5 * z * z) / SQRT_2PI


def maxwell_survival(m):  # P(M > m) for the double-sided Maxwell: 1 − Φ(m) + mφ(m)
    return float(special.ndtr(-m)) + m * npdf(m)


@pytest.mark.parametrize("mu, sigma, k", [(0.3, 1.2, 0.9), (0.3, 1.2, -0.4), (-1.0, 0.5, -1.6)])
def test_mvd_of_a_step_matches_closed_forms_gaussian(mu, sigma, k):
    """f = 1[x > k]: every MVD term takes at most three values; their probabilities in closed form.

    μ coupled: t = c·1[W > a], a = |k − μ|/σ, P = e^{−a²/2}. σ coupled (x⁻ between μ and x⁺): for
    k > μ, t = 1/σ iff M > a ≥ MU, P = aφ(a); for k < μ, t = −1/σ with P = a'φ(a'), a' = (μ − k)/σ.
    Uncoupled: independent indicators, P(x⁺ > k) and P(x⁻ > k) from the Rayleigh, Maxwell and
    normal survival functions.
    """
    problem = make("gaussian", {"mu": mu, "sigma": sigma}, f"step:{k}", "all")
    c_mu, c_sigma = 1 / (sigma * SQRT_2PI), 1 / sigma
    a = (k - mu) / sigma
    rayleigh_sf = lambda w: math.exp(-0.5 * max(w, 0.0) ** 2)  # noqa: E731
    expected = {
        "mvd": [
            three_point(c_mu, math.exp(-0.5 * a * a), 0.0),
            three_point(c_sigma, a * npdf(a), 0.0) if a > 0 else three_point(c_sigma, 0.0, -a * npdf(a)),
        ],
        "mvd-uncoupled": [],
    }
    p_plus, p_minus = rayleigh_sf(a), 1 - rayleigh_sf(-a)  # P(μ + σW > k), P(μ − σW > k)
    expected["mvd-uncoupled"].append(three_point(c_mu, p_plus * (1 - p_minus), p_minus * (1 - p_plus)))
    p_plus, p_minus = maxwell_survival(a), float(special.ndtr(-a))
    expected["mvd-uncoupled"].append(three_point(c_sigma, p_plus * (1 - p_minus), p_minus * (1 - p_plus)))
    for estimator, rows in expected.items():
        mean, var, fourth = sample_moments(problem, estimator)
        assert rel_close(mean, [r[0] for r in rows], 1e-10), estimator
        assert rel_close(var, [r[1] for r in rows], 1e-9), estimator
        assert rel_close(fourth, [r[2] for r in rows], 1e-9), estimator


@pytest.mark.parametrize(
    "dist, alpha, beta, k",
    [("gamma", 1.7, 1.3, 0.8), ("gamma", 0.6, 2.0, 0.3), ("exponential", 1.0, 0.7, 2.5), ("gamma", 1000.0, 1.0, 1.0)],
)
def test_mvd_of_a_step_matches_closed_forms_rate(dist, alpha, beta, k):
    """Rate, f = 1[x > k]: coupled t = −(α/β)·1[x⁺ ≤ k < x⁺ + E] with P = e^{−βk}(βk)^α/Γ(α + 1)
    (∫_0^k q(x) e^{−β(k − x)} dx); uncoupled from P(x⁺ > k) = Q(α, βk) and P(x⁻ > k) = Q(α + 1, βk).
    α = 1000, k = 1: t ≡ 0 and the outer weights underflow to 0 in the tails (rows that must not block
    convergence)."""
    values = {"rate": beta} if dist == "exponential" else {"alpha": alpha, "rate": beta}
    problem = make(dist, values, f"step:{k}")
    c = alpha / beta
    p = math.exp(-beta * k + alpha * math.log(beta * k) - math.lgamma(alpha + 1))
    coupled = three_point(c, 0.0, p)
    p_plus, p_minus = special.gammaincc(alpha, beta * k), special.gammaincc(alpha + 1, beta * k)
    uncoupled = three_point(c, p_plus * (1 - p_minus), p_minus * (1 - p_plus))
    for estimator, row in [("mvd", coupled), ("mvd-uncoupled", uncoupled)]:
        mean, var, fourth = sample_moments(problem, estimator)
        assert rel_close(mean, [row[0]], 1e-10, floor=1e-12 * c), estimator
        assert rel_close(var, [row[1]], 1e-9, floor=1e-12 * c**2), estimator
        assert rel_close(fourth, [row[2]], 1e-9, floor=1e-12 * c**4), estimator


def test_score_of_a_step_matches_quadrature():
    """Gaussian μ: t = 1[x > k]ε/σ, Var = ∫_k^∞ q (x − μ)²/σ⁴ dx − mean²; Gamma: ∫_k^∞ q (α/β − x)² dx − mean²."""
    mu, sigma, k = 0.3, 1.2, 0.9
    q = lambda x: math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * SQRT_2PI)  # noqa: E731
    second = line_quad(lambda x: q(x) * (x - mu) ** 2 / sigma**4, k, mu + 40 * sigma)
    first = line_quad(lambda x: q(x) * (x - mu) / sigma**2, k, mu + 40 * sigma)
    moments = exact_moments(make("gaussian", {"mu": mu, "sigma": sigma}, f"step:{k}", "mu"), "score")
    assert rel_close(moments.mean, [first], 1e-10) and rel_close(moments.variance, [second - first**2], 1e-9)
    alpha, beta = 1.7, 1.3
    g = lambda x: math.exp(alpha * math.log(beta) + (alpha - 1) * math.log(x) - beta * x - math.lgamma(alpha))  # noqa: E731
    second = line_quad(lambda x: g(x) * (alpha / beta - x) ** 2, k, 100.0)
    first = line_quad(lambda x: g(x) * (alpha / beta - x), k, 100.0)
    moments = exact_moments(make("gamma", {"alpha": alpha, "rate": beta}, f"step:{k}"), "score")
    assert rel_close(moments.mean, [first], 1e-10) and rel_close(moments.variance, [second - first**2], 1e-9)


def test_coupled_mvd_sigma_of_cos_matches_quadrature_with_analytic_inner_integral():
    """x⁺ = μ + σM, x⁻ = μ + σMU: given M = m, E_U cos(kx⁻) = (sin(k(μ + σm)) − sin kμ)/(kσm) and
    E_U cos²(kx⁻) = ½ + (sin(2k(μ + σm)) − sin 2kμ)/(4kσm); then one scipy quad over m."""
    mu, sigma, k = 0.2, 0.9, 1.3

    def parts(m):
        a = math.cos(k * (mu + sigma * m))
        mean_b = (math.sin(k * (mu + sigma * m)) - math.sin(k * mu)) / (k * sigma * m)
        mean_b2 = 0.5 + (math.sin(2 * k * (mu + sigma * m)) - math.sin(2 * k * mu)) / (4 * k * sigma * m)
        return a, mean_b, mean_b2

    density = lambda m: m * m * npdf(m)  # noqa: E731
    mean = line_quad(lambda m: density(m) * (parts(m)[0] - parts(m)[1]), -40, 40, [0.0]) / sigma
    second = (
        line_quad(
            lambda m: density(m) * (parts(m)[0] ** 2 - 2 * parts(m)[0] * parts(m)[1] + parts(m)[2]), -40, 40, [0.0]
        )
        / sigma**2
    )
    moments = exact_moments(make("gaussian", {"mu": mu, "sigma": sigma}, f"cos:{k}", "sigma"), "mvd")
    assert rel_close(moments.mean, [mean], 1e-10)
    assert rel_close(moments.variance, [second - mean**2], 1e-9)


@pytest.mark.parametrize("dist, alpha, beta", [("gamma", 2.5, 1.5), ("gamma", 0.6, 0.8), ("exponential", 1.0, 0.7)])
def test_coupled_mvd_rate_of_cos_matches_quadrature_with_analytic_inner_integral(dist, alpha, beta):
    """x⁻ = x⁺ + E, E ~ Exp(β): E_E e^{ik(x + E)} = e^{ikx} β/(β − ik), so E_E cos and cos² are
    closed-form; then one scipy quad over x⁺ ~ Gamma(α, β). This is the registry's coupling, not
    the one the module integrates (x⁻ outside, x⁺ = x⁻e^{−Y} inside)."""
    k = 1.3
    c = alpha / beta

    def integrand(x, power):
        a = math.cos(k * x)
        mean_b = (np.exp(1j * k * x) * beta / (beta - 1j * k)).real
        mean_b2 = 0.5 + 0.5 * (np.exp(2j * k * x) * beta / (beta - 2j * k)).real
        q = math.exp(alpha * math.log(beta) + (alpha - 1) * math.log(x) - beta * x - math.lgamma(alpha))
        return q * ((a - mean_b) if power == 1 else (a * a - 2 * a * mean_b + mean_b2))

    upper = (alpha + 80) / beta
    mean = c * line_quad(lambda x: integrand(x, 1), 0.0, upper, [alpha / beta])
    second = c * c * line_quad(lambda x: integrand(x, 2), 0.0, upper, [alpha / beta])
    values = {"rate": beta} if dist == "exponential" else {"alpha": alpha, "rate": beta}
    moments = exact_moments(make(dist, values, f"cos:{k}"), "mvd")
    assert rel_close(moments.mean, [mean], 1e-10)
    assert rel_close(moments.variance, [second - mean**2], 1e-9)


@pytest.mark.parametrize("dist, values, parameters", NON_SEPARABLE_CASES)
@pytest.mark.parametrize("objective", ["cos:1.3", "sin:1.3", "cos-sum:0.8", "exp:0.6"])
def test_two_dimensional_pathwise_and_score_match_product_rule(dist, values, parameters, objective):
    """D = 2: mean, Var t, μ₄ of pathwise and score against a product rule (:func:`product_rule`) — the separable
    score's remainder (from quadrature of φ's central moments) and cos-sum's characteristic functions."""
    problem = make(dist, values, objective, "all" if dist == "gaussian" else "rate")
    x, w = product_rule(dist, values)
    f = problem.objective.value(x)
    grad = problem.objective.gradient(x)
    for estimator in ("pathwise", "score"):
        mean, var, fourth = sample_moments(problem, estimator)
        index = 0
        for p in parameters:
            for d in range(2):
                if estimator == "score":
                    t = f * scores(dist, values, x, p, d)
                elif dist == "gaussian":
                    t = grad[:, d] * (1.0 if p == "mu" else (x[:, d] - values["mu"][d]) / values["sigma"][d])
                else:
                    t = -grad[:, d] * x[:, d] / values["rate"][d]
                m = w @ t
                assert rel_close(mean[index], m, 1e-10, floor=1e-3), (estimator, p, d)
                assert rel_close(var[index], w @ (t - m) ** 2, 1e-9), (estimator, p, d)
                assert rel_close(fourth[index], w @ (t - m) ** 4, 1e-9), (estimator, p, d)
                index += 1


# ------------------------------------------------------------------------------------------------
# score-loo: the U-statistic variance
# ------------------------------------------------------------------------------------------------


def loo_estimate(f, s):
    """The leave-one-out estimate (1/n) Σ_i (f_i − mean_{j≠i} f_j) s_i over the last axis."""
    n = f.shape[-1]
    baseline = (f.sum(axis=-1, keepdims=True) - f) / (n - 1)
    return ((f - baseline) * s).mean(axis=-1)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_loo_variance_formula_by_enumeration(n):
    """A discrete stand-in (x ∈ {0, 1, 2}, arbitrary f, a centred s): enumerating the 3^n tuples gives
    the exact mean and variance of the estimate; they equal M₁₁ and loo_variance(n, M…)."""
    probs = np.array([0.2, 0.5, 0.3])
    f_values = np.array([1.5, -0.7, 2.2])
    s_values = np.array([0.9, -1.3, 0.4])
    s_values = s_values - probs @ s_values  # E s = 0, as for a score
    tuples = np.array(list(itertools.product(range(3), repeat=n)))
    weight = np.prod(probs[tuples], axis=1)
    g = loo_estimate(f_values[tuples], s_values[tuples])
    mean = weight @ g
    variance = weight @ (g - mean) ** 2
    f_tilde = f_values - probs @ f_values
    m = {(a, b): probs @ (f_tilde**a * s_values**b) for a, b in [(1, 1), (2, 0), (0, 2), (2, 2)]}
    assert mean == pytest.approx(m[1, 1], rel=1e-13)
    assert loo_variance(n, m[1, 1], m[2, 0], m[0, 2], m[2, 2]) == pytest.approx(variance, rel=1e-12)


@pytest.mark.parametrize("dist, values, parameters", NON_SEPARABLE_CASES)
@pytest.mark.parametrize("objective", ["cos:1.3", "cos-sum:0.8", "quad-form:1.5,-0.5"])
def test_loo_statistics_match_product_rule(dist, values, parameters, objective):
    """M_ab = E[(f − E f)^a s^b] per coordinate (D = 2) against the product rule."""
    problem = make(dist, values, objective, "all" if dist == "gaussian" else "rate", samples=3)
    x, w = product_rule(dist, values)
    f = problem.objective.value(x)
    f_tilde = f - w @ f
    stats = loo_statistics(problem)
    index = 0
    for p in parameters:
        for d in range(2):
            s = scores(dist, values, x, p, d)
            expected = [w @ (f_tilde * s), w @ f_tilde**2, w @ s**2, w @ (f_tilde**2 * s**2)]
            assert rel_close(stats[:, index], expected, 1e-9, floor=1e-3), (p, d)
            index += 1
    moments = exact_moments(problem, "score-loo")
    assert np.all(np.isnan(moments.fourth_central))
    assert rel_close(moments.mean, exact_gradient(problem), 1e-10, floor=1e-2)


def test_loo_variance_matches_monte_carlo():
    """Gaussian, f = Σ_d cos(1.3 x_d), D = 2, n = 3: 200 000 estimates (default_rng(20240515)); the
    exact mean and variance lie within 5 standard errors (the variance's from the sample μ₄)."""
    mu, sigma, n, trials = np.array([0.5, -0.3]), np.array([1.2, 0.7]), 3, 200_000
    problem = make("gaussian", {"mu": mu, "sigma": sigma}, "cos:1.3", "all", samples=n)
    moments = exact_moments(problem, "score-loo")
    eps = np.random.default_rng(20240515).standard_normal((trials, n, 2))
    x = mu + sigma * eps
    f = np.cos(1.3 * x).sum(axis=-1)
    estimates = [loo_estimate(f, eps[..., d] / sigma[d]) for d in range(2)]
    estimates += [loo_estimate(f, (eps[..., d] ** 2 - 1) / sigma[d]) for d in range(2)]
    for index, g in enumerate(estimates):
        mean, var = g.mean(), g.var()
        mu4 = np.mean((g - mean) ** 4)
        assert abs(mean - moments.mean[index]) <= 5 * math.sqrt(var / trials), index
        assert abs(var - moments.variance[index]) <= 5 * math.sqrt((mu4 - var**2) / trials), index


# ------------------------------------------------------------------------------------------------
# Separable D > 1 from D = 1 problems; n samples; reasons; unbiasedness
# ------------------------------------------------------------------------------------------------


def test_separable_terms_that_do_not_see_the_other_coordinates_equal_their_one_dimensional_values():
    """pathwise and MVD of a separable f: coordinate d of a D = 3 problem = the D = 1 problem of x_d."""
    cases = [
        ("gaussian", {"mu": [0.5, -0.3, 1.1], "sigma": [1.2, 0.7, 0.4]}, "cos:1.3", "all"),
        ("gamma", {"alpha": [2.5, 0.7, 1.5], "rate": [1.5, 0.9, 2.0]}, "exp:0.6", "rate"),
    ]
    for dist, values, objective, parameter in cases:
        problem = make(dist, values, objective, parameter)
        for estimator in ("pathwise", "mvd", "mvd-uncoupled"):
            joint = sample_moments(problem, estimator)
            for d in range(3):
                single = make(dist, {k: v[d] for k, v in values.items()}, objective, parameter)
                alone = sample_moments(single, estimator)
                for a, b in zip(joint, alone, strict=True):
                    assert rel_close(a[d::3], b, 1e-12, floor=1e-6), (estimator, d)


def test_separable_score_from_one_dimensional_problems():
    """Score of f = Σ_e φ(x_e): t = (φ(x_d) + R)s, R independent, so Var_D t = E_R[V(R)] with
    V(c) = Var((φ + c)s) = A + 2Bc + Cc² for the D = 1 problem with objective φ + c. Three D = 1
    problems (c = −1, 0, 1) give A, B, C; E R and Var R come from D = 1 expectations of φ and φ²."""
    coefficients = np.array([0.5, -1.0, 0.3, 0.2])
    mu, sigma = [0.5, -0.3, 1.1], [1.2, 0.7, 0.4]

    def poly(c):
        return "poly:" + ",".join(repr(float(v)) for v in c)

    problem = make("gaussian", {"mu": mu, "sigma": sigma}, poly(coefficients), "all")
    _, joint, _ = sample_moments(problem, "score")
    square = np.polynomial.polynomial.polymul(coefficients, coefficients)
    e_phi = [
        exact_expectation(make("gaussian", {"mu": mu[e], "sigma": sigma[e]}, poly(coefficients))) for e in range(3)
    ]
    e_phi2 = [exact_expectation(make("gaussian", {"mu": mu[e], "sigma": sigma[e]}, poly(square))) for e in range(3)]
    for d in range(3):
        v = []
        for c in (-1.0, 0.0, 1.0):
            shifted = coefficients + np.array([c, 0, 0, 0])
            v.append(
                sample_moments(make("gaussian", {"mu": mu[d], "sigma": sigma[d]}, poly(shifted), "all"), "score")[1]
            )
        v = np.array(v)  # (3 values of c, 2 parameters)
        a, b, cc = v[1], (v[2] - v[0]) / 4, (v[2] + v[0]) / 2 - v[1]
        others = [e for e in range(3) if e != d]
        mean_r = sum(e_phi[e] for e in others)
        var_r = sum(e_phi2[e] - e_phi[e] ** 2 for e in others)
        expected = a + 2 * b * mean_r + cc * (mean_r**2 + var_r)
        assert rel_close(joint[[d, 3 + d]], expected, 1e-9), d


def test_n_sample_moments_of_a_mean_by_enumeration():
    """The mean of n iid t has variance Var t/n and μ₄ = (μ₄(t) + 3(n − 1)Var(t)²)/n³: checked by
    enumerating a three-point t, then exact_moments for n = 4 against sample_moments."""
    values, probs, n = np.array([2.0, -1.0, 0.5]), np.array([0.3, 0.5, 0.2]), 4
    mean = probs @ values
    var, mu4 = probs @ (values - mean) ** 2, probs @ (values - mean) ** 4
    tuples = np.array(list(itertools.product(range(3), repeat=n)))
    weight = np.prod(probs[tuples], axis=1)
    averages = values[tuples].mean(axis=1)
    assert weight @ (averages - mean) ** 4 == pytest.approx((mu4 + 3 * (n - 1) * var**2) / n**3, rel=1e-13)
    problem = make("gaussian", {"mu": 0.4, "sigma": 1.3}, "cos:1.1", "all", samples=n)
    t_mean, t_var, t_mu4 = sample_moments(problem, "mvd")
    moments = exact_moments(problem, "mvd")
    assert np.allclose(moments.mean, t_mean, rtol=1e-15)
    assert np.allclose(moments.variance, t_var / n, rtol=1e-15)
    assert np.allclose(moments.fourth_central, (t_mu4 + 3 * (n - 1) * t_var**2) / n**3, rtol=1e-15)


def test_reasons():
    gaussian = make("gaussian", {"mu": 0.4, "sigma": 1.3}, "cos:1.1", "all", samples=4)
    for name in ("score-delta", "pathwise-delta"):
        assert exact_moments(gaussian, name) == DELTA_REASON
    step = make("gaussian", {"mu": 0.4, "sigma": 1.3}, "step:0.2", "all", samples=4)
    assert "no derivative" in exact_moments(step, "pathwise")
    single = make("gaussian", {"mu": 0.4, "sigma": 1.3}, "cos:1.1", "all", samples=1)
    assert "-n 2" in exact_moments(single, "score-loo")
    assert "unknown estimator" in exact_moments(gaussian, "reinforce")
    growing = make("gaussian", {"mu": 0.4, "sigma": 0.5}, "exp:-0.3", "all", samples=4)
    assert "grows like" in exact_moments(growing, "score")
    assert np.all(np.isfinite(exact_gradient(growing)))  # E f is finite while 1 + 2kσ² > 0
    with pytest.raises(InputError, match="moments are infinite"):  # E f = ∞: refused before any exact formula
        make("gamma", {"alpha": 2.0, "rate": 1.0}, "exp:-0.3")


UNBIASED_CASES = [
    (
        "gaussian",
        {"mu": [0.3, -0.8], "sigma": [1.2, 0.5]},
        "all",
        ["square:1", "exp:0.7", "cos:2", "poly:1,2,-1,0.5", "step:0.4", "cos-sum:0.8", "quad-form:1,-2"],
    ),
    ("gaussian", {"mu": [0.3, -0.8], "sigma": [1.2, 0.5]}, "log-sigma", ["cos:2", "step:-1"]),
    (
        "gamma",
        {"alpha": [0.5, 3.0], "rate": [1.5, 2.0]},
        "rate",
        ["square:1", "exp:0.7", "cos:2", "poly:1,2,-1,0.5", "step:0.4", "cos-sum:0.8", "quad-form:1,-2", "log"],
    ),
    ("exponential", {"rate": [0.7, 2.0]}, "rate", ["cos:2", "step:0.4", "log", "cos-sum:0.8"]),
]


@pytest.mark.parametrize("dist, values, parameter, objectives", UNBIASED_CASES)
def test_every_exact_mean_is_the_exact_gradient(dist, values, parameter, objectives):
    """Unbiasedness: the quadrature mean of every estimator that applies equals the closed-form gradient
    to 1e−10 of max(|∇|, sd of one term)."""
    for objective in objectives:
        problem = make(dist, values, objective, parameter, samples=2)
        gradient = exact_gradient(problem)
        for estimator in ("pathwise", "score", "score-loo", "mvd", "mvd-uncoupled"):
            moments = exact_moments(problem, estimator)
            if isinstance(moments, str):
                assert estimator == "pathwise" and objective.startswith("step"), moments
                continue
            scale = np.maximum(np.abs(gradient), np.sqrt(2 * moments.variance))
            assert np.all(np.abs(moments.mean - gradient) <= 1e-10 * scale), (objective, estimator)
