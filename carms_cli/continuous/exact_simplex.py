"""Exact ground truth for Beta and Dirichlet runs: gradients in closed form or by 1-D quadrature, estimator moments.

Objectives are separable, f = Σ_d φ(x_d) (:mod:`carms_cli.continuous.simplex`), so everything is a
sum over one coordinate's law. A Beta(a, b) coordinate is integrated on its logit u = ln(x/(1 − x)),
where the density is smooth at any shape: x = 1/(1 + e^{−u}), ln x = −ln(1 + e^{−u}),
ln(1 − x) = −ln(1 + e^u), weight e^{a ln x + b ln(1 − x) − ln B(a, b)} (tails e^{au} and e^{−bu}, cut
where they fall below e^{−800} of the mode), by the adaptive Gauss–Kronrod rule of
:func:`carms_cli.continuous.exact.integrate`.

Gradient
--------
Beta(a, b), with (s)_i the rising factorial: ``poly`` (``mean``, ``square``) E x^i = (a)_i/(a + b)_i,
∂_a ln E x^i = Σ_{k<i} (1/(a + k) − 1/(a + b + k)), ∂_b ln E x^i = −Σ_{k<i} 1/(a + b + k) (``mean``:
∂_a = b/(a + b)², ∂_b = −a/(a + b)²); ``log`` E ln x = ψ(a) − ψ(a + b), ∂_a = ψ′(a) − ψ′(a + b),
∂_b = −ψ′(a + b); the others (``laplace``, ``cos``, ``exp``, ``step``) ∂_θ E φ = E[φ(x) s_θ(x)] by
quadrature to 1e−14. Dirichlet: x_k ~ Beta(α_k, α₀ − α_k), so ∂_{α_j} E Σ_k φ(x_k) = ∂_a E φ(x_j) +
Σ_{k≠j} ∂_b E φ(x_k).

Moments of one estimate
-----------------------
Beta coordinate d with f = φ(x_d) + R (R the other coordinates' sum, independent, moments from
their own 1-D integrals): ``implicit`` t = φ′(x_d)·∂x_d/∂θ (the compiled CDF-implicit derivative of
:mod:`carms_cli.continuous.kernels.beta` at every node; nodes with x < e^{−700} are left out, their
mass below e^{−700a}/(a B(a, b)); x > ½ is taken on its complement 1 − x ~ Beta(b, a), kept exact);
``score`` t = (φ + R)s_θ; ``score-baseline`` (φ + R − b)s_θ;
``score-loo`` from M_ab = E[f̃^a s^b] (:func:`carms_cli.continuous.exact.loo_variance`). Given x_d,
t = α + βr with r = R − E R, so E[(t − c)^m | x_d] = Σ_p C(m, p)(α − c)^{m−p}β^p E r^p.

A Dirichlet with K = 2 is x₁ ~ Beta(α₁, α₂), x₂ = 1 − x₁: every estimator of α₁ (α₂) is the Beta
one of a (b) for F(x) = φ(x) + φ(1 − x), F′(x) = φ′(x) − φ′(1 − x). For K ≥ 3 the terms couple
pairs of coordinates (2-D integrals over the aggregated Dirichlet): :mod:`carms_cli.continuous.exact_dirichlet`.

``implicit-gamma-ratio`` depends on the Gammas, not on x alone: with S = ΣG ~ Gamma(a + b, 1)
independent of x, G_a = xS and G_b = (1 − x)S, so its term is a function of (x, S), integrated by a
nested rule (x outside on its logit, S inside on the Gamma law's variable of
:class:`carms_cli.continuous.exact.Law`) with g(α, G) = ∂G/∂α the compiled Gamma derivative at every
node. Since the CDF-implicit term is its conditional expectation given x, the difference of the two
variances is E[Var(ratio term | x)] ≥ 0.
"""

import math

import numpy as np
from scipy import special

