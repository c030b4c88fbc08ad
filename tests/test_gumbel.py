"""CARMS-G exact pair pmf (spec 9.2) against independent evaluations and Monte Carlo.

The module integrates ``∫∫ S ∂_X log A_a ∂_Y log A_b`` on one shared grid (winning-value coordinates);
the references here integrate the spec's (x, y) formula literally, per pair, with other rules
(nested adaptive ``scipy.integrate.quad`` for Dirichlet, composite Gauss–Legendre for Gaussian).
"""

import math

import numpy as np
import pytest
from scipy import integrate, special

from carms_cli.discrete.exact.gumbel import _quadrature_tables, gumbel_pair_pmf, sample_gumbel_tuples
from carms_cli.discrete.sampling.copulas import Copula, bivariate_cdf, gaussian_rho

PROBS = [[0.1, 0.2, 0.3, 0.4], [0.4, 0.1, 0.2, 0.3], [0.7, 0.2, 0.07, 0.03]]
COPULAS = [Copula.INDEPENDENT, Copula.DIRICHLET, Copula.GAUSSIAN]


def _d1_dirichlet(u, v, n):
    """∂C/∂u of the Dirichlet copula: (u^α + v^α − 1)_+^(n−2) u^(α−1), α = 1/(n−1) (n ≥ 3)."""
    al = 1.0 / (n - 1)
    return np.maximum(u**al + v**al - 1.0, 0.0) ** (n - 2) * u ** (al - 1.0)


def _d1_gaussian(u, v, n):
    """∂C/∂u of the Gaussian copula: Φ((Φ⁻¹(v) − ρΦ⁻¹(u))/√(1−ρ²)), ρ = −1/(n−1)."""
    rho = gaussian_rho(n)
    return special.ndtr((special.ndtri(v) - rho * special.ndtri(u)) / math.sqrt(1.0 - rho * rho))


def _dirichlet_reference(p, n, a, b):
    """Spec 9.2 formula for P(a, b), Dirichlet, by nested adaptive quad.

    Substituting x = s^(n−1), y = t^(n−1) (the copula's latent scale) cancels the u^(α−1) singularity:
    ``∂₁C(x, y^r) dx = (n−1)(s + t^r − 1)_+^(n−2) ds`` with r = p_a/p_b, and
    ``C(x^(p_c/p_a), y^(p_c/p_b)) = (s^(p_c/p_a) + t^(p_c/p_b) − 1)_+^(n−1)``. The inner integral starts
    at the support boundary so that each integrand is smooth on its interval.
    """
    r = p[a] / p[b]
    others = [c for c in range(len(p)) if c not in (a, b)]

    def inner(t, s):
        ga, gb = s + t**r - 1.0, t + s ** (1.0 / r) - 1.0
        if ga <= 0.0 or gb <= 0.0:
            return 0.0
        value = (n - 1) ** 2 * ga ** (n - 2) * gb ** (n - 2)
        for c in others:
            g = s ** (p[c] / p[a]) + t ** (p[c] / p[b]) - 1.0
            if g <= 0.0:
                return 0.0
            value *= g ** (n - 1)
        return value

    def outer(s):
        lo = max(max(1.0 - s ** (p[c] / p[a]), 0.0) ** (p[b] / p[c]) for c in range(len(p)))
        return integrate.quad(inner, lo, 1.0, args=(s,), epsabs=1e-14, epsrel=1e-13, limit=200)[0]

    return integrate.quad(outer, 0.0, 1.0, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


def _gaussian_reference(p, n, a, b, panels=24, order=16, half_width=8.5):
    """Spec 9.2 formula for P(a, b), Gaussian, by composite Gauss–Legendre in h = Φ⁻¹(x), k = Φ⁻¹(y).

    Uses ``copulas.bivariate_cdf`` for the C factors; truncation at |h|, |k| = 8.5 drops < 2e-17.
    """
    nodes, weights = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(-half_width, half_width, panels + 1)
    half = 0.5 * (edges[1] - edges[0])
    z = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * nodes[None, :]).ravel()
    wz = np.tile(half * weights, panels)
    h, k = np.meshgrid(z, z, indexing="ij")
    x, y = special.ndtr(h), special.ndtr(k)
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        f = np.exp(-(h * h + k * k) / 2) / (2 * np.pi)
        f = f * _d1_gaussian(x, y ** (p[a] / p[b]), n) * _d1_gaussian(y, x ** (p[b] / p[a]), n)
        for c in range(len(p)):
            if c not in (a, b):
                f = f * bivariate_cdf(Copula.GAUSSIAN, n, x ** (p[c] / p[a]), y ** (p[c] / p[b]))
    # ∞ − ∞ only where x or y rounds to 0/1, i.e. where the normal density is < 1e-17
    f = np.nan_to_num(f, nan=0.0)
    return float(np.einsum("i,ij,j->", wz, f, wz))


