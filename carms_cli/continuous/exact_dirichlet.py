"""Exact moments of the Dirichlet estimators with K ≥ 3: sums of 1-D integrals and 2-D integrals over pairs.

x ~ Dirichlet(α₁ … α_K), α₀ = Σα, f = Σ_k φ(x_k), r_k = α₀ − α_k. Each coordinate's marginal is
Beta(α_k, r_k); a pair (x_k, x_l, z = 1 − x_k − x_l) is Dirichlet(α_k, α_l, c_kl), c_kl = α₀ − α_k − α_l
(aggregation), integrated by :class:`PairLaw`. Centred terms: φ̃_k = φ(x_k) − E φ(x_k).

Scores and their conditional laws
---------------------------------
s_j = ln x_j − ψ(α_j) + ψ(α₀). Given x_k (k ≠ j), x_j = (1 − x_k)v with v ~ Beta(α_j, r_k − α_j)
independent, so s_j = σ_k + s_v with σ_k = ln(1 − x_k) − ψ(r_k) + ψ(α₀) and s_v centred of variance
ψ′(α_j) − ψ′(r_k): E[s_j | x_k] = σ_k, E[s_j² | x_k] = σ_k² + ψ′(α_j) − ψ′(r_k). Given a pair (x_k, x_l)
(both ≠ j), x_j = z v with v ~ Beta(α_j, c_kl − α_j): E[s_j² | x_k, x_l] = ς_kl² + ψ′(α_j) − ψ′(c_kl),
ς_kl = ln z − ψ(c_kl) + ψ(α₀). So no term needs more than a pair.

Score estimators
----------------
t_j = (f − b_j)s_j = (f̃ + m_j)s_j, m_j = E f − b_j (``score`` b = 0, ``score-baseline`` the optimal b):

* E t_j = E[f̃ s_j] = E[φ̃_j s_j] + Σ_{k≠j} E[φ̃_k σ_k] (1-D);
* L_j = E[f̃ s_j²] = E[φ̃_j s_j²] + Σ_{k≠j} E[φ̃_k σ_k²] (1-D);
* Q_j = E[f̃² s_j²] = E[φ̃_j² s_j²] + Σ_{k≠j} (E[φ̃_k² σ_k²] + (ψ′(α_j) − ψ′(r_k)) E φ̃_k²)
  + 2 Σ_{l≠j} E[φ̃_j φ̃_l s_j²] + Σ_{k≠l; k,l≠j} (E[φ̃_k φ̃_l ς_kl²] + (ψ′(α_j) − ψ′(c_kl)) E[φ̃_k φ̃_l]);
* E t_j² = Q_j + 2 m_j L_j + m_j² E s_j², E s_j² = ψ′(α_j) − ψ′(α₀); the optimal baseline is
  b_j = E[f s_j²]/E s_j² = E f + L_j/E s_j².

``score-loo`` takes M₁₁ = E t_j, M₂₀ = Var f = Σ_k E φ̃_k² + Σ_{k≠l} E[φ̃_k φ̃_l], M₀₂ = E s_j²,
M₂₂ = Q_j (:func:`carms_cli.continuous.exact.loo_variance`).

CDF-implicit
------------
With (A_k, B_k) = (∂x/∂a, ∂x/∂b) of the marginal Beta(α_k, r_k) at x_k (the compiled derivative),
h_k = φ′(x_k)A_k and u_k = φ′(x_k)B_k, the kernel's term is t_j = h_j + Σ_{i≠j} u_i, so
E t_j = E h_j + Σ_{i≠j} E u_i and Var t_j = Var h_j + Σ_{i≠j} Var u_i + 2 Σ_{i≠j} E[h̃_j ũ_i]
+ Σ_{i≠l; i,l≠j} E[ũ_i ũ_l] (centred h̃, ũ). Nodes with x_k or x_l below e^{−700} are left out, as
in the 1-D case (their mass is below e^{−700·shape}).

Gamma ratio
-----------
t_j = c_j D_j with c_j = g(α_j, G_j)/S (S = ΣG ~ Gamma(α₀), independent of x; G_j = x_j S) and
D_j = φ′(x_j)(1 − x_j) − Σ_{i≠j} w(x_i), w(x) = xφ′(x). Given x, only S is random, so with
κ_j(x_j) = E_S[c_j] and ρ_j(x_j) = E_S[c_j²] (1-D in S at each x_j), E t_j = E[κ_j D_j] and
E t_j² = E[ρ_j D_j²]. For K = 3, D_j given x_j is a function of the pair (x_j, x_i) (x_l = z), so
both are pair integrals whose outer factor κ_j or ρ_j is an inner integral over S. For K ≥ 4,
D_j² couples three coordinates (a 3-D integral): not computed. Written c_j D_j = (g/G_j)·(x_j D_j),
both factors stay finite where x_j → 0 (g/G grows like ln G; x_j D_j is bounded).

Fourth central moment
---------------------
For K = 3 every per-sample term is a function of the pair (x_j, x_i) (x_l = z; the gamma ratio's
with E_S[(g/G)^p] outside), so E[(t_j − E t_j)⁴] is one pair integral per j; for K ≥ 4 it would need
up to four coordinates and is NaN (``score-loo``'s is NaN at every K, as in the 1-D case).
"""

