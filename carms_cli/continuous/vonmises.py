"""von Mises(0, κ) implicit reparameterization on the host: the mpmath reference for ∂x/∂κ, arrays.

The compiled derivative (:mod:`carms_cli.continuous.kernels.vonmises`) is checked sample by
sample against :func:`reference_kappa_derivative`, which integrates at 40 significant digits

    ∂x/∂κ = −∂_κ F(x|κ) / q(x|κ) = −∫_{−π}^{x} (cos t − A) e^{κ(cos t − cos x)} dt,    A = I₁(κ)/I₀(κ),

with mpmath's tanh-sinh quadrature (for x > 0 by the oddness of ∂x/∂κ in x; for cos x > A as
∫_x^0 (cos t − A) e^{κ(cos t − cos x)} dt, since ∂_κ F(0|κ) = ∂_κ ½ = 0, so that the integral
does not cancel to nothing as x → 0): ∂_κ of
F(x|κ) = ∫_{−π}^{x} e^{κ cos t} dt / (2π I₀(κ)) taken under the integral sign, and the density
e^{κ cos x}/(2π I₀(κ)) divided out inside it. :func:`reference_by_differentiation` takes
mpmath.diff of the quadrature of F instead (six times slower); the tests check the two agree.
Break points at x − 2^j/√κ let the quadrature resolve an integrand concentrated at x (large κ).
It shares nothing with the compiled Gauss–Legendre panels but the formula.
"""

import numpy as np

#: Significant digits of the reference.
REFERENCE_DIGITS = 40


def _break_points(kappa, point):
    """−π, …, x − 4w, x − 2w, x − w, x with w = 1/√κ (κ > 1): the integrand's scale near x."""
    import mpmath

    width = 1 / mpmath.sqrt(kappa) if kappa > 1 else mpmath.mpf(1)
    points = [point]
    step = 1
    while point - step * width > -mpmath.pi:
        points.append(point - step * width)
        step *= 2
    points.append(-mpmath.pi)
    return points[::-1]


def reference_kappa_derivative(kappa: float, x: float, digits: int = REFERENCE_DIGITS) -> float:
    """Return ∂x/∂κ of a von Mises(0, κ) variate at x ∈ [−π, π] by mpmath quadrature at ``digits`` digits.

    Parameters
    ----------
    kappa : float
        The concentration κ ≥ 0, taken exactly as the binary number it is.
    x : float
        The variate, taken exactly.
    digits : int
        Working precision in decimal digits.

    Returns
    -------
    float
        ∂x/∂κ rounded to float64.
    """
    import mpmath

    with mpmath.workdps(digits):
        k, point = mpmath.mpf(kappa), mpmath.mpf(x)
        sign = 1
        if point > 0:
            point, sign = -point, -1
        mean = mpmath.besseli(1, k) / mpmath.besseli(0, k)
        level = mpmath.cos(point)

        def integrand(t):
            return (mpmath.cos(t) - mean) * mpmath.exp(k * (mpmath.cos(t) - level))

        if level > mean:  # ∫_{−π}^{0} = ∂_κ F(0|κ) = 0: integrate over [x, 0], where nothing cancels
            # over u = t/x ∈ [0, 1], so that a tiny x keeps the quadrature's relative accuracy
            return sign * float(-point * mpmath.quad(lambda u: integrand(point * u), [0, 1]))
        return sign * float(-mpmath.quad(integrand, _break_points(k, point)))


def reference_by_differentiation(kappa: float, x: float, digits: int = REFERENCE_DIGITS) -> float:
    """Return ∂x/∂κ as −mpmath.diff(F)/q with F(x|κ) by mpmath.quad (the definition, for the tests)."""
    import mpmath

    with mpmath.workdps(digits):
        k0, point = mpmath.mpf(kappa), mpmath.mpf(x)
        sign = 1
        if point > 0:
            point, sign = -point, -1
        points = _break_points(k0, point)
        level = mpmath.cos(point)

        def scaled_cdf(k):  # F(x|κ)·2π e^{−κ cos x}: the density's own scale, so nothing underflows
            mass = mpmath.quad(lambda t: mpmath.exp(k * (mpmath.cos(t) - level)), points)
            return mass / (mpmath.besseli(0, k) * mpmath.exp(-k * level))

        density = 1 / (mpmath.besseli(0, k0) * mpmath.exp(-k0 * level))  # q(x)·2π e^{−κ cos x}, as above
        return sign * float(-mpmath.diff(scaled_cdf, k0) / density)


def kappa_derivative(kappa: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ∂x/∂κ for every x (float64) and the integrand evaluations each took.

    Parameters
    ----------
    kappa : float
        The concentration κ ≥ 0.
    x : numpy.ndarray
        von Mises(0, κ) variates in [−π, π].

    Returns
    -------
    derivative : numpy.ndarray
        ∂x/∂κ.
    terms : numpy.ndarray
        Gauss–Legendre nodes (or terms of the tail series in 1/κ) per x.
    """
    from carms_cli.continuous.kernels import vonmises

    values = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(values)
    terms = np.empty(values.shape[0], dtype=np.int64)
    vonmises.kappa_derivatives(float(kappa), values, out, terms)
    return out, terms
