"""Exact ground truth under von Mises(μ, κ): closed-form gradients and the law the quadrature integrates over.

x = μ + ε, ε ~ vM(0, κ) with density q(ε) = e^{κ cos ε}/(2π I₀(κ)) on [−π, π]. Only 2π-periodic
objectives are accepted (:mod:`carms_cli.continuous.problem`), all built from e^{ikx} with an
integer k, so everything follows from the characteristic function at integers m,

    χ(m) = E e^{imx} = e^{imμ} A_|m|(κ),    A_m(κ) = I_m(κ)/I₀(κ),

and from ∂A_m/∂κ = (A_{m−1} + A_{m+1})/2 − A_m A_1 (I_m′ = (I_{m−1} + I_{m+1})/2; for m = 1 with
A₂ = 1 − 2A₁/κ this is 1 − A/κ − A², A = A₁):

* ``cos:k`` — E = A_m cos(kμ), ∂μ = −k A_m sin(kμ), ∂κ = A_m′ cos(kμ)  (m = |k|);
* ``sin:k`` — E = A_m sin(kμ), ∂μ = k A_m cos(kμ), ∂κ = A_m′ sin(kμ);
* ``cos-sum:k`` — E = Re Π_d χ_d(k), ∂μ_d = Re(ik Π_d χ_d), ∂κ_d = Re(e^{ikμ_d} A_m′(κ_d) Π_{e≠d} χ_e(k)).

A_m is formed from exponentially scaled Bessel functions (``ive``), so no overflow at any κ. For
large κ, A_m′ ≈ m²/(2κ²) is a difference of numbers near 1 that loses about 2·log₁₀ κ digits, so it
is evaluated in mpmath at 30 + 2·log₁₀ κ digits and then rounded (exact to float64 at every κ).

Moments of the per-sample terms are the shared 1-D quadrature of :mod:`carms_cli.continuous.exact`
over ε on [−π, π] with the weight q(ε) (:class:`VonMisesLaw`): pathwise and implicit μ, t = f′(x)
(∂x/∂μ = 1); implicit κ, t = f′(x)·∂ε/∂κ with the compiled derivative of
:mod:`carms_cli.continuous.kernels.vonmises` at every node; score, t = f(x)·s with s_μ = κ sin ε,
s_κ = cos ε − A(κ); the other coordinates enter through their exact moments as for the Gaussian.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from carms_cli.continuous.codes import EstimatorCode, ObjectiveCode


def mean_resultant(order: int, kappa) -> np.ndarray:
    """Return A_m(κ) = I_m(κ)/I₀(κ) (elementwise in κ; m = |order|)."""
    kappa = np.asarray(kappa, dtype=float)
    return special.ive(abs(order), kappa) / special.i0e(kappa)


def mean_resultant_slope(order: int, kappa) -> np.ndarray:
    """Return ∂A_m/∂κ = (A_{m−1} + A_{m+1})/2 − A_m A_1 (0 for m = 0), by mpmath (see the module docstring)."""
    import mpmath

    kappa = np.asarray(kappa, dtype=float)
    m = abs(order)
    out = np.zeros(kappa.shape)
    if m == 0:
        return out
    for index, value in np.ndenumerate(kappa):
        with mpmath.workdps(30 + 2 * max(0, math.ceil(math.log10(value)))):
            k = mpmath.mpf(value)
            i0 = mpmath.besseli(0, k)
            ratio = [mpmath.besseli(j, k) / i0 for j in (m - 1, m, m + 1)]
            out[index] = float((ratio[0] + ratio[2]) / 2 - ratio[1] * mpmath.besseli(1, k) / i0)
    return out


def _order(objective) -> int:
    return int(round(float(objective.params[0])))


def characteristic(problem, t: float) -> np.ndarray:
    """Return E e^{itx_d} per coordinate for an integer t: e^{itμ_d} A_|t|(κ_d)."""
    m = int(round(t))
    return np.exp(1j * m * problem.value("mu")) * mean_resultant(m, problem.value("kappa"))


def _characteristic_slope(problem, t: float) -> np.ndarray:
    """Return ∂κ_d E e^{itx_d} = e^{itμ_d} A′_|t|(κ_d) per coordinate."""
    m = int(round(t))
    return np.exp(1j * m * problem.value("mu")) * mean_resultant_slope(m, problem.value("kappa"))


def coordinate_expectations(problem) -> np.ndarray:
    """Return E φ(x_d) per coordinate for ``cos:k`` (Re χ(k)) and ``sin:k`` (Im χ(k))."""
    objective = problem.objective
    chi = characteristic(problem, _order(objective))
    return chi.imag if objective.code == ObjectiveCode.SIN else chi.real


def base_gradient(problem, parameter: str) -> np.ndarray:
    """Return ∂E f/∂θ_d for θ = ``mu`` or ``kappa``, shape (D,) (the closed forms of the module docstring)."""
    objective = problem.objective
    m = _order(objective)
    k = float(objective.params[0])
    chi = characteristic(problem, m)
    if objective.code == ObjectiveCode.COS_SUM:
        if parameter == "mu":
            return (np.prod(chi) * 1j * k).real * np.ones(problem.dims)
        slope = _characteristic_slope(problem, m)
        others = np.array([np.prod(np.delete(chi, d)) for d in range(problem.dims)])
        return (slope * others).real
    parts = chi * 1j * k if parameter == "mu" else _characteristic_slope(problem, m)
    return parts.imag if objective.code == ObjectiveCode.SIN else parts.real


@dataclass(frozen=True)
class VonMisesLaw:
    """The law of x = a + u with u ~ vM(0, κ = b) on [−π, π], in the interface of :class:`~.exact.Law`."""

    a: float
    b: float
    kind: str = "vonmises"

    def edges(self, features=()) -> np.ndarray:
        """Return breakpoints in u: ±π, ±π/2, 0 and ±2^j/√κ inside (the width of the bump at u = 0)."""
        width = 1.0 / math.sqrt(self.b)
        points = width * 2.0 ** np.arange(-2, 6)
        inside = points[points < 0.5 * math.pi]
        return np.unique(np.concatenate([[-math.pi, -0.5 * math.pi, 0.0, 0.5 * math.pi, math.pi], inside, -inside]))

    def weight(self, u: np.ndarray) -> np.ndarray:
        """Density of u: e^{κ(cos u − 1)}/(2π e^{−κ} I₀(κ))."""
        kappa = self.b
        return np.exp(-2.0 * kappa * np.sin(0.5 * u) ** 2) / (2.0 * math.pi * float(special.i0e(kappa)))

    def point(self, u: np.ndarray):
        """Return x = μ + u (and None: no log x)."""
        return self.a + u, None


def coordinate_law(problem, d: int) -> VonMisesLaw:
    """Return coordinate d's law."""
    return VonMisesLaw(float(problem.value("mu")[d]), float(problem.value("kappa")[d]))