from carms_cli.continuous.codes import EstimatorCode, ObjectiveCode
from carms_cli.continuous.exact import OUTER_REL_TOL, REL_TOL, WGK, XGK, Law, NotComputable, integrate, loo_variance
from carms_cli.continuous.registry import applicable
from carms_cli.core.family import ExactMoments

#: Log-weight span kept below the mode.
CUT = 800.0
#: Least ln x at which the implicit term is integrated (x and f′ stay finite above).
IMPLICIT_LOG_FLOOR = -700.0


class BetaLaw:
    """Beta(a, b) on the logit u = ln(x/(1 − x)) (module docstring)."""

    def __init__(self, a: float, b: float):
        self.a, self.b = float(a), float(b)
        self.log_norm = float(special.betaln(self.a, self.b))

    def edges(self, features=(), lower: float | None = None, upper: float | None = None) -> np.ndarray:
        """Return breakpoints in u covering the kept support, refined around the mode and at the features."""
        a, b = self.a, self.b
        mode = math.log(a / b)
        spread = math.sqrt(1.0 / a + 1.0 / b)
        low, high = mode - CUT / a - 10.0 * spread, mode + CUT / b + 10.0 * spread
        powers = 2.0 ** np.arange(-2, 10)
        points = [[low, high, mode, IMPLICIT_LOG_FLOOR, 37.0], mode + spread * powers[:8], mode - spread * powers[:8]]
        points += [mode - powers / a, mode + powers / b]
        points.append([math.log(p / (1.0 - p)) for p in features if 0.0 < p < 1.0])
        edges = np.unique(np.clip(np.concatenate(points), low, high))
        if lower is not None:
            edges = np.unique(np.concatenate([[lower], edges[edges > lower]]))
        if upper is not None:
            edges = np.unique(np.concatenate([edges[edges < upper], [upper]]))
        return edges

    def parts(self, u):
        """Return x, 1 − x, ln x, ln(1 − x) at u."""
        log_x = -np.logaddexp(0.0, -u)
        log_y = -np.logaddexp(0.0, u)
        return np.exp(log_x), np.exp(log_y), log_x, log_y

    def weight(self, log_x, log_y):
        """Density of u."""
        return np.exp(self.a * log_x + self.b * log_y - self.log_norm)

    def expect(self, function, features=(), lower=None, upper=None, rel: float = 1e-13) -> np.ndarray:
        """Return E[function(x, y, ln x, ln y)] (shape (C,)) by adaptive quadrature."""

        def integrand(u, owner):
            x, y, log_x, log_y = self.parts(u)
            return np.asarray(function(x, y, log_x, log_y)) * self.weight(log_x, log_y)

        with np.errstate(all="ignore"):
            values, _, ok = integrate(integrand, self.edges(features, lower, upper)[None, :], rel)
        if not ok or not np.all(np.isfinite(values)):
            raise NotComputable("the quadrature over the Beta law did not converge to the target accuracy")
        return values[:, 0]


def _phi(objective, x, log_x):
    """φ(x), with ln x taken from ``log_x`` (``log``)."""
    if objective.code == ObjectiveCode.LOG:
        return log_x
    return objective.phi(x)


def _features(objective) -> list[float]:
    if objective.code == ObjectiveCode.STEP:
        return [float(objective.params[0])]
    if objective.code == ObjectiveCode.EXP and objective.params[0] > 0:
        width = 1.0 / math.sqrt(objective.params[0])
        return [s * width for s in (0.25, 0.5, 1, 2, 4)]
    return []


def _scores(a: float, b: float, log_x, log_y):
    """Return (s_a, s_b) of Beta(a, b)."""
    total = special.digamma(a + b)
    return log_x - special.digamma(a) + total, log_y - special.digamma(b) + total