import functools

import numpy as np
from scipy import special

from carms_cli.continuous.codes import EstimatorCode, ObjectiveCode
from carms_cli.continuous.exact import OUTER_REL_TOL, REL_TOL, WGK, XGK, Law, NotComputable, integrate, loo_variance
from carms_cli.continuous.exact_simplex import (
    IMPLICIT_LOG_FLOOR,
    BetaLaw,
    _features,
    _gamma_shape_derivative,
    _phi,
    cdf_derivatives,
)
from carms_cli.continuous.registry import applicable
from carms_cli.core.family import ExactMoments

#: Step of the exponents of the pair rule's breakpoints (every other power of 2: the adaptive rule refines).
COARSE_STEP = 2
#: Log-weight span kept below the mode by the pair rule: e^{−100} ≈ 4e−44 of the mass; every integrand
#: here grows at most polynomially in the logit (ln x, φ′·∂x/∂θ, g/G), unlike the 1-D CUT's extreme cases.
PAIR_CUT = 100.0


class PairLaw:
    """(x, y, z) ~ Dirichlet(a, b, c): x ~ Beta(a, b + c) outside on its logit, v = y/(1 − x) ~ Beta(b, c) inside.

    Both levels use :class:`~carms_cli.continuous.exact_simplex.BetaLaw` (smooth weights on the
    logits); y = (1 − x)v, z = (1 − x)(1 − v), ln y = ln(1 − x) + ln v, ln z = ln(1 − x) + ln(1 − v),
    all formed without cancellation.
    """

    def __init__(self, a: float, b: float, c: float):
        self.outer, self.inner = BetaLaw(a, b + c), BetaLaw(b, c)

    @staticmethod
    def _edges(law: BetaLaw, features=()) -> np.ndarray:
        """Return breakpoints in u of ``law``: coarser than its own 1-D ones (the adaptive rule refines)."""
        a, b = law.a, law.b
        mode = np.log(a / b)
        spread = np.sqrt(1.0 / a + 1.0 / b)
        low, high = mode - PAIR_CUT / a - 10.0 * spread, mode + PAIR_CUT / b + 10.0 * spread
        powers = 2.0 ** np.arange(0, 10, COARSE_STEP)
        points = [
            [low, high, mode],
            mode + spread * powers[:3],
            mode - spread * powers[:3],
            mode - powers / a,
            mode + powers / b,
            [np.log(p / (1.0 - p)) for p in features if 0.0 < p < 1.0],
        ]
        return np.unique(np.clip(np.concatenate(points), low, high))

    def _inner_edges(self, rest: np.ndarray, features) -> np.ndarray:
        """Return per-row breakpoints of v: the inner law's, plus y = p and z = p at every feature p."""
        base = self._edges(self.inner)
        if not features:
            return np.broadcast_to(base, (rest.size, base.size))
        p = np.asarray(features, dtype=float)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.concatenate([p / rest[:, None], 1.0 - p / rest[:, None]], axis=1)
            extra = np.where((v > 0) & (v < 1), np.log(v) - np.log1p(-v), base[0])
        return np.sort(
            np.clip(np.concatenate([np.broadcast_to(base, (rest.size, base.size)), extra], axis=1), base[0], base[-1]),
            axis=1,
        )

    def expect(self, function, features=(), prepare=None, factor=None) -> np.ndarray:
        """Return E[factor(x) · function(o(x), y, z, ln y, ln z)], shape (C,).

        ``prepare(x, 1 − x, ln x, ln(1 − x))`` returns a tuple of outer-node arrays o(x) (default
        those four), computed once per outer node and handed to ``function`` as (B, 1) columns;
        ``function`` returns (C, …) at broadcast points; ``factor(x, ln x, ln(1 − x))`` (optional)
        returns (C or 1, N) at the outer nodes: an outer-only term such as an integral over S.
        """
        failed = []

        def outer(u, owner):
            x, rest, log_x, log_rest = self.outer.parts(u)
            flat = [np.ravel(v) for v in (x, rest, log_x, log_rest)]
            prepared = tuple(flat) if prepare is None else prepare(*flat)
            weight = self.outer.weight(log_x, log_rest)
            extra = None if factor is None else np.asarray(factor(flat[0], flat[2], flat[3]))
            half = (u[:, -1] - u[:, 0]) / (XGK[-1] - XGK[0])
            row_weights = (weight * WGK * half[:, None]).ravel()
            if extra is not None:
                row_weights = row_weights * np.max(np.abs(extra), axis=0)

            def inner(w, rows):
                v, v_c, log_v, log_vc = self.inner.parts(w)
                columns = tuple(np.asarray(o)[rows][:, None] for o in prepared)
                r_o, lr_o = flat[1][rows][:, None], flat[3][rows][:, None]
                values = function(columns, r_o * v, r_o * v_c, lr_o + log_v, lr_o + log_vc)
                return np.asarray(values) * self.inner.weight(log_v, log_vc)

            values, bound, ok = integrate(inner, self._inner_edges(flat[1], features), REL_TOL, row_weights)
            if not ok:
                failed.append(True)
            if extra is not None:
                values, bound = values * extra, bound * np.abs(extra)
            shape = (values.shape[0], *u.shape)
            return values.reshape(shape) * weight, bound.reshape(shape) * weight

        edges = self._edges(self.outer, features)
        with np.errstate(all="ignore"):
            values, _, ok = integrate(outer, edges[None, :], OUTER_REL_TOL)
        if failed or not ok or not np.all(np.isfinite(values)):
            raise NotComputable("the 2-D quadrature over a pair of Dirichlet coordinates did not converge")
        return values[:, 0]


