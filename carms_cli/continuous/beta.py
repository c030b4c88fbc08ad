"""Beta and Dirichlet implicit derivatives on the host: the mpmath references, and the derivatives on arrays.

The compiled derivatives (:mod:`carms_cli.continuous.kernels.beta`) are checked value by value
against these references, which share nothing with the compiled continued fraction:

* CDF-implicit: ∂x/∂a = −∂_a I_x(a, b)/q(x) and ∂x/∂b = −∂_b I_x(a, b)/q(x), with ``mpmath.diff``
  of mpmath's regularised incomplete beta function at 40 significant digits (worked at 60), differentiating
  whichever of I_x(a, b) and 1 − I_x(a, b) is the smaller at x (so no digits are lost to 1 − I),
  at the exact binary (a, b, x);
* gamma ratio: ∂x_i/∂α_j = g(α_j, G_j)(δ_ij − x_i)/ΣG at the exact binary G_k (x_i = G_i/ΣG
  formed in mpmath), with g from :func:`carms_cli.continuous.implicit.reference_shape_derivative`.
"""

import numpy as np

from carms_cli.continuous.implicit import REFERENCE_DIGITS, reference_shape_derivative

#: Extra working digits of the incomplete-beta reference.
GUARD_DIGITS = 20


def reference_beta_derivatives(a: float, b: float, x: float, digits: int = REFERENCE_DIGITS) -> tuple[float, float]:
    """Return (∂x/∂a, ∂x/∂b) of a Beta(a, b) variate at x by mpmath at ``digits`` digits ((0, 0) at x = 0 or 1).

    Parameters
    ----------
    a, b : float
        The shapes, taken exactly as the binary numbers they are.
    x : float
        The variate, 0 ≤ x ≤ 1, taken exactly (1 − x is formed exactly in mpmath).
    digits : int
        Working precision in decimal digits.

    Returns
    -------
    tuple of float
        −∂_a I_x(a, b)/q(x) and −∂_b I_x(a, b)/q(x), rounded to float64.
    """
    import mpmath

    if x <= 0.0 or x >= 1.0:
        return 0.0, 0.0
    # 20 guard digits: at 40 alone mpmath.diff of betainc loses 1e−12 at (0.01, 100, x = 4.5e−33)
    with mpmath.workdps(digits + GUARD_DIGITS):
        p, q, point = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
        # differentiate the smaller of I_x(a, b) and 1 − I_x(a, b) = I_{1−x}(b, a), each as a lower integral
        # (mpmath's betainc(a, b, x, 1) is I(1) − I(x), which cancels in the far upper tail)
        complement = 1 - point
        lower = mpmath.betainc(p, q, 0, point, regularized=True) <= mpmath.mpf(0.5)

        def cdf(s, t):
            if lower:
                return mpmath.betainc(s, t, 0, point, regularized=True)
            return -mpmath.betainc(t, s, 0, complement, regularized=True)  # I − 1: the same derivative

        da = mpmath.diff(lambda s: cdf(s, q), p)
        db = mpmath.diff(lambda t: cdf(p, t), q)
        log_density = (p - 1) * mpmath.log(point) + (q - 1) * mpmath.log(complement) - mpmath.log(mpmath.beta(p, q))
        density = mpmath.exp(log_density)
        return float(-da / density), float(-db / density)


def reference_ratio_jacobian(alpha, gammas, digits: int = REFERENCE_DIGITS) -> np.ndarray:
    """Return the gamma-ratio ∂x_i/∂α_j (K × K) at the exact Gamma variates ``gammas`` (> 0) by mpmath.

    Parameters
    ----------
    alpha : sequence of float
        The Dirichlet parameters α_k.
    gammas : sequence of float
        The Gamma(α_k, 1) variates G_k, all positive, taken exactly.
    digits : int
        Working precision in decimal digits.

    Returns
    -------
    numpy.ndarray
        g(α_j, G_j)(δ_ij − G_i/ΣG)/ΣG, rounded to float64.
    """
    import mpmath

    dims = len(alpha)
    out = np.empty((dims, dims))
    with mpmath.workdps(digits):
        g = [mpmath.mpf(float(value)) for value in gammas]
        total = mpmath.fsum(g)
        shape = [mpmath.mpf(reference_shape_derivative(float(alpha[j]), float(gammas[j]), digits)) for j in range(dims)]
        for i in range(dims):
            rest = mpmath.fsum(g[k] for k in range(dims) if k != i)  # 1 − x_i = rest/ΣG, not lost to 1 − x_i
            for j in range(dims):
                out[i, j] = float(shape[j] * (rest if i == j else -g[i]) / total**2)
    return out