def _cdf_jacobians(a: float, b: float, points: np.ndarray) -> np.ndarray:
    """Return the compiled CDF-implicit Jacobian rows of Beta(a, b) at x ≤ ½ (n × 2 × 2; row 0 holds ∂x/∂a, ∂x/∂b).

    The GIL-free kernel runs on contiguous runs of points in Numba's thread count (one value per
    point, so the same numbers whatever the threads).
    """
    import numba

    from carms_cli.continuous.kernels.beta import cdf_jacobians
    from carms_cli.core.pool import run_rows

    pairs = np.ascontiguousarray(np.stack([points, 1.0 - points], axis=1))
    jacobian = np.zeros((points.size, 2, 2))
    shapes, rests = np.array([a, b]), np.array([b, a])
    parts = max(1, min(numba.get_num_threads(), points.size // 4096))
    bounds = [points.size * p // parts for p in range(parts + 1)]

    def work(first: int, last: int) -> None:
        for part in range(first, last):
            lo, hi = bounds[part], bounds[part + 1]
            cdf_jacobians(shapes, rests, pairs[lo:hi], 1, jacobian[lo:hi], np.zeros(hi - lo, dtype=np.int64))

    run_rows(parts, parts, work)
    return jacobian


def cdf_derivatives(a: float, b: float, x, y=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the CDF-implicit (∂x/∂a, ∂x/∂b) of Beta(a, b) variates x by the compiled derivative.

    Given y = 1 − x (exactly, not rounded from x), x > ½ is taken on its complement: 1 − x ~ Beta(b, a)
    and ∂x/∂a = −∂(1 − x)/∂a, the second shape's derivative there (as the kernel does), so no digit
    of 1 − x is lost where x rounds to 1.
    """
    x = np.asarray(x, dtype=float)
    y = 1.0 - x if y is None else np.broadcast_to(np.asarray(y, dtype=float), x.shape)
    upper = x > 0.5
    flat = np.where(upper, y, x).ravel()
    d_a, d_b = np.empty(flat.size), np.empty(flat.size)
    for complement, (first, second) in enumerate(((a, b), (b, a))):
        side = upper.ravel() if complement else ~upper.ravel()
        jacobian = _cdf_jacobians(first, second, flat[side])
        if complement:  # the derivatives of 1 − x in (b, a), negated
            d_a[side], d_b[side] = -jacobian[:, 0, 1], -jacobian[:, 0, 0]
        else:
            d_a[side], d_b[side] = jacobian[:, 0, 0], jacobian[:, 0, 1]
    return d_a.reshape(x.shape), d_b.reshape(x.shape)


def beta_gradient(objective, a: float, b: float) -> tuple[float, float, float]:
    """Return E φ(x), ∂_a E φ and ∂_b E φ for x ~ Beta(a, b) (module docstring)."""
    code, p = objective.code, objective.params
    if code == ObjectiveCode.POLY:
        value = d_a = d_b = 0.0
        for i, c in enumerate(p):
            k = np.arange(i)
            moment = float(np.prod((a + k) / (a + b + k)))
            value += c * moment
            d_a += c * moment * float(np.sum(1.0 / (a + k) - 1.0 / (a + b + k)))
            d_b -= c * moment * float(np.sum(1.0 / (a + b + k)))
        return value, d_a, d_b
    if code == ObjectiveCode.SQUARE:  # (x − k)² = k² − 2k x + x²
        from carms_cli.continuous.objectives import Objective

        k = float(p[0])
        return beta_gradient(Objective("poly", ObjectiveCode.POLY, np.array([k * k, -2.0 * k, 1.0]), ""), a, b)
    if code == ObjectiveCode.LOG:
        trigamma = special.polygamma(1, a + b)
        return (
            float(special.digamma(a) - special.digamma(a + b)),
            float(special.polygamma(1, a) - trigamma),
            float(-trigamma),
        )
    law = BetaLaw(a, b)

    def terms(x, y, log_x, log_y):
        phi = _phi(objective, x, log_x)
        s_a, s_b = _scores(a, b, log_x, log_y)
        return np.stack([phi, phi * s_a, phi * s_b])

    value, d_a, d_b = law.expect(terms, _features(objective), rel=1e-14)
    return float(value), float(d_a), float(d_b)


def _marginals(problem) -> tuple[np.ndarray, np.ndarray]:
    """Return each coordinate's Beta shapes (a_d, b_d): Beta's own, Dirichlet (α_k, α₀ − α_k)."""
    from carms_cli.continuous.simplex import kernel_parameters

    return kernel_parameters(problem)


def simplex_expectation(problem) -> float:
    """Return E f = Σ_d E φ(x_d)."""
    first, second = _marginals(problem)
    return float(sum(beta_gradient(problem.objective, a, b)[0] for a, b in zip(first, second, strict=True)))


def simplex_gradient(problem) -> np.ndarray:
    """Return ∂E f/∂θ for the reported coordinates (Beta a then b; Dirichlet α_j)."""
    first, second = _marginals(problem)
    per = np.array([beta_gradient(problem.objective, a, b) for a, b in zip(first, second, strict=True)])
    if problem.distribution == "dirichlet":
        d_b = per[:, 2]
        return per[:, 1] + d_b.sum() - d_b
    return np.concatenate([per[:, 1] if name == "a" else per[:, 2] for name in problem.parameters])


def _power_moments(alpha, beta, c: float, rmom) -> np.ndarray:
    """Return E[(α − c + βr)^m], m = 1…4, for r with moments ``rmom`` (E r^p, p = 0…4)."""
    base = alpha - c
    out = []
    for m in range(1, 5):
        out.append(sum(math.comb(m, q) * base ** (m - q) * beta**q * rmom[q] for q in range(m + 1) if rmom[q] != 0))
    return np.stack(out)


class _Coordinate:
    """One coordinate's Beta law, the function of x its terms see (φ, or F for a Dirichlet K = 2) and the remainder."""

    def __init__(self, objective, a, b, pair: bool, rest_mean=0.0, rest_moments=(1.0, 0.0, 0.0, 0.0, 0.0)):
        self.objective, self.a, self.b, self.pair = objective, a, b, pair
        self.law = BetaLaw(a, b)
        self.rest_mean, self.rmom = rest_mean, np.asarray(rest_moments, dtype=float)
        self.features = _features(objective)
        if pair:
            self.features += [1.0 - p for p in self.features]

    def value(self, x, y, log_x, log_y):
        phi = _phi(self.objective, x, log_x)
        return phi + _phi(self.objective, y, log_y) if self.pair else phi

    def slope(self, x, y):
        slope = self.objective.phi(x, 1)
        return slope - self.objective.phi(y, 1) if self.pair else slope

    def score(self, second, log_x, log_y):
        return _scores(self.a, self.b, log_x, log_y)[1 if second else 0]

    def terms(self, code, second: bool, c: float, baseline: float = 0.0) -> np.ndarray:
        """Return E[(t − c)^m], m = 1…4."""
        if code == EstimatorCode.IMPLICIT:

            def implicit(x, y, log_x, log_y):
                d_a, d_b = cdf_derivatives(self.a, self.b, x, y)
                return _power_moments(self.slope(x, y) * (d_b if second else d_a), 0.0, c, self.rmom)

            # F′ of a pair sees φ′(1 − x) too: 1 − x ≥ e^{−700} as well (mass beyond below e^{−700b}/(b B(a, b)))
            upper = -IMPLICIT_LOG_FLOOR if self.pair else None
            return self.law.expect(implicit, self.features, lower=IMPLICIT_LOG_FLOOR, upper=upper)

        def score(x, y, log_x, log_y):
            s = self.score(second, log_x, log_y)
            return _power_moments((self.value(x, y, log_x, log_y) + self.rest_mean - baseline) * s, s, c, self.rmom)

        return self.law.expect(score, self.features)

    def ratio_terms(self, second: bool, c: float) -> np.ndarray:
        """Return E[(t − c)^m], m = 1…4, of the gamma-ratio term, by a nested 2-D rule over (x, S).

        G_a = xS, G_b = (1 − x)S with S = ΣG ~ Gamma(a + b, 1) independent of x, so
        t = F′(x)·g(a, xS)(1 − x)/S for a and −F′(x)·g(b, (1 − x)S)·x/S for b; x outside, S inside.
        Inner nodes whose Gamma is below e^{−700} are left out (there g would underflow; their
        weight is below e^{−700·shape} of the law's).
        """
        shape = self.b if second else self.a
        inner_law = Law("gamma", self.a + self.b, 1.0)
        inner_base = inner_law.edges()
        failed = []
        upper = -IMPLICIT_LOG_FLOOR if self.pair else None

        def outer(u, owner):
            x, y, log_x, log_y = self.law.parts(u)
            flat = [np.ravel(v) for v in (x, y, log_x, log_y)]

            def inner(v, rows):
                x_o, y_o, lx_o, ly_o = (f[rows][:, None] for f in flat)
                total, log_total = inner_law.point(v)
                log_gamma = (ly_o if second else lx_o) + log_total
                gamma = np.exp(log_gamma)
                g = _gamma_shape_derivative(shape, gamma)
                factor = -x_o if second else y_o
                t = np.where(log_gamma >= IMPLICIT_LOG_FLOOR, self.slope(x_o, y_o) * g * factor / total, c)
                return _power_moments(t, 0.0, c, self.rmom) * inner_law.weight(v)

            weight = self.law.weight(log_x, log_y)
            half = (u[:, -1] - u[:, 0]) / (XGK[-1] - XGK[0])
            row_weights = (weight * WGK * half[:, None]).ravel()
            edges = np.broadcast_to(inner_base, (row_weights.size, inner_base.size))
            values, bound, ok = integrate(inner, edges, REL_TOL, row_weights)
            if not ok:
                failed.append(True)
            shape_out = (values.shape[0], *u.shape)
            return values.reshape(shape_out) * weight, bound.reshape(shape_out) * weight

        edges = self.law.edges(self.features, IMPLICIT_LOG_FLOOR, upper)
        with np.errstate(all="ignore"):
            values, _, ok = integrate(outer, edges[None, :], OUTER_REL_TOL)
        if failed or not ok or not np.all(np.isfinite(values)):
            raise NotComputable("the nested quadrature of the gamma-ratio term did not converge")
        return values[:, 0]

    def loo(self, mean_f: float, second: bool) -> np.ndarray:
        """Return M₁₁, M₂₀, M₀₂, M₂₂ with f̃ = f − E f (the remainder's variance added)."""
        var_r = self.rmom[2]

        def statistics(x, y, log_x, log_y):
            s = self.score(second, log_x, log_y)
            centred = self.value(x, y, log_x, log_y) + self.rest_mean - mean_f
            square = centred * centred + var_r
            return np.stack([centred * s, square, s * s, square * s * s])

        return self.law.expect(statistics, self.features)

    def baseline(self) -> tuple[float, float]:
        """Return the optimal baselines E[f s²]/E[s²] for a and b."""

        def statistics(x, y, log_x, log_y):
            f = self.value(x, y, log_x, log_y) + self.rest_mean
            s_a, s_b = _scores(self.a, self.b, log_x, log_y)
            return np.stack([f * s_a * s_a, s_a * s_a, f * s_b * s_b, s_b * s_b])

        f_a, s_a, f_b, s_b = self.law.expect(statistics, self.features)
        return f_a / s_a, f_b / s_b


def _gamma_shape_derivative(shape: float, values: np.ndarray) -> np.ndarray:
    """Return g(α, G) = ∂G/∂α of Gamma(α, 1) variates (compiled; 0 where G = 0)."""
    from carms_cli.continuous.implicit import shape_derivative

    flat = np.ascontiguousarray(values, dtype=float).ravel()
    return shape_derivative(shape, flat)[0].reshape(values.shape)


def _central(objective, a, b) -> np.ndarray:
    """Return E φ, μ₂, μ₃, μ₄ of φ(x), x ~ Beta(a, b)."""
    law = BetaLaw(a, b)
    features = _features(objective)
    (mean,) = law.expect(lambda x, y, lx, ly: _phi(objective, x, lx)[None], features)
    m = law.expect(lambda x, y, lx, ly: np.stack([(_phi(objective, x, lx) - mean) ** q for q in (2, 3, 4)]), features)
    return np.array([mean, *m])


def _coordinates(problem) -> list[tuple[_Coordinate, tuple[bool, ...]]]:
    """Return, per reported coordinate in order, its _Coordinate and whether it is a second shape (b)."""
    objective = problem.objective
    if problem.distribution == "dirichlet":
        alpha = problem.value("alpha")
        pair = _Coordinate(objective, float(alpha[0]), float(alpha[1]), True)
        return [(pair, False), (pair, True)]
    a_all, b_all = problem.value("a"), problem.value("b")
    central = [_central(objective, float(a), float(b)) for a, b in zip(a_all, b_all, strict=True)]
    coordinates = []
    for d in range(problem.dims):
        others = [central[e] for e in range(problem.dims) if e != d]
        k2 = sum(c[1] for c in others)
        k3 = sum(c[2] for c in others)
        k4 = sum(c[3] - 3.0 * c[1] ** 2 for c in others)
        rmom = (1.0, 0.0, k2, k3, k4 + 3.0 * k2 * k2)
        rest_mean = float(sum(c[0] for c in others))
        coordinates.append(_Coordinate(objective, float(a_all[d]), float(b_all[d]), False, rest_mean, rmom))
    return [(coordinates[d], name == "b") for name in problem.parameters for d in range(problem.dims)]


def simplex_baseline(problem) -> np.ndarray:
    """Return the optimal constant baseline E[f s²]/E[s²] of each reported coordinate (Beta; Dirichlet K = 2)."""
    if problem.distribution == "dirichlet" and problem.dims > 2:
        raise ValueError("a Dirichlet with K ≥ 3 is exact_dirichlet's (truth.optimal_baseline chooses)")
    with np.errstate(all="ignore"):
        return np.array([coord.baseline()[1 if second else 0] for coord, second in _coordinates(problem)])


def simplex_moments(problem, estimator_name: str) -> ExactMoments | str:
    """Return the exact mean, variance and fourth central moment of one n-sample estimate, or why not."""
    spec = applicable(estimator_name, problem)
    if isinstance(spec, str):
        return spec
    if problem.distribution == "dirichlet" and problem.dims > 2:
        raise ValueError("a Dirichlet with K ≥ 3 is exact_dirichlet's (truth.exact_moments chooses)")
    n = problem.samples
    gradient = simplex_gradient(problem)
    try:
        with np.errstate(all="ignore"):
            coordinates = _coordinates(problem)
            if spec.code == EstimatorCode.SCORE_LOO:
                mean_f = simplex_expectation(problem)
                m11, m20, m02, m22 = np.array([coord.loo(mean_f, second) for coord, second in coordinates]).T
                return ExactMoments(m11, loo_variance(n, m11, m20, m02, m22), np.full(m11.shape, np.nan))
            rows = []
            for index, (coord, second) in enumerate(coordinates):
                if spec.code == EstimatorCode.IMPLICIT_GAMMA_RATIO:
                    rows.append(coord.ratio_terms(second, float(gradient[index])))
                    continue
                baseline = coord.baseline()[1 if second else 0] if spec.code == EstimatorCode.SCORE_BASELINE else 0.0
                code = EstimatorCode.IMPLICIT if spec.code == EstimatorCode.IMPLICIT else EstimatorCode.SCORE
                rows.append(coord.terms(code, second, float(gradient[index]), baseline))
    except NotComputable as error:
        return str(error)
    delta, m2, m3, m4 = np.array(rows).T
    variance = np.maximum(m2 - delta**2, 0.0)
    fourth = np.maximum(m4 - 4.0 * delta * m3 + 6.0 * delta**2 * m2 - 3.0 * delta**4, 0.0)
    return ExactMoments(gradient + delta, variance / n, (fourth + 3.0 * (n - 1) * variance**2) / n**3)