def _expect(law: BetaLaw, function, features) -> np.ndarray:
    with np.errstate(all="ignore"):
        return law.expect(function, features)


class _Setup:
    """The problem's shapes, objective, feature points and the 1-D means every centred term uses."""

    def __init__(self, alpha: tuple[float, ...], objective):
        self.objective = objective
        self.alpha = np.asarray(alpha, dtype=float)
        self.k = self.alpha.size
        self.total = float(self.alpha.sum())
        self.rest = np.array([self.alpha[np.arange(self.k) != i].sum() for i in range(self.k)])
        self.features = _features(self.objective)
        self.laws = [BetaLaw(a, r) for a, r in zip(self.alpha, self.rest, strict=True)]
        self.psi0, self.trigamma0 = special.digamma(self.total), special.polygamma(1, self.total)
        self.means = np.array(
            [
                _expect(law, lambda x, y, lx, ly: _phi(self.objective, x, lx)[None], self.features)[0]
                for law in self.laws
            ]
        )

    def phi(self, i, x, log_x):
        return _phi(self.objective, x, log_x) - self.means[i]

    def score(self, i, log_x):
        return log_x - special.digamma(self.alpha[i]) + self.psi0

    def rest_score(self, i, log_y):
        """σ_i = ln(1 − x_i) − ψ(r_i) + ψ(α₀) = E[s_j | x_i], j ≠ i."""
        return log_y - special.digamma(self.rest[i]) + self.psi0

    def pair(self, k, q) -> tuple[PairLaw, float]:
        """Return the law of (x_k, x_l, z) and c_kl = Σ_{i≠k,l} α_i (summed, no cancellation)."""
        others = np.arange(self.k)
        c = float(self.alpha[(others != k) & (others != q)].sum())
        return PairLaw(self.alpha[k], self.alpha[q], c), c

    def score_variance(self, j) -> float:
        return float(special.polygamma(1, self.alpha[j]) - self.trigamma0)


