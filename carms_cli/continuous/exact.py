"""Exact ground truth of the continuous family: ∇θ E[f] in closed form, estimator moments by quadrature.

Gradient
--------
For a separable f = Σ_d φ(x_d), ∂E[f]/∂θ_d = ∂E[φ(x_d)]/∂θ_d (one coordinate's law). Gaussian
N(μ, σ²), d = μ − k:

* ``square:k`` — E = d² + σ², ∂μ = 2d, ∂σ = 2σ;
* ``exp:k`` — S = 1 + 2kσ², E = S^{−½} e^{−kμ²/S}, ∂μ = −2kμE/S, ∂σ = 4kσE(kμ²/S² − 1/(2S));
* ``cos:k`` — E = cos(kμ) e^{−k²σ²/2}, ∂μ = −k sin(kμ) e^{−k²σ²/2}, ∂σ = −k²σE;
* ``sin:k`` — E = sin(kμ) e^{−k²σ²/2}, ∂μ = k cos(kμ) e^{−k²σ²/2}, ∂σ = −k²σE;
* ``poly`` — E p(x) = Σ_{j even} σ^j p^{(j)}(μ)/(2^{j/2}(j/2)!) (Taylor at μ with E ε^j = (j − 1)!!),
  ∂μ E p = E p′, ∂σ E p = E[p′(x)ε] = σ E p″ (Stein);
* ``step:k`` — z = (μ − k)/σ, E = Φ(z), ∂μ = φ(z)/σ, ∂σ = −zφ(z)/σ.

Gamma(α, rate β) (Exponential(λ) is α = 1, β = λ), m = α/β:

* ``square:k`` — E = α/β² + (m − k)², ∂β = −2α/β³ − 2(m − k)α/β²;
* ``poly`` — E x^i = (α)_i/β^i (rising factorial), ∂β E x^i = −i(α)_i/β^{i+1};
* ``cos:k`` — E = Re χ(k), χ(t) = (1 − it/β)^{−α}; ∂β χ = −αχ·(ik/β²)/(1 − ik/β); ``sin:k`` the
  imaginary parts;
* ``log`` — E = ψ(α) − log β, ∂β = −1/β;
* ``step:k`` — E = Q(α, βk) (regularised upper incomplete gamma; 1 for k ≤ 0),
  ∂β = −k(βk)^{α−1}e^{−βk}/Γ(α);
* ``exp:k`` — no elementary closed form: E = ∫ e^{−kx²} q dx and ∂β = E[−f′(x)x/β] =
  (2k/β)E[x²e^{−kx²}] (a positive integrand) by adaptive quadrature to 1e−14;
* ``laplace:t`` — z = 1 + t/β, E = z^{−α}, ∂β = α(t/β²)z^{−α−1} (E = ∞ for t ≤ −β: NaN).

The shape α of a Gamma (``--param alpha``):

* ``square:k`` — ∂α = 1/β² + 2(m − k)/β (k = 0: (2α + 1)/β²);
* ``poly`` — ∂α E x^i = (α)_i(ψ(α + i) − ψ(α))/β^i (``mean``, f = x: 1/β);
* ``cos:k`` — ∂α χ = −log(1 − ik/β)·χ (``sin:k``: its imaginary part);
* ``log`` — ∂α = ψ′(α);
* ``laplace:t`` — ∂α = −log(z)·z^{−α};
* ``step:k`` — ∂α Q(α, βk) = g(α, βk)·(βk)^{α−1}e^{−βk}/Γ(α), g = ∂x/∂α of a Gamma(α, 1) variate
  (the compiled derivative of :mod:`carms_cli.continuous.kernels.implicit`, 1e−12 of mpmath);
* ``exp:k`` — ∂α = E[f(x)(log βx − ψ(α))] by adaptive quadrature to 1e−14.

Gaussian ``laplace:t``: E = e^{−tμ + t²σ²/2}, ∂μ = −tE, ∂σ = t²σE.

von Mises(μ, κ) (periodic objectives only): the closed forms and the law of
:mod:`carms_cli.continuous.exact_vonmises`, which the functions here dispatch to.

Non-separable, s = Σ_d x_d, y = wᵀx: ``cos-sum:k`` — E = Re Π_d χ_d(k) (Gaussian χ_d(t) =
e^{itμ_d − t²σ_d²/2}), ∂θ_d E = Re(Π_e χ_e · ∂θ_d log χ_d); ``quad-form`` — E = m_y² + v_y with
m_y = Σ w_d E x_d, v_y = Σ w_d² Var x_d. ``log-sigma`` reports σ·∂/∂σ. ``exp:k`` with k < 0
and 1 + 2kσ² ≤ 0 (or any k < 0 under Gamma) has E f = ∞: its gradient is NaN.

Moments of one estimate
-----------------------
``pathwise``, ``implicit``, ``score``, ``mvd`` and ``mvd-uncoupled`` average n iid per-sample terms t (see
:mod:`carms_cli.continuous.registry`), so one estimate has mean E t, variance Var t/n and fourth
central moment (μ₄ + 3(n − 1)(Var t)²)/n³. The term of coordinate d depends on that coordinate's
randomness ξ and, through f, on the other coordinates only via an independent remainder:

* separable f: f = φ(x_d) + R, R = Σ_{e≠d} φ(x_e). The MVD and pathwise terms do not see R; the
  score term is (φ + m_R + r)s with r = R − m_R centred, whose central moments come from the
  cumulants of the φ(x_e) (1-D quadrature each);
* ``quad-form``: f = (m_S + w_d x_d + r)², r = Σ_{e≠d} w_e(x_e − E x_e), central moments up to
  the 8th from its cumulants (Gaussian: κ₂ only; Gamma: κ_j = Σ w_e^j α_e (j − 1)!/β_e^j);
* ``cos-sum``: f = Re(e^{ikx_d}e^{ikS}), S = Σ_{e≠d} x_e with E e^{ilkS} = Π_{e≠d} χ_e(lk).

So every term is t = Σ_j h_j(ξ) r^j or t = Re(Z(ξ)e^{ikS}), and E[(t − c)^m | ξ] is exact given the
moments of r (or the characteristic function of S); only ξ is integrated numerically: 1-D for
pathwise and score (x_d), coupled MVD-μ (W ~ Rayleigh) and the uncoupled MVD of a separable f
(moments of c·(φ(x⁺) − φ(x⁻)) from the central moments of φ(x⁺) and φ(x⁻), independent); 2-D for
coupled MVD-σ (M double-sided Maxwell outside, x⁻ = μ + σMU with U ~ U(0, 1) inside), coupled MVD
of the rate (x⁻ ~ Gamma(α + 1, β) outside, x⁺ = x⁻e^{−Y} inside with Y ~ Exp(α), the same joint
law as x⁻ = x⁺ + E, E ~ Exp(β), since x⁺/x⁻ ~ Beta(α, 1) independent of x⁻) and uncoupled MVD of
a non-separable f (x⁺ outside, x⁻ inside). Raw moments are taken about the exact gradient c and
converted to central ones (μ₂ = m₂ − δ², μ₄ = m₄ − 4δm₃ + 6δ²m₂ − 3δ⁴, δ = m₁).

The integrals use a vectorised adaptive 21-point Gauss–Kronrod rule (:func:`integrate`) that
bisects every interval whose error estimate |K₂₁ − G₁₀| exceeds 1e−13 of the component's L1 norm
— or, for a term that is mostly cancellation (t ≡ c exactly, |c| ≫ the spread of t), its rounding
floor, ε times the magnitude of the summands t was computed from — on substituted variables with
smooth weights: x = μ + σε (ε, W, M over |·| ≤ 39); Gamma x = αe^u/β with weight
exp(C − α(e^u − 1 − u)), C = α log α − α − log Γ(α), over the u where α(e^u − 1 − u) ≤ 800 (so
log x is never evaluated from an underflowed x). Breakpoints are placed at the objective's
features (the step, the bump of exp). A nested integral controls its error globally: an inner
interval is judged against the outer-weighted total, so inner integrals at outer points of
negligible weight are not resolved.

The Gamma shape's terms are 1-D integrals over x_d like the rate's: ``score`` with
s_α = log(βx) − ψ(α) = u + log α − ψ(α) on the law's variable, ``implicit`` t = f′(x)·g(α, βx)/β
with g computed at every node by the compiled derivative. The latter is the spec's ∫₀¹ (f′(x(u))
g(α, x(u))/β)² du − ∇² over the CDF value u, written over x = F⁻¹(u) (dF = q dx); the nodes where
βx or x is below e^{−700} are left out (for β ≤ 1 their mass is below e^{−700α}/Γ(α + 1) ≤ e^{−42}
at α ≥ 0.06; there x or g would underflow).

``score-loo`` is a U-statistic: g = (2/(n(n − 1))) Σ_{i<j} h(x_i, x_j) with kernel
h(x, y) = ½(f(x) − f(y))(s(x) − s(y)), so Var g = (2/(n(n − 1)))(2(n − 2)ζ₁ + ζ₂) with, writing
f̃ = f − E f and M_ab = E[f̃^a s^b], ζ₁ = Var E[h | x] = ¼(M₂₂ − M₁₁²) and ζ₂ = Var h =
½(M₂₂ + M₂₀M₀₂) (:func:`loo_variance`); its fourth central moment is not computed (NaN).
``score-delta`` and ``pathwise-delta`` estimate their coefficient from n fresh samples; their
distribution has no closed form (a reason string is returned).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from carms_cli.continuous.codes import EstimatorCode, ObjectiveCode
from carms_cli.continuous.objectives import Objective
from carms_cli.continuous.problem import ContinuousProblem
from carms_cli.continuous.registry import ESTIMATORS, applicable
from carms_cli.core.family import ExactMoments

__all__ = [
    "DELTA_REASON",
    "NotComputable",
    "exact_expectation",
    "exact_gradient",
    "exact_moments",
    "integrate",
    "loo_statistics",
    "loo_variance",
    "sample_moments",
]

DELTA_REASON = "the control-variate coefficient is estimated from n fresh samples; its distribution has no closed form"

#: Relative tolerance (of each component's L1 norm) of one adaptive 1-D integral.
REL_TOL = 1e-13
#: Relative tolerance of the outer integral of a nested 2-D integral.
OUTER_REL_TOL = 1e-12
#: Largest number of live intervals before the adaptive rule gives up.
MAX_INTERVALS = 100_000
#: Largest number of bisection rounds.
MAX_ROUNDS = 80
#: Truncation of the standard normal, Rayleigh and Maxwell variables: e^{−39²/2} < 1e−330.
NORMAL_CUT = 39.0
#: Truncation of the Gamma variable: α(e^u − 1 − u) ≤ GAMMA_CUT (weight below e^{−800} of its mode).
GAMMA_CUT = 800.0

_SQRT_2PI = math.sqrt(2.0 * math.pi)


class NotComputable(Exception):
    """The exact moments cannot be computed; the message is the one-line reason."""


# ---------------------------------------------------------------------------------------------
# Adaptive Gauss–Kronrod (21 points; QUADPACK's qk21 nodes and weights)
# ---------------------------------------------------------------------------------------------

_XGK_HALF = np.array(
    [
        0.995657163025808080735527280689003,
        0.973906528517171720077964012084452,
        0.930157491355708226001207180059508,
        0.865063366688984510732096688423493,
        0.780817726586416897063717578345042,
        0.679409568299024406234327365114874,
        0.562757134668604683339000099272694,
        0.433395394129247190799265943165784,
        0.294392862701460198131126603103866,
        0.148874338981631210884826001129720,
        0.0,
    ]
)
_WGK_HALF = np.array(
    [
        0.011694638867371874278064396062192,
        0.032558162307964727478818972459390,
        0.054755896574351996031381300244580,
        0.075039674810919952767043140916190,
        0.093125454583697605535065465083366,
        0.109387158802297641899210590325805,
        0.123491976262065851077208463280990,
        0.134709217311473325928054001771707,
        0.142775938577060080797094273138717,
        0.147739104901338491374841515972068,
        0.149445554002916905664936468389821,
    ]
)
_WG_HALF = np.array(
    [
        0.066671344308688137593568809893332,
        0.149451349150580593145776339657697,
        0.219086362515982043995534934228163,
        0.269266719309996355091226921569469,
        0.295524224714752870173892994651338,
    ]
)
#: The 21 Kronrod nodes on [−1, 1] and their weights; the 10 Gauss nodes are XGK[1::2].
XGK = np.concatenate([-_XGK_HALF[:-1], _XGK_HALF[::-1]])
WGK = np.concatenate([_WGK_HALF[:-1], _WGK_HALF[::-1]])
_WG_FULL = np.zeros(21)
for _i, _node in enumerate(_XGK_HALF[1::2]):
    _WG_FULL[np.isclose(XGK, _node)] = _WG_HALF[_i]
    _WG_FULL[np.isclose(XGK, -_node)] = _WG_HALF[_i]
#: The 10-point Gauss weights at the Kronrod nodes (zero at the others).
WG = _WG_FULL


def integrate(func, edges, rel: float = REL_TOL, row_weights=None):
    """Integrate ``func`` over each row of ``edges`` by adaptive 21-point Gauss–Kronrod.

    Parameters
    ----------
    func : callable
        ``func(x, owner)`` with ``x`` of shape (N, 21) and ``owner`` (N,) the row each interval
        belongs to; returns the integrands, shape (C, N, 21), or a pair (integrands, noise) where
        noise (same shape, ≥ 0) is the scale of each value's own rounding error.
    edges : np.ndarray
        Shape (B, E): B integrals, each over [edges[b, 0], edges[b, −1]] split at the increasing
        breakpoints edges[b] (repeated points give empty intervals and are dropped).
    rel : float
        An interval is accepted when, for every component c, its error estimate |K₂₁ − G₁₀| is at
        most ``rel`` times the current estimate of ∫|g_c| over its row, or below the interval's
        noise floor (8 × the Kronrod sum of the given noise, plus 50 ε ∫|g_c|), so that an
        integrand that is mostly cancellation (an exactly zero term, t − c with |c| ≫ the spread of
        t) cannot split forever.
    row_weights : np.ndarray, optional
        Shape (B,): the weights W_b ≥ 0 with which the B integrals are summed by the caller (the
        inner integrals of a nested rule). Then the error is controlled globally: an interval of
        row b is accepted when its error is at most ``rel`` Σ_b' W_b' ∫|g_c|_b' / W_b, so rows that
        barely count are not resolved beyond what the weighted sum needs.

    Returns
    -------
    values : np.ndarray
        Shape (C, B): the integrals (the Kronrod sums of the accepted intervals).
    bound : np.ndarray
        Shape (C, B): the sum over the accepted intervals of max(|K₂₁ − G₁₀|, noise floor).
    converged : bool
        Whether every interval was accepted within the round and interval limits.
    """
    edges = np.asarray(edges, dtype=float)
    rows = edges.shape[0]
    lo = edges[:, :-1].ravel()
    hi = edges[:, 1:].ravel()
    owner = np.repeat(np.arange(rows), edges.shape[1] - 1)
    keep = hi > lo
    lo, hi, owner = lo[keep], hi[keep], owner[keep]
    done_value = done_abs = done_bound = None
    eps = np.finfo(float).eps
    for _ in range(MAX_ROUNDS):
        half = 0.5 * (hi - lo)
        x = 0.5 * (hi + lo)[:, None] + half[:, None] * XGK
        result = func(x, owner)
        if isinstance(result, tuple):
            y, noise = np.asarray(result[0], dtype=float), np.asarray(result[1], dtype=float)
        else:
            y, noise = np.asarray(result, dtype=float), 0.0
        if done_value is None:
            done_value, done_abs, done_bound = (np.zeros((y.shape[0], rows)) for _ in range(3))
        kronrod = (y @ WGK) * half
        gauss = (y @ WG) * half
        magnitude = (np.abs(y) @ WGK) * half
        floor = 8.0 * (np.broadcast_to(noise, y.shape) @ WGK) * half + 50.0 * eps * magnitude
        error = np.abs(kronrod - gauss)
        scale = done_abs.copy()
        for c in range(y.shape[0]):
            scale[c] += np.bincount(owner, magnitude[c], minlength=rows)
        if row_weights is None:
            tolerance = rel * scale[:, owner]
        else:
            weights = row_weights[owner]
            with np.errstate(divide="ignore", invalid="ignore"):
                tolerance = np.where(weights > 0, rel * (scale @ row_weights)[:, None] / weights, np.inf)
        accept = np.all(error <= np.maximum(tolerance, floor), axis=0)
        accept |= hi - lo <= 1e-15 * np.maximum(np.abs(lo), np.abs(hi))
        bound = np.maximum(error, floor)
        for c in range(y.shape[0]):
            done_value[c] += np.bincount(owner[accept], kronrod[c, accept], minlength=rows)
            done_abs[c] += np.bincount(owner[accept], magnitude[c, accept], minlength=rows)
            done_bound[c] += np.bincount(owner[accept], bound[c, accept], minlength=rows)
        lo, hi, owner = lo[~accept], hi[~accept], owner[~accept]
        if lo.size == 0:
            return done_value, done_bound, True
        if 2 * lo.size > MAX_INTERVALS:
            break
        mid = 0.5 * (lo + hi)
        lo, hi, owner = np.concatenate([lo, mid]), np.concatenate([mid, hi]), np.concatenate([owner, owner])
    return done_value, done_bound, False


# ---------------------------------------------------------------------------------------------
# One-dimensional laws on substituted variables
# ---------------------------------------------------------------------------------------------

_NORMAL_EDGES = np.array([-NORMAL_CUT, -16, -8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8, 16, NORMAL_CUT], dtype=float)


def _gamma_log_peak(alpha: float) -> float:
    """Return C = α log α − α − log Γ(α), the log of the Gamma(α, 1) density of log x at its mode."""
    if alpha < 20.0:
        return alpha * math.log(alpha) - alpha - math.lgamma(alpha)
    # Stirling: log Γ(α) = (α − ½) log α − α + ½ log 2π + 1/(12α) − 1/(360α³) + 1/(1260α⁵) − 1/(1680α⁷) + …
    a2 = alpha * alpha
    correction = (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * a2)) / a2) / a2) / alpha
    return 0.5 * math.log(alpha / (2.0 * math.pi)) - correction


def _gamma_cut(alpha: float) -> tuple[float, float]:
    """Return u_lo < 0 < u_hi with α(e^u − 1 − u) = GAMMA_CUT (the weight e^{−800} below its mode)."""

    def excess(u):
        return alpha * (math.expm1(u) - u) - GAMMA_CUT

    low = -(GAMMA_CUT / alpha + 2.0)
    u_lo = optimize.brentq(excess, low, -1e-300 if excess(-1e-300) < 0 else low / 2, xtol=1e-12, rtol=1e-14)
    u_hi = optimize.brentq(excess, 1e-300, 60.0, xtol=1e-12, rtol=1e-14)
    return u_lo, u_hi


@dataclass(frozen=True)
class Law:
    """A one-dimensional law written on a variable u with a smooth weight.

    ``kind`` is ``normal`` (u = ε ~ N(0, 1), x = a + b·u), ``rayleigh`` (u = W ≥ 0, density
    u e^{−u²/2}, x = a + b·u; b < 0 for μ − σW), ``maxwell`` (u = M, density u²e^{−u²/2}/√(2π),
    x = a + b·u) or ``gamma`` (x ~ Gamma(a, rate b), u = log(bx/a), x = a e^u/b, weight
    exp(C − a(e^u − 1 − u))).
    """

    kind: str
    a: float
    b: float

    def base_edges(self) -> np.ndarray:
        """Return breakpoints in u covering the truncated support."""
        if self.kind in ("normal", "maxwell"):
            return _NORMAL_EDGES
        if self.kind == "rayleigh":
            return _NORMAL_EDGES[_NORMAL_EDGES >= 0]
        alpha = self.a
        u_lo, u_hi = _gamma_cut(alpha)
        width = min(1.0, 1.0 / math.sqrt(alpha))
        powers = 2.0 ** np.array([-1, 0, 1, 2, 3, 5, 7, 9])
        points = np.concatenate(
            [
                [u_lo, 0.0, u_hi],
                width * powers,
                -width * powers,
                -powers / alpha,
                np.log1p(powers * 8.0 / alpha),
            ]
        )
        return np.unique(np.clip(points, u_lo, u_hi))

    def edges(self, features=()) -> np.ndarray:
        """Return the base breakpoints plus the u of each feature point in x (when inside)."""
        base = self.base_edges()
        extra = [u for u in (self.u_of(x) for x in features) if u is not None and base[0] < u < base[-1]]
        return np.unique(np.concatenate([base, extra])) if extra else base

    def u_of(self, x: float):
        """Return the u where the law's x equals ``x`` (None where there is none)."""
        if self.kind == "gamma":
            return math.log(self.b * x / self.a) if x > 0 else None
        return (x - self.a) / self.b

    def weight(self, u: np.ndarray) -> np.ndarray:
        """Density of u."""
        if self.kind == "normal":
            return np.exp(-0.5 * u * u) / _SQRT_2PI
        if self.kind == "rayleigh":
            return u * np.exp(-0.5 * u * u)
        if self.kind == "maxwell":
            return u * u * np.exp(-0.5 * u * u) / _SQRT_2PI
        return np.exp(_gamma_log_peak(self.a) - self.a * (np.expm1(u) - u))

    def point(self, u: np.ndarray):
        """Return x and log x (log x only for the Gamma law, None otherwise)."""
        if self.kind == "gamma":
            log_x = math.log(self.a / self.b) + u
            return np.exp(log_x), log_x
        return self.a + self.b * u, None