# --- structure ------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("copula", COPULAS)
def test_pair_pmf_structure(copula, n, p):
    pmf = gumbel_pair_pmf(p, copula, n)
    K = len(p)
    assert pmf.shape == (K, K) and pmf.dtype == np.float64
    assert np.array_equal(pmf, pmf.T)
    off = pmf[~np.eye(K, dtype=bool)]
    assert np.all(off > 0.0)
    assert np.all((pmf >= 0.0) & (pmf <= 1.0))
    np.testing.assert_allclose(pmf.sum(axis=1), p, rtol=0, atol=1e-9)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)


def test_independent_is_product():
    p = np.array(PROBS[2])
    np.testing.assert_allclose(gumbel_pair_pmf(p, Copula.INDEPENDENT, 3), np.outer(p, p), rtol=0, atol=1e-15)
    # the shared-grid quadrature machinery reproduces p_a p_b (off-diagonal and diagonal)
    for n in (2, 3, 5):
        off, diag = _quadrature_tables(p, Copula.INDEPENDENT, n)
        np.testing.assert_allclose(off, np.outer(p, p) - np.diag(p * p), rtol=0, atol=1e-10)
        np.testing.assert_allclose(diag, p * p, rtol=0, atol=1e-10)


# --- accuracy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4])
def test_conditional_cdf_formulas(n):
    """The ∂₁C formulas the references use are ∂C/∂u of ``copulas.bivariate_cdf`` (central differences)."""
    u = np.array([0.2, 0.5, 0.7, 0.9, 0.35])
    v = np.array([0.6, 0.3, 0.8, 0.15, 0.75])
    eps = 1e-6
    for copula, d1 in ((Copula.DIRICHLET, _d1_dirichlet), (Copula.GAUSSIAN, _d1_gaussian)):
        if n == 2 and copula == Copula.DIRICHLET:
            continue  # indicator 1[u + v ≥ 1]: no pointwise formula to difference
        fd = (bivariate_cdf(copula, n, u + eps, v) - bivariate_cdf(copula, n, u - eps, v)) / (2 * eps)
        if n == 2:  # Gaussian ρ = −1 limit of the formula is the same indicator
            np.testing.assert_allclose(fd, (u + v >= 1.0).astype(float), atol=1e-6)
        else:
            np.testing.assert_allclose(d1(u, v, n), fd, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    ("copula", "p", "n"),
    [
        (Copula.DIRICHLET, PROBS[0], 3),
        (Copula.DIRICHLET, PROBS[2], 4),
        (Copula.GAUSSIAN, PROBS[0], 3),
        (Copula.GAUSSIAN, PROBS[2], 3),
    ],
)
def test_matches_literal_spec_formula(copula, p, n):
    """Independent per-pair evaluation of the spec's (x, y) integral agrees to 1e-10 (observed ~1e-15)."""
    pmf = gumbel_pair_pmf(p, copula, n)
    ref = _dirichlet_reference if copula == Copula.DIRICHLET else _gaussian_reference
    for a in range(len(p)):
        for b in range(a + 1, len(p)):
            assert pmf[a, b] == pytest.approx(ref(np.asarray(p), n, a, b), abs=1e-10), (a, b)


@pytest.mark.parametrize("copula", [Copula.DIRICHLET, Copula.GAUSSIAN])
@pytest.mark.parametrize("n", [2, 3, 10])
def test_converged_under_refinement(copula, n):
    """Halving the quadrature step changes nothing beyond 1e-12 (observed ≲ 1e-15)."""
    rng = np.random.default_rng(7)
    for p in (np.asarray(PROBS[0]), rng.dirichlet(np.full(12, 0.3))):
        coarse, _ = _quadrature_tables(p, copula, n, refine=0)
        fine, _ = _quadrature_tables(p, copula, n, refine=1)
        assert np.abs(coarse - fine).max() < 1e-12


@pytest.mark.parametrize("n", [300, 5000])
def test_dirichlet_large_n_converged(n):
    """Large n concentrates the mass at σ ~ p_max/(n−1); the truncated σ range keeps 1e-12."""
    p = np.asarray(PROBS[2])
    coarse, diag = _quadrature_tables(p, Copula.DIRICHLET, n, refine=0)
    fine, _ = _quadrature_tables(p, Copula.DIRICHLET, n, refine=1)
    assert np.abs(coarse - fine).max() < 1e-12
    np.testing.assert_allclose(p - coarse.sum(axis=1), diag, rtol=0, atol=1e-12)


@pytest.mark.parametrize("copula", [Copula.DIRICHLET, Copula.GAUSSIAN])
@pytest.mark.parametrize("n", [3, 4, 8])
@pytest.mark.parametrize("p", PROBS)
def test_diagonal_quadrature_matches_row_sums(copula, n, p):
    """Total mass: the diagonal by its own integral (S ∂²A_a/A_a) equals p_a − Σ_{b≠a} P(a, b)."""
    off, diag = _quadrature_tables(p, copula, n)
    np.testing.assert_allclose(np.asarray(p) - off.sum(axis=1), diag, rtol=0, atol=1e-11)


