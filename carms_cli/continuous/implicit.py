"""Implicit reparameterization on the host: the mpmath reference for ∂x/∂α, and the derivative on arrays.

The compiled derivative (:mod:`carms_cli.continuous.kernels.implicit`) is checked sample by
sample against :func:`reference_shape_derivative`, which differentiates mpmath's regularised
incomplete gamma function numerically at 40 significant digits (``mpmath.diff`` works at a
higher precision and step of its own choosing) and divides by the density:

    g(α, x) = −∂_α P(α, x) / q(x) = ∂_α Q(α, x) / q(x),    q(x) = x^{α−1} e^{−x} / Γ(α),

differentiating whichever of P and Q = 1 − P is the smaller at (α, x) (x ≤ α: P), so that no
digits are lost to 1 − P. It shares nothing with the compiled series and continued fraction.
"""

import numpy as np

#: Significant digits of the reference.
REFERENCE_DIGITS = 40


def reference_shape_derivative(alpha: float, x: float, digits: int = REFERENCE_DIGITS) -> float:
    """Return ∂x/∂α of a Gamma(α, 1) variate at x (0 at x = 0) by mpmath at ``digits`` digits.

    Parameters
    ----------
    alpha : float
        The shape α > 0, taken exactly as the binary number it is.
    x : float
        The variate x ≥ 0, taken exactly.
    digits : int
        Working precision in decimal digits.

    Returns
    -------
    float
        g(α, x) rounded to float64.
    """
    import mpmath

    if x == 0.0:
        return 0.0
    with mpmath.workdps(digits):
        a, point = mpmath.mpf(alpha), mpmath.mpf(x)
        if point > a:
            derivative = mpmath.diff(lambda s: mpmath.gammainc(s, point, mpmath.inf, regularized=True), a)
        else:
            derivative = -mpmath.diff(lambda s: mpmath.gammainc(s, 0, point, regularized=True), a)
        density = mpmath.exp((a - 1) * mpmath.log(point) - point - mpmath.loggamma(a))
        return float(derivative / density)


def shape_derivative(alpha: float, x: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Return g(α, x) for every x, computed in ``dtype`` arithmetic, and the terms each used.

    Parameters
    ----------
    alpha : float
        The shape α > 0 (rounded to ``dtype``).
    x : numpy.ndarray
        Gamma(α, 1) variates x ≥ 0 (rounded to ``dtype``).
    dtype : numpy dtype
        ``np.float64`` or ``np.float32``.

    Returns
    -------
    derivative : numpy.ndarray
        ∂x/∂α, of ``dtype``.
    terms : numpy.ndarray
        Terms of the series or continued fraction per x (0 where x = 0).
    """
    from carms_cli.continuous.kernels import implicit

    dtype = np.dtype(dtype)
    values = np.ascontiguousarray(x, dtype=dtype)
    out = np.empty_like(values)
    terms = np.empty(values.shape[0], dtype=np.int64)
    if dtype == np.float32:
        implicit.shape_derivatives32(np.float32(alpha), values, out, terms)
    elif dtype == np.float64:
        implicit.shape_derivatives(float(alpha), values, out, terms)
    else:
        raise ValueError(f"unsupported dtype {dtype}")
    return out, terms