# ---------------------------------------------------------------------------------------------
# Closed forms: E φ and its gradient for one coordinate
# ---------------------------------------------------------------------------------------------


def _phi(objective: Objective, x, log_x=None, derivative: int = 0):
    """φ(x) (or a derivative), with log x taken from ``log_x`` when given (no underflow)."""
    if objective.code == ObjectiveCode.LOG and log_x is not None and derivative == 0:
        return log_x
    return objective.phi(x, derivative)


def _x_dphi(objective: Objective, x):
    """x·φ′(x) (exactly 1 for ``log``, also where x underflowed to 0)."""
    if objective.code == ObjectiveCode.LOG:
        return np.ones_like(np.asarray(x, dtype=float))
    return x * objective.phi(x, 1)


def _phi_size(objective: Objective, x, log_x=None, derivative: int = 0):
    """Return the magnitude whose rounding φ(x) (or φ′) carries: |φ| unless φ sums terms that cancel.

    poly: Σ|c_i||x|^i; square: (|x| + |k|)^{2 − derivative}; cos: 1 + |kx| (argument reduction);
    log: |log x| + 1; exp, step: |φ| (+1).
    """
    x = np.asarray(x, dtype=float)
    code, p = objective.code, objective.params
    if code == ObjectiveCode.POLY:
        coefficients = np.polynomial.polynomial.polyder(p, derivative) if derivative else p
        return np.polynomial.polynomial.polyval(np.abs(x), np.abs(coefficients))
    if code == ObjectiveCode.SQUARE:
        return (np.abs(x) + abs(p[0])) ** (2 - derivative) * (1 + derivative)
    if code in (ObjectiveCode.COS, ObjectiveCode.SIN):
        return (1.0 + np.abs(p[0] * x)) * (1.0 + abs(p[0])) ** derivative
    if code == ObjectiveCode.LOG:
        if derivative:
            return np.abs(objective.phi(x, derivative))
        return np.abs(log_x if log_x is not None else np.log(x)) + 1.0
    return np.abs(objective.phi(x, derivative)) + 1.0