def score_function(problem, base: str, d: int):
    """Return s(u, x) of coordinate d: s_μ = κ sin u, s_κ = cos u − A(κ) (u = ε = x − μ)."""
    kappa = float(problem.value("kappa")[d])
    if base == "mu":
        return lambda u, x: kappa * np.sin(u)
    mean = float(mean_resultant(1, kappa))
    return lambda u, x: np.cos(u) - mean


def _kappa_derivative(kappa: float, u: np.ndarray) -> np.ndarray:
    """Return ∂ε/∂κ at every ε = u by the compiled derivative."""
    from carms_cli.continuous.vonmises import kappa_derivative

    u = np.asarray(u, dtype=float)
    return kappa_derivative(kappa, u.ravel())[0].reshape(u.shape)


def terms(ctx, code: EstimatorCode, base: str, d: int, c: float, part, integrate, scaled) -> np.ndarray:
    """Return E[(t − c)^m], m = 1…4, of the per-sample term of ``code`` for μ_d or κ_d.

    ``integrate`` and ``scaled`` are the quadrature and term scaling of
    :mod:`carms_cli.continuous.exact` (``_one_dimensional``, ``_scaled``), passed in by it: that
    module imports this one, so this one does not import it back.
    """
    problem = ctx.problem
    law = coordinate_law(problem, d)
    if code == EstimatorCode.SCORE:
        score = score_function(problem, base, d)
        return integrate(law, (), lambda u, x, _: part.moments(scaled(part.value(x), score(u, x)), c))
    if base == "mu":  # pathwise or implicit: ∂x/∂μ = 1
        return integrate(law, (), lambda u, x, _: part.moments(part.slope(x, 1.0), c))
    kappa = law.b
    return integrate(law, (), lambda u, x, _: part.moments(part.slope(x, _kappa_derivative(kappa, u)), c))
