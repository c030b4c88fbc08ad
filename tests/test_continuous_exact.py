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
    WG,
    WGK,
    XGK,
    exact_expectation,
    exact_gradient,
    exact_moments,
    sample_moments,
)
from carms_cli.continuous.problem import build_problem

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
    "poly:1,-2,0.5,0.25": (lambda x: 1 - 2 * x + 0.5 * x**2 + 0.25 * x**3, []),
    "step:0.4": (lambda x: float(x > 0.4), [0.4]),
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


def product_rule(dist, values, nodes=90):
    """Nodes (n, 2) and weights of a product Gauss rule for two independent coordinates."""
    axes = []
    for d in range(2):
        if dist == "gaussian":
            t, w = np.polynomial.hermite_e.hermegauss(nodes)
            axes.append((values["mu"][d] + values["sigma"][d] * t, w / SQRT_2PI))
        else:
            alpha = values.get("alpha", [1.0, 1.0])[d]
            t, w = special.roots_genlaguerre(nodes, alpha - 1)
            axes.append((t / values["rate"][d], w / math.gamma(alpha)))
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
    """E f and ∂θ_d E f = E[f s_d] by a 90 × 90 product Gauss rule (Hermite or generalised Laguerre)."""
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