# ---------------------------------------------------------------------------------------------
# Score estimators
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _setup(alpha: tuple[float, ...], objective) -> _Setup:
    return _Setup(alpha, objective)


@functools.lru_cache(maxsize=4)
def _score_parts(setup: _Setup):
    """Return per coordinate E[f̃ s_j], L_j = E[f̃ s_j²], Q_j = E[f̃² s_j²] and Var f (module docstring).

    Cached: ``score``, ``score-baseline`` and ``score-loo`` of one problem share them.
    """
    k_all = setup.k
    one = np.zeros((k_all, 6))  # E φ̃s, E φ̃σ, E φ̃s², E φ̃σ², E φ̃²s², E φ̃²σ²; then E φ̃²
    square = np.zeros(k_all)
    for i in range(k_all):

        def statistics(x, y, log_x, log_y, i=i):
            phi = setup.phi(i, x, log_x)
            s, sigma = setup.score(i, log_x), setup.rest_score(i, log_y)
            return np.stack(
                [
                    phi * s,
                    phi * sigma,
                    phi * s * s,
                    phi * sigma * sigma,
                    phi * phi * s * s,
                    phi * phi * sigma * sigma,
                    phi * phi,
                ]
            )

        values = _expect(setup.laws[i], statistics, setup.features)
        one[i], square[i] = values[:6], values[6]
    plain = np.zeros((k_all, k_all))  # E[φ̃_k φ̃_l]
    own = np.zeros((k_all, k_all))  # E[φ̃_k φ̃_l s_k²]
    third = np.zeros((k_all, k_all))  # E[φ̃_k φ̃_l ς_kl²]
    trigamma_pair = np.zeros((k_all, k_all))  # ψ′(c_kl)
    for k in range(k_all):
        for q in range(k + 1, k_all):
            law, c = setup.pair(k, q)
            psi_c = special.digamma(c)

            def prepare(x, rest, log_x, log_rest, k=k):
                return setup.phi(k, x, log_x), setup.score(k, log_x) ** 2

            def statistics(outer, y, z, log_y, log_z, q=q, psi_c=psi_c):
                phi_k, s_k2 = outer
                product = phi_k * setup.phi(q, y, log_y)
                s_l = setup.score(q, log_y)
                rest = log_z - psi_c + setup.psi0
                return np.stack([product, product * s_k2, product * s_l * s_l, product * rest * rest])

            p0, pk, pl, pc = law.expect(statistics, setup.features, prepare)
            plain[k, q] = plain[q, k] = p0
            own[k, q], own[q, k] = pk, pl
            third[k, q] = third[q, k] = pc
            trigamma_pair[k, q] = trigamma_pair[q, k] = special.polygamma(1, c)
    trigamma = special.polygamma(1, setup.alpha)
    trigamma_rest = special.polygamma(1, setup.rest)
    first, linear, quadratic = np.zeros(k_all), np.zeros(k_all), np.zeros(k_all)
    for j in range(k_all):
        others = [k for k in range(k_all) if k != j]
        first[j] = one[j, 0] + sum(one[k, 1] for k in others)
        linear[j] = one[j, 2] + sum(one[k, 3] for k in others)
        total = one[j, 4] + sum(one[k, 5] + (trigamma[j] - trigamma_rest[k]) * square[k] for k in others)
        total += 2.0 * sum(own[j, q] for q in others)
        for k in others:
            for q in others:
                if k != q:
                    total += third[k, q] + (trigamma[j] - trigamma_pair[k, q]) * plain[k, q]
        quadratic[j] = total
    var_f = float(square.sum() + plain.sum())
    return first, linear, quadratic, var_f