def _features(objective: Objective) -> list[float]:
    """Points in x where φ changes abruptly: the step, and around the bump of exp:k."""
    if objective.code == ObjectiveCode.STEP:
        return [float(objective.params[0])]
    if objective.code == ObjectiveCode.EXP and objective.params[0] > 0:
        width = 1.0 / math.sqrt(objective.params[0])
        return [s * width for s in (-4, -2, -1, -0.5, 0, 0.5, 1, 2, 4)]
    return []


def _gaussian_1d(objective: Objective, mu: float, sigma: float) -> tuple[float, float, float]:
    """Return E φ(x), ∂μ and ∂σ for x ~ N(μ, σ²) (closed forms; NaN where E φ = ∞)."""
    code, p = objective.code, objective.params
    if code == ObjectiveCode.SQUARE:
        d = mu - p[0]
        return d * d + sigma * sigma, 2.0 * d, 2.0 * sigma
    if code == ObjectiveCode.EXP:
        k = p[0]
        s = 1.0 + 2.0 * k * sigma * sigma
        if s <= 0:
            return math.nan, math.nan, math.nan
        e = math.exp(-k * mu * mu / s) / math.sqrt(s)
        return e, -2.0 * k * mu * e / s, 4.0 * k * sigma * e * (k * mu * mu / (s * s) - 0.5 / s)
    if code == ObjectiveCode.COS:
        k = p[0]
        spread = float(k) * float(sigma)  # Python floats: a huge kσ damps to 0 without a NumPy overflow warning
        damp = math.exp(-0.5 * spread * spread)
        e = math.cos(k * mu) * damp
        return e, -k * math.sin(k * mu) * damp, -k * k * sigma * e
    if code == ObjectiveCode.SIN:
        k = p[0]
        spread = float(k) * float(sigma)
        damp = math.exp(-0.5 * spread * spread)
        e = math.sin(k * mu) * damp
        return e, k * math.cos(k * mu) * damp, -k * k * sigma * e
    if code == ObjectiveCode.POLY:

        def moment(coefficients):
            total = 0.0
            for j in range(0, coefficients.size, 2):
                derivative = np.polynomial.polynomial.polyder(coefficients, j) if j else coefficients
                value = np.polynomial.polynomial.polyval(mu, derivative)
                total += sigma**j * value / (2.0 ** (j // 2) * math.factorial(j // 2))
            return total

        first = np.polynomial.polynomial.polyder(p, 1) if p.size > 1 else np.zeros(1)
        second = np.polynomial.polynomial.polyder(p, 2) if p.size > 2 else np.zeros(1)
        return moment(p), moment(first), sigma * moment(second)
    if code == ObjectiveCode.LAPLACE:
        t = p[0]
        e = math.exp(-t * mu + 0.5 * t * t * sigma * sigma)
        return e, -t * e, t * t * sigma * e
    if code == ObjectiveCode.STEP:
        z = (mu - p[0]) / sigma
        density = math.exp(-0.5 * z * z) / _SQRT_2PI
        return float(special.ndtr(z)), density / sigma, -z * density / sigma
    raise ValueError(f"objective '{objective.spec}' has no Gaussian closed form here")


def _gamma_1d(objective: Objective, alpha: float, beta: float) -> tuple[float, float]:
    """Return E φ(x) and ∂β for x ~ Gamma(α, rate β) (NaN where E φ = ∞)."""
    code, p = objective.code, objective.params
    if code == ObjectiveCode.SQUARE:
        m = alpha / beta
        return alpha / beta**2 + (m - p[0]) ** 2, -2.0 * alpha / beta**3 - 2.0 * (m - p[0]) * alpha / beta**2
    if code == ObjectiveCode.POLY:
        i = np.arange(p.size)
        rising = special.poch(alpha, i)
        return float(np.sum(p * rising / beta**i)), float(np.sum(-i * p * rising / beta ** (i + 1)))
    if code in (ObjectiveCode.COS, ObjectiveCode.SIN):
        k = p[0]
        z = 1.0 - 1j * k / beta
        chi = np.exp(-alpha * np.log(z))
        slope = chi * (-alpha) * (1j * k / beta**2) / z
        if code == ObjectiveCode.SIN:
            return float(chi.imag), float(slope.imag)
        return float(chi.real), float(slope.real)
    if code == ObjectiveCode.LOG:
        return float(special.digamma(alpha)) - math.log(beta), -1.0 / beta
    if code == ObjectiveCode.LAPLACE:
        t = p[0]
        z = 1.0 + t / beta
        if z <= 0:
            return math.nan, math.nan
        return z**-alpha, alpha * t / beta**2 * z ** (-alpha - 1.0)
    if code == ObjectiveCode.STEP:
        k = p[0]
        if k <= 0:
            return 1.0, 0.0
        t = beta * k
        return float(special.gammaincc(alpha, t)), -k * math.exp((alpha - 1.0) * math.log(t) - t - math.lgamma(alpha))
    if code == ObjectiveCode.EXP:
        k = p[0]
        if k == 0:
            return 1.0, 0.0
        if k < 0:
            return math.nan, math.nan
        law = Law("gamma", alpha, beta)

        def integrand(u, owner):
            x, _ = law.point(u)
            e = np.exp(-k * x * x) * law.weight(u)
            return np.stack([e, x * x * e])

        values, _, converged = integrate(integrand, law.edges(_features(objective))[None, :], 1e-14)
        if not converged:
            raise NotComputable(f"quadrature of E[{objective.spec}] under Gamma did not converge")
        return float(values[0, 0]), float(2.0 * k / beta * values[1, 0])
    raise ValueError(f"objective '{objective.spec}' has no Gamma closed form here")


def _shape_derivative(alpha: float, standard) -> np.ndarray:
    """Return g(α, x̃) = ∂x̃/∂α of Gamma(α, 1) variates x̃ > 0 (any shape), by the compiled derivative."""
    from carms_cli.continuous.implicit import shape_derivative

    standard = np.asarray(standard, dtype=float)
    return shape_derivative(alpha, standard.ravel())[0].reshape(standard.shape)


def _gamma_shape_1d(objective: Objective, alpha: float, beta: float) -> float:
    """Return ∂E φ(x)/∂α for x ~ Gamma(α, rate β) (NaN where E φ = ∞)."""
    code, p = objective.code, objective.params
    if code == ObjectiveCode.SQUARE:
        return 1.0 / beta**2 + 2.0 * (alpha / beta - p[0]) / beta
    if code == ObjectiveCode.POLY:
        i = np.arange(p.size)
        rising = special.poch(alpha, i)
        return float(np.sum(p * rising * (special.digamma(alpha + i) - special.digamma(alpha)) / beta**i))
    if code in (ObjectiveCode.COS, ObjectiveCode.SIN):
        z = 1.0 - 1j * p[0] / beta
        slope = -np.log(z) * np.exp(-alpha * np.log(z))
        return float(slope.imag if code == ObjectiveCode.SIN else slope.real)
    if code == ObjectiveCode.LOG:
        return float(special.polygamma(1, alpha))
    if code == ObjectiveCode.LAPLACE:
        z = 1.0 + p[0] / beta
        return math.nan if z <= 0 else -math.log(z) * z**-alpha
    if code == ObjectiveCode.STEP:
        t = beta * p[0]
        if t <= 0:
            return 0.0
        return float(_shape_derivative(alpha, [t])[0]) * math.exp((alpha - 1.0) * math.log(t) - t - math.lgamma(alpha))
    if code == ObjectiveCode.EXP:
        k = p[0]
        if k == 0:
            return 0.0
        if k < 0:
            return math.nan
        law = Law("gamma", alpha, beta)
        offset = math.log(alpha) - float(special.digamma(alpha))

        def integrand(u, owner):
            x, _ = law.point(u)
            return (np.exp(-k * x * x) * (u + offset) * law.weight(u))[None]

        values, _, converged = integrate(integrand, law.edges(_features(objective))[None, :], 1e-14)
        if not converged:
            raise NotComputable(f"quadrature of ∂α E[{objective.spec}] under Gamma did not converge")
        return float(values[0, 0])
    raise ValueError(f"objective '{objective.spec}' has no Gamma shape gradient here")


def _alpha_beta(problem: ContinuousProblem) -> tuple[np.ndarray, np.ndarray]:
    beta = problem.value("rate")
    alpha = problem.value("alpha") if problem.distribution == "gamma" else np.ones_like(beta)
    return alpha, beta


def _characteristic(problem: ContinuousProblem, t: float) -> np.ndarray:
    """Return E e^{itx_d} per coordinate.

    Gaussian e^{itμ − t²σ²/2}; Gamma (1 − it/β)^{−α}; von Mises (t an integer) e^{itμ} I_|t|(κ)/I₀(κ).
    """
    if problem.distribution == "vonmises":
        from carms_cli.continuous import exact_vonmises

        return exact_vonmises.characteristic(problem, t)
    if problem.distribution == "gaussian":
        mu, sigma = problem.value("mu"), problem.value("sigma")
        return np.exp(1j * t * mu - 0.5 * t * t * sigma * sigma)
    alpha, beta = _alpha_beta(problem)
    return np.exp(-alpha * np.log(1.0 - 1j * t / beta))


def _mean_variance(problem: ContinuousProblem) -> tuple[np.ndarray, np.ndarray]:
    """Return E x_d and Var x_d per coordinate."""
    if problem.distribution == "gaussian":
        return problem.value("mu"), problem.value("sigma") ** 2
    alpha, beta = _alpha_beta(problem)
    return alpha / beta, alpha / beta**2


def _weights(problem: ContinuousProblem) -> np.ndarray:
    return np.broadcast_to(problem.objective.params, (problem.dims,)).astype(float)


def _base_gradient(problem: ContinuousProblem, parameter: str) -> np.ndarray:
    """Return ∂E f/∂θ_d for θ = ``parameter`` (mu, sigma, rate, alpha or kappa), shape (D,)."""
    objective = problem.objective
    if problem.distribution == "vonmises":
        from carms_cli.continuous import exact_vonmises

        return exact_vonmises.base_gradient(problem, parameter)
    if objective.code == ObjectiveCode.COS_SUM:
        k = objective.params[0]
        chi_d = _characteristic(problem, k)
        chi = np.prod(chi_d)
        if parameter == "mu":
            return (chi * 1j * k).real * np.ones(problem.dims)
        if parameter == "sigma":
            return (chi * (-k * k) * problem.value("sigma")).real
        alpha, beta = _alpha_beta(problem)
        if parameter == "alpha":
            return (chi * -np.log(1.0 - 1j * k / beta)).real
        return (chi * (-alpha) * (1j * k / beta**2) / (1.0 - 1j * k / beta)).real
    if objective.code == ObjectiveCode.QUAD_FORM:
        w = _weights(problem)
        mean, _ = _mean_variance(problem)
        m = float(w @ mean)
        if parameter == "mu":
            return 2.0 * m * w
        if parameter == "sigma":
            return 2.0 * w * w * problem.value("sigma")
        alpha, beta = _alpha_beta(problem)
        if parameter == "alpha":
            return 2.0 * m * w / beta + w * w / beta**2
        return -2.0 * m * w * alpha / beta**2 - 2.0 * w * w * alpha / beta**3
    out = np.empty(problem.dims)
    for d in range(problem.dims):
        if problem.distribution == "gaussian":
            _, d_mu, d_sigma = _gaussian_1d(objective, problem.value("mu")[d], problem.value("sigma")[d])
            out[d] = d_mu if parameter == "mu" else d_sigma
        elif parameter == "alpha":
            alpha, beta = _alpha_beta(problem)
            out[d] = _gamma_shape_1d(objective, alpha[d], beta[d])
        else:
            alpha, beta = _alpha_beta(problem)
            out[d] = _gamma_1d(objective, alpha[d], beta[d])[1]
    return out


def _coordinate_expectations(problem: ContinuousProblem) -> np.ndarray:
    """Return E φ(x_d) per coordinate (separable objectives)."""
    if problem.distribution == "vonmises":
        from carms_cli.continuous import exact_vonmises

        return exact_vonmises.coordinate_expectations(problem)
    out = np.empty(problem.dims)
    for d in range(problem.dims):
        if problem.distribution == "gaussian":
            out[d] = _gaussian_1d(problem.objective, problem.value("mu")[d], problem.value("sigma")[d])[0]
        else:
            alpha, beta = _alpha_beta(problem)
            out[d] = _gamma_1d(problem.objective, alpha[d], beta[d])[0]
    return out


def exact_expectation(problem: ContinuousProblem) -> float:
    """Return E f(x) in closed form (``exp:k`` under Gamma by quadrature; ∞ is reported as NaN).

    Separable: Σ_d E φ(x_d); ``cos-sum``: Re Π_d χ_d(k); ``quad-form``: (Σ w_d E x_d)² + Σ w_d² Var x_d.
    """
    objective = problem.objective
    if objective.code == ObjectiveCode.COS_SUM:
        return float(np.prod(_characteristic(problem, objective.params[0])).real)
    if objective.code == ObjectiveCode.QUAD_FORM:
        w = _weights(problem)
        mean, variance = _mean_variance(problem)
        return float((w @ mean) ** 2 + (w * w) @ variance)
    return float(_coordinate_expectations(problem).sum())


def exact_gradient(problem: ContinuousProblem) -> np.ndarray:
    """Return ∂E f/∂θ for the reported coordinates, in ``problem.coordinate_names()`` order.

    Closed forms per objective and distribution (module docstring); ``log-sigma`` is σ·∂/∂σ.
    Entries where E f = ∞ (``exp:k`` with k < 0 beyond its range) are NaN.
    """
    parts = []
    for name in problem.parameters:
        if name == "log-sigma":
            parts.append(problem.value("sigma") * _base_gradient(problem, "sigma"))
        else:
            parts.append(_base_gradient(problem, name))
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# f as seen from coordinate d: the coordinate's part and the independent remainder
# ---------------------------------------------------------------------------------------------


def _moments_from_cumulants(cumulants: np.ndarray, order: int) -> np.ndarray:
    """Return central moments μ_0 … μ_order of a centred variable from its cumulants κ_2, κ_3, ….

    ``cumulants[j]`` is κ_j (entries 0 and 1 are ignored); μ_n = Σ_{j=2}^{n} C(n − 1, j − 1) κ_j μ_{n−j}.
    """
    mu = np.zeros(order + 1)
    mu[0] = 1.0
    for n in range(2, order + 1):
        mu[n] = sum(math.comb(n - 1, j - 1) * cumulants[j] * mu[n - j] for j in range(2, n + 1))
    return mu


def _poly_power_expectations(h: list, rmom: np.ndarray | None) -> np.ndarray:
    """Return E_r[(Σ_j h_j r^j)^m] for m = 1…4, shape (4, …), r centred with moments ``rmom``."""
    if rmom is None or len(h) == 1:
        base = h[0]
        return np.stack([base, base * base, base**3, base**4])
    out, power = [], [np.ones_like(h[0])]
    for _ in range(4):
        product = [np.zeros_like(h[0]) for _ in range(len(power) + len(h) - 1)]
        for i, a in enumerate(power):
            for j, b in enumerate(h):
                product[i + j] = product[i + j] + a * b
        power = product
        if len(power) > rmom.size:
            raise ValueError("the remainder's moments do not reach the needed order")
        out.append(sum(rmom[p] * term for p, term in enumerate(power) if rmom[p] != 0))
    return np.stack(out)


def _trig_power_expectations(z: np.ndarray, c: float, chi: np.ndarray) -> np.ndarray:
    """Return E_S[(Re(z e^{ikS}) − c)^m] for m = 1…4 from χ(l) = E e^{ilkS}, l = 0…4.

    (Re(z e) − c)^m = Σ_{a+b+g=m} m!/(a! b! g!) (z/2)^a (z̄/2)^b (−c)^g e^{ik(a−b)S}, χ(−l) = conj χ(l).
    """
    half, half_conj = 0.5 * z, 0.5 * np.conj(z)
    powers = [np.ones_like(z)]
    powers_conj = [np.ones_like(z)]
    for _ in range(4):
        powers.append(powers[-1] * half)
        powers_conj.append(powers_conj[-1] * half_conj)
    out = []
    for m in range(1, 5):
        total = np.zeros(z.shape, dtype=complex)
        for a in range(m + 1):
            for b in range(m + 1 - a):
                g = m - a - b
                ways = math.factorial(m) / (math.factorial(a) * math.factorial(b) * math.factorial(g))
                coefficient = ways * (-c) ** g
                shift = a - b
                char = chi[shift] if shift >= 0 else np.conj(chi[-shift])
                total = total + coefficient * char * powers[a] * powers_conj[b]
        out.append(total.real)
    return np.stack(out)


@dataclass(frozen=True, eq=False)
class Part:
    """The objective seen from coordinate d: f as a function of x_d and an independent remainder.

    ``sep``: f = φ(x_d) + const + r (r = R − E R; ``rmom`` None where R is irrelevant or D = 1);
    ``quad``: f = (const + w x_d + r)², r = Σ_{e≠d} w_e(x_e − E x_e); ``trig``: f = Re(e^{ikx_d} e^{ikS}),
    ``chi[l]`` = E e^{ilkS}. ``rmom[p]`` is E r^p.

    Every method returns a pair (representation, size): the representation of a term t as
    coefficients h_j with t = Σ_j h_j r^j, or as z with t = Re(z e^{ikS}); size is the magnitude of
    the summands that h_0 (or z) was computed from, so that ε·size is the scale of its rounding.
    """

    kind: str
    objective: Objective
    const: float = 0.0
    weight: float = 1.0
    rmom: np.ndarray | None = None
    chi: np.ndarray | None = None

    @property
    def key(self) -> tuple:
        """A hashable summary (for caching per coordinate)."""
        return (
            self.kind,
            self.const,
            self.weight,
            None if self.rmom is None else tuple(self.rmom),
            None if self.chi is None else tuple(self.chi),
        )

    def value(self, x, log_x=None):
        """Return f."""
        if self.kind == "sep":
            phi = _phi(self.objective, x, log_x)
            size = _phi_size(self.objective, x, log_x)
            if self.rmom is None:
                return [phi], size
            return [phi + self.const, np.ones_like(phi)], size + abs(self.const)
        if self.kind == "quad":
            y = self.const + self.weight * x
            return [y * y, 2.0 * y, np.ones_like(y)], (abs(self.const) + np.abs(self.weight * x)) ** 2
        z = np.exp(1j * self.objective.params[0] * x)
        return z, _phi_size(Objective("cos", ObjectiveCode.COS, self.objective.params, ""), x)

    def slope(self, x, factor):
        """Return ∂f/∂x_d · factor."""
        if self.kind == "sep":
            return [self.objective.phi(x, 1) * factor], _phi_size(self.objective, x, None, 1) * np.abs(factor)
        if self.kind == "quad":
            w = self.weight
            size = 2.0 * abs(w) * (abs(self.const) + np.abs(w * x)) * np.abs(factor)
            return [2.0 * w * (self.const + w * x) * factor, 2.0 * w * factor], size
        k = self.objective.params[0]
        return 1j * k * np.exp(1j * k * x) * factor, abs(k) * (1.0 + np.abs(k * x)) * np.abs(factor)

    def rate_slope(self, x, beta: float):
        """Return −x ∂f/∂x_d / β (the pathwise term of a rate)."""
        if self.kind == "sep":
            if self.objective.code == ObjectiveCode.LOG:
                return [np.full_like(x, -1.0 / beta)], np.full_like(x, 1.0 / beta)
            return [-_x_dphi(self.objective, x) / beta], np.abs(x * _phi_size(self.objective, x, None, 1)) / beta
        return self.slope(x, -x / beta)

    def difference(self, xp, log_xp, xm, log_xm):
        """Return f(x⁺) − f(x⁻) (x⁺, x⁻ differing in coordinate d only)."""
        if self.kind == "sep":
            plus, minus = _phi(self.objective, xp, log_xp), _phi(self.objective, xm, log_xm)
            return [plus - minus], _phi_size(self.objective, xp, log_xp) + _phi_size(self.objective, xm, log_xm)
        if self.kind == "quad":
            w, delta = self.weight, xp - xm
            reach = np.abs(xp) + np.abs(xm)
            size = abs(w) * reach * (2.0 * abs(self.const) + abs(w) * reach)
            return [w * delta * (2.0 * self.const + w * (xp + xm)), 2.0 * w * delta], size
        k = self.objective.params[0]
        return np.exp(1j * k * xp) - np.exp(1j * k * xm), 2.0 + np.abs(k * xp) + np.abs(k * xm)

    def moments(self, term, c: float):
        """Return E[(t − c)^m | ξ], m = 1…4 (shape (4, …)), and the scale of their rounding.

        With ν = 4ε(size + |c|) the rounding of t − c and A = E[(t − c)² | ξ]^{1/2}, the m-th
        moment carries about m·ν·(A + ν)^{m−1}.
        """
        rep, size = term
        if self.kind == "trig":
            values = _trig_power_expectations(rep, c, self.chi)
        else:
            values = _poly_power_expectations([rep[0] - c, *rep[1:]], self.rmom)
        return values, _power_noise(values, 4.0 * np.finfo(float).eps * (size + abs(c)))


def _power_noise(values: np.ndarray, nu):
    """Return m·ν·(A + ν)^{m−1}, m = 1…4, with A = values[1]^{1/2}: the rounding of E[(t − c)^m]."""
    spread = np.sqrt(np.maximum(values[1], 0.0)) + nu
    return np.stack([nu + 0.0 * spread, 2.0 * nu * spread, 3.0 * nu * spread**2, 4.0 * nu * spread**3])


def _scaled(term, factor):
    """Multiply a term (representation, size) by ``factor``."""
    rep, size = term
    scaled = [h * factor for h in rep] if isinstance(rep, list) else rep * factor
    return scaled, size * np.abs(factor)


def _weighted(pair, weight):
    """Multiply (values, noise) by a density."""
    return pair[0] * weight, pair[1] * weight


def _coordinate_law(problem: ContinuousProblem, d: int, shape_shift: int = 0) -> Law:
    if problem.distribution == "vonmises":
        from carms_cli.continuous import exact_vonmises

        return exact_vonmises.coordinate_law(problem, d)
    if problem.distribution == "gaussian":
        return Law("normal", float(problem.value("mu")[d]), float(problem.value("sigma")[d]))
    alpha, beta = _alpha_beta(problem)
    return Law("gamma", float(alpha[d]) + shape_shift, float(beta[d]))


def _central_1d(law: Law, function, features) -> np.ndarray:
    """Return E g and the central moments μ_2, μ_3, μ_4 of g(x), x ~ ``law`` (two passes of quadrature).

    ``function(x, log_x)`` returns g and the magnitude its rounding scales with.
    """
    edges = law.edges(features)[None, :]

    def first(u, owner):
        x, log_x = law.point(u)
        g, size = function(x, log_x)
        w = law.weight(u)
        return (g * w)[None], (4.0 * np.finfo(float).eps * size * w)[None]

    mean_values, _, ok_mean = integrate(first, edges)
    mean = float(mean_values[0, 0])

    def central(u, owner):
        x, log_x = law.point(u)
        g, size = function(x, log_x)
        g = g - mean
        values = np.stack([g, g * g, g**3, g**4])
        return _weighted((values, _power_noise(values, 4.0 * np.finfo(float).eps * (size + abs(mean)))), law.weight(u))

    values, _, ok = integrate(central, edges)
    if not (ok_mean and ok) or not np.all(np.isfinite(values)):
        raise NotComputable("the quadrature of a one-dimensional moment did not converge")
    delta, m2, m3, m4 = values[:, 0]
    mu2 = m2 - delta**2
    mu3 = m3 - 3.0 * delta * m2 + 2.0 * delta**3
    mu4 = m4 - 4.0 * delta * m3 + 6.0 * delta**2 * m2 - 3.0 * delta**4
    return np.array([mean + delta, mu2, mu3, mu4])


class _Context:
    """Per-problem quantities shared by the coordinates (cached central moments of φ(x_e))."""

    def __init__(self, problem: ContinuousProblem):
        self.problem = problem
        self.objective = problem.objective
        self._phi_moments: dict = {}
        self.gradients = {}

    def phi_moments(self, e: int) -> np.ndarray:
        """Return E φ(x_e), μ_2, μ_3, μ_4 of φ(x_e) (separable objectives)."""
        law = _coordinate_law(self.problem, e)
        key = (law.kind, law.a, law.b)
        if key not in self._phi_moments:
            objective = self.objective
            self._phi_moments[key] = _central_1d(
                law, lambda x, log_x: (_phi(objective, x, log_x), _phi_size(objective, x, log_x)), _features(objective)
            )
        return self._phi_moments[key]

    def part(self, d: int, needs_rest: bool) -> Part:
        """Return f seen from coordinate d (the remainder's moments only when ``needs_rest``)."""
        problem, objective = self.problem, self.objective
        others = [e for e in range(problem.dims) if e != d]
        if objective.code == ObjectiveCode.COS_SUM:
            k = objective.params[0]
            chi = np.array([np.prod(_characteristic(problem, j * k)[others]) for j in range(5)])
            return Part("trig", objective, chi=chi)
        if objective.code == ObjectiveCode.QUAD_FORM:
            w = _weights(problem)
            mean, _ = _mean_variance(problem)
            cumulants = np.zeros(9)
            if problem.distribution == "gaussian":
                cumulants[2] = float(np.sum(w[others] ** 2 * problem.value("sigma")[others] ** 2))
            else:
                alpha, beta = _alpha_beta(problem)
                for j in range(2, 9):
                    cumulants[j] = float(
                        np.sum(w[others] ** j * alpha[others] * math.factorial(j - 1) / beta[others] ** j)
                    )
            rmom = _moments_from_cumulants(cumulants, 8)
            return Part("quad", objective, const=float(w[others] @ mean[others]), weight=float(w[d]), rmom=rmom)
        if not needs_rest or not others:
            return Part("sep", objective)
        stats = np.array([self.phi_moments(e) for e in others])
        cumulants = np.zeros(5)
        cumulants[2] = stats[:, 1].sum()
        cumulants[3] = stats[:, 2].sum()
        cumulants[4] = (stats[:, 3] - 3.0 * stats[:, 1] ** 2).sum()
        return Part("sep", objective, const=float(stats[:, 0].sum()), rmom=_moments_from_cumulants(cumulants, 4))


# ---------------------------------------------------------------------------------------------
# Per-sample terms: E[(t − c)^m], m = 1…4, by 1-D or nested 2-D quadrature
# ---------------------------------------------------------------------------------------------


def _one_dimensional(law: Law, features, conditional, rel: float = REL_TOL, lower: float | None = None) -> np.ndarray:
    """Return ∫ conditional(u, x, log x) dP(u), shape (C,), over u ≥ ``lower`` when given."""

    def integrand(u, owner):
        x, log_x = law.point(u)
        return _weighted(conditional(u, x, log_x), law.weight(u))

    edges = law.edges(features)
    if lower is not None and lower > edges[0]:
        edges = np.unique(np.concatenate([[lower], edges[edges > lower]]))
    values, _, ok = integrate(integrand, edges[None, :], rel)
    if not ok or not np.all(np.isfinite(values)):
        raise NotComputable("the quadrature did not converge to the target accuracy")
    return values[:, 0]


def _padded_edges(base: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Return rows = base breakpoints plus each row's extra points (NaN: none), sorted."""
    extra = np.where(np.isfinite(extra) & (extra > base[0]) & (extra < base[-1]), extra, base[0])
    return np.sort(np.concatenate([np.broadcast_to(base, (extra.shape[0], base.size)), extra], axis=1), axis=1)


def _nested(outer: Law, outer_features, inner_edges, inner_conditional) -> np.ndarray:
    """Return ∫∫ inner_conditional dP(inner | outer) dP(outer), shape (C,).

    ``inner_edges(x_o, log_x_o)`` gives the inner breakpoints per outer node (B, E);
    ``inner_conditional(v, x_o, log_x_o)`` the inner integrand times the inner density, with the
    outer values broadcast to ``v``'s shape.
    """
    failed = []

    def outer_integrand(u, owner):
        x_o, log_x_o = outer.point(u)
        flat_x = x_o.ravel()
        flat_log = None if log_x_o is None else log_x_o.ravel()

        def inner_integrand(v, inner_owner):
            xo = flat_x[inner_owner][:, None]
            lo = None if flat_log is None else flat_log[inner_owner][:, None]
            return inner_conditional(v, xo, lo)

        weight = outer.weight(u)
        half = (u[:, -1] - u[:, 0]) / (XGK[-1] - XGK[0])
        row_weights = (weight * WGK * half[:, None]).ravel()
        values, bound, ok = integrate(inner_integrand, inner_edges(flat_x, flat_log), REL_TOL, row_weights)
        if not ok:
            failed.append(True)
        shape = (values.shape[0],) + u.shape
        return values.reshape(shape) * weight, bound.reshape(shape) * weight

    values, _, ok = integrate(outer_integrand, outer.edges(outer_features)[None, :], OUTER_REL_TOL)
    if failed or not ok or not np.all(np.isfinite(values)):
        raise NotComputable("the nested quadrature did not converge to the target accuracy")
    return values[:, 0]


def _gaussian_terms(ctx: _Context, code: EstimatorCode, base: str, d: int, c: float, part: Part) -> np.ndarray:
    """Return E[(t − c)^m], m = 1…4, for a Gaussian coordinate d and θ = μ or σ."""
    mu, sigma = float(ctx.problem.value("mu")[d]), float(ctx.problem.value("sigma")[d])
    features = _features(ctx.objective)
    law = Law("normal", mu, sigma)
    if code == EstimatorCode.PATHWISE:
        return _one_dimensional(
            law, features, lambda u, x, _: part.moments(part.slope(x, 1.0 if base == "mu" else u), c)
        )
    if code == EstimatorCode.SCORE:

        def score(u, x, _):
            s = u / sigma if base == "mu" else (u * u - 1.0) / sigma
            return part.moments(_scaled(part.value(x), s), c)

        return _one_dimensional(law, features, score)
    if code == EstimatorCode.MVD and base == "mu":
        scale = 1.0 / (sigma * _SQRT_2PI)
        rayleigh = Law("rayleigh", mu, sigma)
        mirrored = features + [2.0 * mu - f for f in features]
        return _one_dimensional(
            rayleigh,
            mirrored,
            lambda u, x, _: part.moments(_scaled(part.difference(x, None, mu - sigma * u, None), scale), c),
        )
    if code == EstimatorCode.MVD:  # σ, coupled: x⁺ = μ + σM, x⁻ = μ + σMU
        maxwell = Law("maxwell", mu, sigma)
        points = np.array(features, dtype=float)

        def inner_edges(x_plus, _):
            if not points.size:
                return np.broadcast_to(np.array([0.0, 1.0]), (x_plus.size, 2))
            with np.errstate(divide="ignore", invalid="ignore"):
                extra = (points[None, :] - mu) / (x_plus[:, None] - mu)
            return _padded_edges(np.array([0.0, 1.0]), extra)

        def inner(v, x_plus, _):
            x_minus = mu + (x_plus - mu) * v
            return part.moments(_scaled(part.difference(x_plus, None, x_minus, None), 1.0 / sigma), c)

        return _nested(maxwell, features, inner_edges, inner)
    plus, minus = _uncoupled_laws(ctx, base, d)
    return _uncoupled(plus, minus, 1.0 / (sigma * _SQRT_2PI) if base == "mu" else 1.0 / sigma, c, part, features)


def _uncoupled_laws(ctx: _Context, base: str, d: int) -> tuple[Law, Law]:
    """Return the laws of x⁺ and x⁻ of the uncoupled MVD (independent)."""
    if base == "rate":
        return _coordinate_law(ctx.problem, d), _coordinate_law(ctx.problem, d, shape_shift=1)
    mu, sigma = float(ctx.problem.value("mu")[d]), float(ctx.problem.value("sigma")[d])
    if base == "mu":
        return Law("rayleigh", mu, sigma), Law("rayleigh", mu, -sigma)
    return Law("maxwell", mu, sigma), Law("normal", mu, sigma)


def _uncoupled(plus: Law, minus: Law, scale: float, c: float, part: Part, features) -> np.ndarray:
    """Return E[(t − c)^m] of t = scale·(f(x⁺) − f(x⁻)) with x⁺ ~ ``plus``, x⁻ ~ ``minus`` independent.

    Separable f: from the central moments of φ(x⁺) and φ(x⁻) — t − E t = scale(P − N) with P, N
    centred and independent, so μ₂ = scale²(μ₂P + μ₂N), μ₃ = scale³(μ₃P − μ₃N),
    μ₄ = scale⁴(μ₄P + 6μ₂Pμ₂N + μ₄N); otherwise nested quadrature over (x⁺, x⁻).
    """
    if part.kind == "sep":
        objective = part.objective

        def phi(x, log_x):
            return _phi(objective, x, log_x), _phi_size(objective, x, log_x)

        p = _central_1d(plus, phi, features)
        n = _central_1d(minus, phi, features)
        delta = scale * (p[0] - n[0]) - c
        mu2 = scale**2 * (p[1] + n[1])
        mu3 = scale**3 * (p[2] - n[2])
        mu4 = scale**4 * (p[3] + 6.0 * p[1] * n[1] + n[3])
        # raw moments about c from the central ones
        return np.array(
            [
                delta,
                mu2 + delta**2,
                mu3 + 3.0 * delta * mu2 + delta**3,
                mu4 + 4.0 * delta * mu3 + 6.0 * delta**2 * mu2 + delta**4,
            ]
        )
    inner_base = minus.edges(features)

    def inner_edges(x_plus, _):
        return np.broadcast_to(inner_base, (x_plus.size, inner_base.size))

    def inner(v, x_plus, log_plus):
        x_minus, log_minus = minus.point(v)
        rep = part.difference(x_plus, log_plus, x_minus, log_minus)
        return _weighted(part.moments(_scaled(rep, scale), c), minus.weight(v))

    return _nested(plus, features, inner_edges, inner)


def _rate_terms(ctx: _Context, code: EstimatorCode, d: int, c: float, part: Part) -> np.ndarray:
    """Return E[(t − c)^m], m = 1…4, for the rate β of a Gamma (or Exponential) coordinate d."""
    alpha_all, beta_all = _alpha_beta(ctx.problem)
    alpha, beta = float(alpha_all[d]), float(beta_all[d])
    features = _features(ctx.objective)
    law = Law("gamma", alpha, beta)
    if code == EstimatorCode.PATHWISE:
        return _one_dimensional(law, features, lambda u, x, _: part.moments(part.rate_slope(x, beta), c))
    if code == EstimatorCode.SCORE:
        return _one_dimensional(
            law, features, lambda u, x, log_x: part.moments(_scaled(part.value(x, log_x), alpha / beta - x), c)
        )
    scale = alpha / beta
    if code == EstimatorCode.MVD_UNCOUPLED:
        plus, minus = _uncoupled_laws(ctx, "rate", d)
        return _uncoupled(plus, minus, scale, c, part, features)
    # coupled: x⁻ ~ Gamma(α + 1, β), x⁺ = x⁻ e^{−y}, y ~ Exp(rate α)
    outer = Law("gamma", alpha + 1.0, beta)
    y_cut = GAMMA_CUT / alpha
    powers = 2.0 ** np.arange(-1, 12, 2)
    base = np.unique(np.clip(np.concatenate([[0.0, y_cut], powers[:4], powers / alpha]), 0.0, y_cut))
    points = np.array([f for f in features if f > 0], dtype=float)

    def inner_edges(x_minus, log_minus):
        if not points.size:
            return np.broadcast_to(base, (x_minus.size, base.size))
        return _padded_edges(base, log_minus[:, None] - np.log(points)[None, :])

    def inner(y, x_minus, log_minus):
        log_plus = log_minus - y
        rep = part.difference(np.exp(log_plus), log_plus, x_minus, log_minus)
        return _weighted(part.moments(_scaled(rep, scale), c), alpha * np.exp(-alpha * y))

    return _nested(outer, features, inner_edges, inner)


#: Least log x̃ (x̃ = βx) of the Gamma shape's implicit quadrature (see the module docstring).
SHAPE_LOG_FLOOR = -700.0


def _shape_terms(ctx: _Context, code: EstimatorCode, d: int, c: float, part: Part) -> np.ndarray:
    """Return E[(t − c)^m], m = 1…4, for the shape α of a Gamma coordinate d (``implicit`` or ``score``)."""
    alpha_all, beta_all = _alpha_beta(ctx.problem)
    alpha, beta = float(alpha_all[d]), float(beta_all[d])
    features = _features(ctx.objective)
    law = Law("gamma", alpha, beta)
    if code == EstimatorCode.SCORE:
        score = _score_function(ctx.problem, "alpha", d)
        return _one_dimensional(
            law, features, lambda u, x, log_x: part.moments(_scaled(part.value(x, log_x), score(u, x)), c)
        )
    # x̃ = βx = α e^u ≥ e^{SHAPE_LOG_FLOOR} and x ≥ e^{SHAPE_LOG_FLOOR}
    lower = SHAPE_LOG_FLOOR - math.log(alpha) + max(0.0, math.log(beta))

    def implicit(u, x, _):
        return part.moments(part.slope(x, _shape_derivative(alpha, alpha * np.exp(u)) / beta), c)

    return _one_dimensional(law, features, implicit, lower=lower)


# ---------------------------------------------------------------------------------------------
# score-loo: a U-statistic of order 2
# ---------------------------------------------------------------------------------------------


def loo_variance(n: int, m11, m20, m02, m22):
    """Return Var g of the leave-one-out score estimate of n samples from single-sample moments.

    Parameters
    ----------
    n : int
        Samples per estimate (n ≥ 2).
    m11, m20, m02, m22 : float or np.ndarray
        M_ab = E[f̃^a s^b] with f̃ = f − E f and s the score of the coordinate.

    Returns
    -------
    float or np.ndarray
        g = (1/n) Σ_i (f_i − mean_{j≠i} f_j) s_i = (2/(n(n − 1))) Σ_{i<j} h(x_i, x_j) with
        h(x, y) = ½(f(x) − f(y))(s(x) − s(y)). Hoeffding: Var g = (2/(n(n − 1)))(2(n − 2)ζ₁ + ζ₂),
        ζ₁ = Var E[h | x] = Var(½(f̃(x)s(x) + M₁₁)) = ¼(M₂₂ − M₁₁²) and ζ₂ = Var h = E h² − M₁₁²,
        E h² = ¼ E[(a − b)²(c − d)²] = ½(M₂₂ + M₂₀M₀₂) + M₁₁² (a, b = f̃ and c, d = s at two
        independent points, E f̃ = E s = 0), so ζ₂ = ½(M₂₂ + M₂₀M₀₂).
    """
    zeta1 = 0.25 * (m22 - m11 * m11)
    zeta2 = 0.5 * (m22 + m20 * m02)
    return 2.0 / (n * (n - 1)) * (2.0 * (n - 2) * zeta1 + zeta2)


def _loo_statistics(ctx: _Context, base: str, d: int, mean_f: float, part: Part) -> np.ndarray:
    """Return M₁₁, M₂₀, M₀₂, M₂₂ (M_ab = E[(f − E f)^a s^b]) for coordinate d."""
    problem = ctx.problem
    law = _coordinate_law(problem, d)
    score = _score_function(problem, base, d)

    def conditional(u, x, log_x):
        s = score(u, x)
        g, noise = part.moments(part.value(x, log_x), mean_f)
        s2 = s * s
        values = np.stack([g[0] * s, g[1], s2, g[1] * s2])
        return values, np.stack([noise[0] * np.abs(s), noise[1], 0.0 * s2, noise[1] * s2])

    return _one_dimensional(law, _features(ctx.objective), conditional)


def _score_function(problem: ContinuousProblem, base: str, d: int):
    """Return s(u, x), the score of coordinate d's base parameter on its law's variable u (or x)."""
    if problem.distribution == "vonmises":
        from carms_cli.continuous import exact_vonmises

        return exact_vonmises.score_function(problem, base, d)
    if problem.distribution == "gaussian":
        sigma = float(problem.value("sigma")[d])

        def score(u, x):
            return u / sigma if base == "mu" else (u * u - 1.0) / sigma

        return score
    alpha_all, beta_all = _alpha_beta(problem)
    alpha, beta = float(alpha_all[d]), float(beta_all[d])
    if base == "alpha":
        offset = math.log(alpha) - float(special.digamma(alpha))

        def shape_score(u, x):
            return u + offset  # log(βx) − ψ(α), with βx = α e^u

        return shape_score

    def score(u, x):
        return alpha / beta - x

    return score


def _baseline_statistics(ctx: _Context, base: str, d: int, baseline: float | None, part: Part) -> np.ndarray:
    """Return E[(f − b)^m s^m], m = 1…4, for coordinate d, or (baseline None) E[f s²] and E[s²].

    Given x_d, s is fixed and only the other coordinates vary, so E[((f − b)s)^m | x_d] =
    s^m E[(f − b)^m | x_d] (:meth:`Part.moments`); the outer integral is over x_d.
    """
    problem = ctx.problem
    law = _coordinate_law(problem, d)
    score = _score_function(problem, base, d)

    def conditional(u, x, log_x):
        s = score(u, x)
        g, noise = part.moments(part.value(x, log_x), 0.0 if baseline is None else baseline)
        if baseline is None:
            s2 = s * s
            return np.stack([g[0] * s2, s2]), np.stack([noise[0] * s2, 0.0 * s2])
        powers = np.stack([s, s * s, s**3, s**4])
        return g * powers, noise * np.abs(powers)

    return _one_dimensional(law, _features(ctx.objective), conditional)


def optimal_baseline(problem: ContinuousProblem) -> np.ndarray:
    """Return the optimal constant baseline b = E[f s²]/E[s²] of each reported coordinate.

    It minimises the variance of the score term (f − b)·s, since E[(f − b)² s²] is a quadratic in
    b (and E[s] = 0 keeps every b unbiased); computed by quadrature over the coordinate (the
    other coordinates through their exact moments). For ``log-sigma`` the score is σ·s_σ, which
    leaves b unchanged.
    """
    reason = _moment_reason(problem)
    if reason is not None:
        raise NotComputable(reason)
    ctx = _Context(problem)
    values = []
    for name in problem.parameters:
        base = _base(name)
        for d in range(problem.dims):
            with np.errstate(all="ignore"):
                part = ctx.part(d, needs_rest=True)
                f_s2, s2 = _baseline_statistics(ctx, base, d, None, part)
            values.append(f_s2 / s2)
    return np.array(values)


def _baseline_moments(problem: ContinuousProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return E t, Var t and μ₄ of the ``score-baseline`` term t = (f − b)·s per coordinate."""
    reason = _moment_reason(problem)
    if reason is not None:
        raise NotComputable(reason)
    baseline = optimal_baseline(problem)
    ctx = _Context(problem)
    means, variances, fourths = [], [], []
    index = 0
    for name in problem.parameters:
        base, factor = _base(name), _factor(problem, name)
        for d in range(problem.dims):
            with np.errstate(all="ignore"):
                part = ctx.part(d, needs_rest=True)
                m1, m2, m3, m4 = _baseline_statistics(ctx, base, d, float(baseline[index]), part)
            index += 1
            mu2 = max(m2 - m1 * m1, 0.0)
            mu4 = max(m4 - 4.0 * m1 * m3 + 6.0 * m1 * m1 * m2 - 3.0 * m1**4, 0.0)
            f = float(factor[d])
            means.append(m1 * f)
            variances.append(mu2 * f * f)
            fourths.append(mu4 * f**4)
    return np.array(means), np.array(variances), np.array(fourths)


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def _moment_reason(problem: ContinuousProblem) -> str | None:
    """Why no moment of the objective is computed here (None: they are)."""
    objective = problem.objective
    if objective.code == ObjectiveCode.EXP and objective.params[0] < 0:
        return f"{objective.spec} grows like e^(|k|x²): its moments are not computed by quadrature"
    if objective.code == ObjectiveCode.LAPLACE and objective.params[0] < 0 and problem.distribution != "gaussian":
        return f"{objective.spec} grows like e^(|t|x): its moments under a Gamma are not computed by quadrature"
    return None


def _base(name: str) -> str:
    return "sigma" if name == "log-sigma" else name


def _factor(problem: ContinuousProblem, name: str) -> np.ndarray:
    """Return the factor of the reported coordinate over its base parameter (σ for log-sigma)."""
    return problem.value("sigma") if name == "log-sigma" else np.ones(problem.dims)


def sample_moments(problem: ContinuousProblem, estimator_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return E t, Var t and the fourth central moment μ₄ of one per-sample term t, per coordinate.

    For ``pathwise``, ``implicit``, ``score``, ``mvd`` and ``mvd-uncoupled`` (an estimate is the mean of n iid
    terms). Raises :class:`NotComputable` (with the reason) for the others or when quadrature fails.
    """
    spec = ESTIMATORS[estimator_name]
    iid = (EstimatorCode.PATHWISE, EstimatorCode.IMPLICIT, EstimatorCode.SCORE, EstimatorCode.MVD)
    iid += (EstimatorCode.MVD_UNCOUPLED,)
    if spec.code not in iid:
        raise NotComputable(f"{estimator_name} is not a mean of iid per-sample terms")
    reason = _moment_reason(problem)
    if reason is not None:
        raise NotComputable(reason)
    gradient = exact_gradient(problem)
    if not np.all(np.isfinite(gradient)):
        raise NotComputable("E f is infinite")
    ctx = _Context(problem)
    memo: dict = {}
    means, variances, fourths = [], [], []
    index = 0
    for name in problem.parameters:
        base, factor = _base(name), _factor(problem, name)
        for d in range(problem.dims):
            c = gradient[index] / factor[d]
            index += 1
            with np.errstate(all="ignore"):
                part = ctx.part(d, needs_rest=spec.code == EstimatorCode.SCORE)
            law = _coordinate_law(problem, d)
            key = (spec.code, base, law.kind, law.a, law.b, c, part.key)
            if key not in memo:
                with np.errstate(all="ignore"):  # underflowed weights times infinite φ are checked below
                    if problem.distribution == "vonmises":
                        from carms_cli.continuous import exact_vonmises

                        memo[key] = exact_vonmises.terms(ctx, spec.code, base, d, c, part, _one_dimensional, _scaled)
                    elif problem.distribution == "gaussian":
                        memo[key] = _gaussian_terms(ctx, spec.code, base, d, c, part)
                    elif base == "alpha":
                        memo[key] = _shape_terms(ctx, spec.code, d, c, part)
                    else:
                        memo[key] = _rate_terms(ctx, spec.code, d, c, part)
            delta, m2, m3, m4 = memo[key]
            mu2 = max(m2 - delta**2, 0.0)
            mu4 = max(m4 - 4.0 * delta * m3 + 6.0 * delta**2 * m2 - 3.0 * delta**4, 0.0)
            means.append((c + delta) * factor[d])
            variances.append(mu2 * factor[d] ** 2)
            fourths.append(mu4 * factor[d] ** 4)
    return np.array(means), np.array(variances), np.array(fourths)


def loo_statistics(problem: ContinuousProblem) -> np.ndarray:
    """Return M₁₁, M₂₀, M₀₂, M₂₂ per reported coordinate (shape (4, P)) for ``score-loo``.

    M_ab = E[(f − E f)^a s^b] with s the score of the coordinate's parameter (σ s for log-sigma).
    """
    reason = _moment_reason(problem)
    if reason is not None:
        raise NotComputable(reason)
    mean_f = exact_expectation(problem)
    if not math.isfinite(mean_f):
        raise NotComputable("E f is infinite")
    ctx = _Context(problem)
    memo: dict = {}
    columns = []
    for name in problem.parameters:
        base, factor = _base(name), _factor(problem, name)
        for d in range(problem.dims):
            with np.errstate(all="ignore"):
                part = ctx.part(d, needs_rest=True)
            law = _coordinate_law(problem, d)
            key = (base, law.kind, law.a, law.b, part.key)
            if key not in memo:
                with np.errstate(all="ignore"):
                    memo[key] = _loo_statistics(ctx, base, d, mean_f, part)
            m11, m20, m02, m22 = memo[key]
            f = factor[d]
            columns.append([m11 * f, m20, m02 * f * f, m22 * f * f])
    return np.array(columns).T


def exact_moments(problem: ContinuousProblem, estimator_name: str) -> ExactMoments | str:
    """Return the exact mean, variance and fourth central moment of one n-sample estimate.

    Parameters
    ----------
    problem : ContinuousProblem
        The problem (its ``samples`` is n).
    estimator_name : str
        A name in :data:`carms_cli.continuous.registry.ESTIMATORS`.

    Returns
    -------
    ExactMoments or str
        Arrays of shape (P,) in ``problem.coordinate_names()`` order, or a one-line reason. For
        the mean of n iid terms t: mean E t, variance Var t/n, fourth central moment
        (μ₄ + 3(n − 1)(Var t)²)/n³. For ``score-loo``: mean M₁₁ and the U-statistic variance
        :func:`loo_variance`; its fourth central moment is NaN (not computed).
    """
    spec = applicable(estimator_name, problem)
    if isinstance(spec, str):
        return spec
    if spec.code in (EstimatorCode.SCORE_DELTA, EstimatorCode.PATHWISE_DELTA):
        return DELTA_REASON
    n = problem.samples
    try:
        if spec.code == EstimatorCode.SCORE_LOO:
            m11, m20, m02, m22 = loo_statistics(problem)
            return ExactMoments(m11, loo_variance(n, m11, m20, m02, m22), np.full(m11.shape, np.nan))
        if spec.code == EstimatorCode.SCORE_BASELINE:
            mean, variance, fourth = _baseline_moments(problem)
        else:
            mean, variance, fourth = sample_moments(problem, estimator_name)
    except NotComputable as error:
        return str(error)
    return ExactMoments(mean, variance / n, (fourth + 3.0 * (n - 1) * variance**2) / n**3)