@pytest.mark.parametrize("p", PROBS + [[0.25, 0.25, 0.25, 0.25]])
def test_countermonotone_n2_exact_properties(p):
    """n = 2 (U_2 = 1 − U_1): P(a, a) = 0 unless a is the unique largest category, since
    z_1 = z_2 = a needs U_m < U_a^r and 1 − U_m < (1 − U_a)^r with r = p_m/p_a ≥ 1, impossible.
    Equal p: P(a, b) = p_a/(K−1). Gaussian ρ = −1 is the same copula."""
    p = np.asarray(p)
    pmf = gumbel_pair_pmf(p, Copula.DIRICHLET, 2)
    np.testing.assert_array_equal(pmf, gumbel_pair_pmf(p, Copula.GAUSSIAN, 2))
    top = np.flatnonzero(p == p.max())
    for a in range(len(p)):
        if not (len(top) == 1 and a == top[0]):
            assert abs(p[a] - pmf[a].sum() + pmf[a, a]) < 1e-12  # off-diagonal row alone sums to p_a
            assert pmf[a, a] < 1e-12
    if len(top) == len(p):
        np.testing.assert_allclose(pmf, (np.ones((4, 4)) - np.eye(4)) * p[0] / 3, rtol=0, atol=1e-13)


@pytest.mark.parametrize("p0", [0.5, 0.3, 0.05])
def test_two_categories_n2_closed_form(p0):
    """K = 2, n = 2: P(0, 1) = min(p) (the rarer category never repeats)."""
    pmf = gumbel_pair_pmf([p0, 1.0 - p0], Copula.DIRICHLET, 2)
    # the corner singularity ξ^(q−1), q = p_min/p_max, is the hardest case seen: error ~1e-13 at p0 = 0.05
    assert pmf[0, 1] == pytest.approx(min(p0, 1.0 - p0), abs=1e-12)


# --- Monte Carlo ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("copula", "n", "p", "seed"),
    [
        (Copula.DIRICHLET, 3, PROBS[0], 11),
        (Copula.GAUSSIAN, 3, PROBS[0], 12),
        (Copula.DIRICHLET, 2, PROBS[0], 13),
        (Copula.GAUSSIAN, 2, PROBS[1], 14),
        (Copula.DIRICHLET, 4, PROBS[2], 15),
        (Copula.GAUSSIAN, 4, PROBS[2], 16),
        (Copula.INDEPENDENT, 3, PROBS[2], 17),
    ],
)
def test_monte_carlo_pair_frequencies(copula, n, p, seed):
    """Frequencies of (z_1, z_2) over 10^6 sampled tuples match the exact table: |z| ≤ 5 per cell
    (standard error √(P(1−P)/N) from the exact P); exact-zero cells must stay empty. Marginals of every
    sample position match p to |z| ≤ 5 as well."""
    count = 1_000_000
    p = np.asarray(p)
    K = len(p)
    z = sample_gumbel_tuples(p, copula, n, count, np.random.default_rng(seed))
    pmf = gumbel_pair_pmf(p, copula, n)
    freq = np.bincount(z[:, 0] * K + z[:, 1], minlength=K * K).reshape(K, K) / count
    zero = pmf < 1e-14
    assert np.all(freq[zero] == 0.0)
    se = np.sqrt(pmf * (1.0 - pmf) / count)
    assert np.max(np.abs(freq - pmf)[~zero] / se[~zero]) < 5.0
    for i in range(n):
        marginal = np.bincount(z[:, i], minlength=K) / count
        assert np.max(np.abs(marginal - p) / np.sqrt(p * (1 - p) / count)) < 5.0


def test_sampler_shape_and_determinism():
    p = PROBS[0]
    a = sample_gumbel_tuples(p, Copula.GAUSSIAN, 5, 1000, np.random.default_rng(3))
    b = sample_gumbel_tuples(p, Copula.GAUSSIAN, 5, 1000, np.random.default_rng(3))
    assert a.shape == (1000, 5) and a.dtype == np.int64
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < 4
    assert sample_gumbel_tuples(p, Copula.DIRICHLET, 3, 0, np.random.default_rng(0)).shape == (0, 3)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "n", "match"),
    [
        ([1.0], 3, "K >= 2"),
        ([0.5, 0.5], 1, "n >= 2"),
        ([0.5, 0.5], 2.5, "n >= 2"),
        ([0.6, 0.5], 3, "sum to 1"),
        ([1.0, 0.0], 3, "> 0"),
        ([1.2, -0.2], 3, "> 0"),
        ([0.5, np.nan], 3, "> 0"),
        ([[0.5, 0.5]], 3, "1-D"),
    ],
)
def test_invalid_input(p, n, match):
    with pytest.raises(ValueError, match=match):
        gumbel_pair_pmf(p, Copula.DIRICHLET, n)
    with pytest.raises(ValueError, match=match):
        sample_gumbel_tuples(p, Copula.DIRICHLET, n, 10, np.random.default_rng(0))


def test_invalid_copula():
    with pytest.raises(ValueError, match="copula"):
        gumbel_pair_pmf([0.5, 0.5], 7, 3)