def dirichlet_baseline(problem) -> np.ndarray:
    """Return the optimal constant baseline E[f s_j²]/E[s_j²] of every α_j (module docstring)."""
    setup = _setup(tuple(problem.value("alpha")), problem.objective)
    linear = np.zeros(setup.k)
    for i in range(setup.k):
        law = setup.laws[i]

        def statistics(x, y, log_x, log_y, i=i):
            phi = setup.phi(i, x, log_x)
            return np.stack([phi * setup.score(i, log_x) ** 2, phi * setup.rest_score(i, log_y) ** 2])

        own, other = _expect(law, statistics, setup.features)
        linear += other
        linear[i] += own - other
    variance = np.array([setup.score_variance(j) for j in range(setup.k)])
    return setup.means.sum() + linear / variance


def _score_moments(setup: _Setup, code, n: int) -> ExactMoments:
    """Return the moments of ``score``, ``score-baseline`` (optimal b) or ``score-loo`` (module docstring)."""
    first, linear, quadratic, var_f = _score_parts(setup)
    first, linear, quadratic = first.copy(), linear.copy(), quadratic.copy()  # the cached ones stay intact
    variance_s = np.array([setup.score_variance(j) for j in range(setup.k)])
    if code == EstimatorCode.SCORE_LOO:
        return ExactMoments(first, loo_variance(n, first, var_f, variance_s, quadratic), np.full(setup.k, np.nan))
    # m_j = E f − b_j: E f for score; −L_j/E s_j² for the optimal baseline
    m = -linear / variance_s if code == EstimatorCode.SCORE_BASELINE else np.full(setup.k, setup.means.sum())
    second = quadratic + 2.0 * m * linear + m * m * variance_s
    variance = np.maximum(second - first**2, 0.0)
    if setup.k > 3:
        return ExactMoments(first, variance / n, np.full(setup.k, np.nan))
    baseline = setup.means.sum() - m
    objective = setup.objective

    def prepare(x, rest, log_x):
        return _phi(objective, x, log_x), setup.score(0, log_x)

    def term(outer, y, z, log_y, log_z):
        phi_0, s_0 = outer
        f = phi_0 + _phi(objective, y, log_y) + _phi(objective, z, log_z)
        scores = (s_0, setup.score(1, log_y), setup.score(2, log_z))
        return np.stack([(f - baseline[j]) * scores[j] for j in range(3)])

    return _estimate_moments(first, variance, _fourth_on_the_simplex(setup, prepare, term, first), n)


# ---------------------------------------------------------------------------------------------
# CDF-implicit
# ---------------------------------------------------------------------------------------------


def _paths(setup: _Setup, i: int, x, y, log_x):
    """Return (h_i, u_i) = φ′(x)(A, B) of the marginal Beta(α_i, r_i) at x (1 − x = y); 0 below e^{−700}."""
    d_a, d_b = cdf_derivatives(setup.alpha[i], setup.rest[i], x, y)
    slope = setup.objective.phi(x, 1)
    keep = log_x >= IMPLICIT_LOG_FLOOR
    return np.where(keep, slope * d_a, 0.0), np.where(keep, slope * d_b, 0.0)


def _implicit_moments(setup: _Setup, n: int) -> ExactMoments:
    k_all = setup.k
    mean = np.zeros((k_all, 2))
    for i in range(k_all):

        def paths(x, y, log_x, log_y, i=i):
            return np.stack(_paths(setup, i, x, y, log_x))

        mean[i] = _expect(setup.laws[i], paths, setup.features)
    spread = np.zeros((k_all, 2))
    for i in range(k_all):

        def squares(x, y, log_x, log_y, i=i):
            h, u = _paths(setup, i, x, y, log_x)
            keep = log_x >= IMPLICIT_LOG_FLOOR
            return np.stack([np.where(keep, (h - mean[i, 0]) ** 2, 0.0), np.where(keep, (u - mean[i, 1]) ** 2, 0.0)])

        spread[i] = _expect(setup.laws[i], squares, setup.features)
    cross_hu = np.zeros((k_all, k_all))  # E[h̃_k ũ_l]
    cross_uu = np.zeros((k_all, k_all))  # E[ũ_k ũ_l]
    for k in range(k_all):
        for q in range(k + 1, k_all):
            law, _ = setup.pair(k, q)

            def prepare(x, rest, log_x, log_rest, k=k):
                h_k, u_k = _paths(setup, k, x, rest, log_x)
                keep = log_x >= IMPLICIT_LOG_FLOOR
                return np.where(keep, h_k - mean[k, 0], 0.0), np.where(keep, u_k - mean[k, 1], 0.0), x

            def products(outer, y, z, log_y, log_z, q=q):
                h_k, u_k, x = outer
                h_l, u_l = _paths(setup, q, y, x + z, log_y)
                keep = log_y >= IMPLICIT_LOG_FLOOR
                h_l, u_l = np.where(keep, h_l - mean[q, 0], 0.0), np.where(keep, u_l - mean[q, 1], 0.0)
                return np.stack([h_k * u_l, u_k * h_l, u_k * u_l])

            cross_hu[k, q], cross_hu[q, k], cross_uu[k, q] = law.expect(products, setup.features, prepare)
            cross_uu[q, k] = cross_uu[k, q]
    first, variance = np.zeros(k_all), np.zeros(k_all)
    for j in range(k_all):
        others = [i for i in range(k_all) if i != j]
        first[j] = mean[j, 0] + sum(mean[i, 1] for i in others)
        v = spread[j, 0] + sum(spread[i, 1] + 2.0 * cross_hu[j, i] for i in others)
        v += sum(cross_uu[i, q] for i in others for q in others if i != q)
        variance[j] = max(v, 0.0)
    if k_all > 3:
        return ExactMoments(first, variance / n, np.full(k_all, np.nan))

    def prepare(x, rest, log_x):
        return (*_paths(setup, 0, x, rest, log_x), x)

    def term(outer, y, z, log_y, log_z):
        h_0, u_0, x = outer
        h_1, u_1 = _paths(setup, 1, y, x + z, log_y)
        h_2, u_2 = _paths(setup, 2, z, x + y, log_z)
        return np.stack([h_0 + u_1 + u_2, u_0 + h_1 + u_2, u_0 + u_1 + h_2])

    return _estimate_moments(first, variance, _fourth_on_the_simplex(setup, prepare, term, first), n)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def dirichlet_moments(problem, estimator_name: str) -> ExactMoments | str:
    """Return the exact mean, variance and fourth central moment of one n-sample estimate (K ≥ 3), or why not.

    The fourth central moment is NaN for K ≥ 4 and for ``score-loo``.
    """
    spec = applicable(estimator_name, problem)
    if isinstance(spec, str):
        return spec
    setup = _setup(tuple(problem.value("alpha")), problem.objective)
    n = problem.samples
    try:
        with np.errstate(all="ignore"):
            if spec.code == EstimatorCode.IMPLICIT:
                return _implicit_moments(setup, n)
            if spec.code == EstimatorCode.IMPLICIT_GAMMA_RATIO:
                return _ratio_moments(setup, n)
            return _score_moments(setup, spec.code, n)
    except NotComputable as error:
        return str(error)


def _slope_times_x(objective, x):
    """w(x) = xφ′(x) (exactly 1 for ``log``)."""
    if objective.code == ObjectiveCode.LOG:
        return np.ones_like(np.asarray(x, dtype=float))
    return x * objective.phi(x, 1)


def _shape_moments(shape: float, total_shape: float, log_x: np.ndarray) -> np.ndarray:
    """Return E_S[(g(α, G)/G)^p], p = 1…4, G = xS, S ~ Gamma(α₀), at every x (shape (4, N)).

    Nodes whose Gamma xS is below e^{−700} are left out (g underflows there; their weight is below
    e^{−700·α} of the law's), as in the 1-D gamma-ratio rule.
    """
    law = Law("gamma", total_shape, 1.0)
    base = law.edges()

    def inner(v, rows):
        total, log_total = law.point(v)
        log_gamma = log_x[rows][:, None] + log_total
        gamma = np.exp(log_gamma)
        ratio = _gamma_shape_derivative(shape, gamma) / gamma
        ratio = np.where(log_gamma >= IMPLICIT_LOG_FLOOR, ratio, 0.0)
        return np.stack([ratio, ratio**2, ratio**3, ratio**4]) * law.weight(v)

    values, _, ok = integrate(inner, np.broadcast_to(base, (log_x.size, base.size)), REL_TOL)
    if not ok:
        raise NotComputable("the quadrature over ΣG of the gamma-ratio term did not converge")
    return values


def _ratio_moments(setup: _Setup, n: int) -> ExactMoments:
    """E t_j^p = E[E_S[(g/G)^p] D̃_j^p], p = 1…4, over the pair (x_j, x_i), x_l = z (K = 3; module docstring)."""
    if setup.k > 3:
        raise NotComputable(
            f"under a Dirichlet with K = {setup.k} > 3 the gamma-ratio term couples three coordinates: its "
            "exact variance needs a 3-D quadrature, not computed here"
        )
    objective = setup.objective
    raw = np.zeros((setup.k, 4))
    for j in range(setup.k):
        i, q = (m for m in range(setup.k) if m != j)
        law = PairLaw(setup.alpha[j], setup.alpha[i], setup.alpha[q])

        def prepare(x, rest, log_x, log_rest):
            return _slope_times_x(objective, x) * rest, x

        def terms(outer, y, z, log_y, log_z):
            lead, x = outer
            d = lead - x * (_slope_times_x(objective, y) + _slope_times_x(objective, z))
            return np.stack([d, d**2, d**3, d**4])

        def factor(x, log_x, log_rest, j=j):
            return _shape_moments(setup.alpha[j], setup.total, log_x)

        raw[j] = law.expect(terms, setup.features, prepare, factor)
    mean, second, third, fourth = raw.T
    variance = np.maximum(second - mean**2, 0.0)
    central = np.maximum(fourth - 4.0 * mean * third + 6.0 * mean**2 * second - 3.0 * mean**4, 0.0)
    return _estimate_moments(mean, variance, central, n)


def _estimate_moments(mean, variance, fourth, n: int) -> ExactMoments:
    """Return the moments of the mean of n iid terms from one term's mean, variance and fourth central moment."""
    return ExactMoments(mean, variance / n, (fourth + 3.0 * (n - 1) * variance**2) / n**3)


def _fourth_on_the_simplex(setup: _Setup, prepare, terms, centre: np.ndarray) -> np.ndarray:
    """Return E[(t_j − c_j)⁴] of every j for K = 3 by one integral over the whole simplex (x₀ outside, x₁ inside).

    ``prepare(x₀, 1 − x₀, ln x₀)`` returns the outer-node values and ``terms(outer, x₁, x₂, ln x₁, ln x₂)``
    the per-sample terms of the three coordinates stacked, shape (3, …).
    """
    law = PairLaw(*setup.alpha)

    def powers(outer, y, z, log_y, log_z):
        return (terms(outer, y, z, log_y, log_z) - centre.reshape(3, *([1] * np.ndim(y)))) ** 4

    def outer_values(x, rest, log_x, log_rest):
        return prepare(x, rest, log_x)

    return law.expect(powers, setup.features, outer_values)
