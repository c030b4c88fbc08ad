"""Copulas across the n samples: independent, Dirichlet and Gaussian.

Host-side maths only (float64 numpy/scipy): joint CDFs used by the exact pair and tuple pmfs,
and the monotone maps between a copula's uniform scale and the *latent* variable the kernels
draw, so the kernels compare latent draws with precomputed thresholds instead of transforming
every draw back to a uniform.

Latent variables (all increasing functions of the uniform ``U``):

* independent: ``Y = U``;
* Dirichlet (spec 7.1): ``D ~ Dirichlet(1_n)`` (uniform on the simplex; the kernels draw it as the
  spacings of n − 1 sorted uniforms, equal in law to the spec's normalised exponentials),
  ``U_i = (1 − D_i)^(n−1)``, latent ``Y_i = 1 − D_i = U_i^(1/(n−1))``;
* Gaussian (spec 7.2): ``Z ~ N(0, Σ)``, ``Σ = n/(n−1) I − 1/(n−1) 11ᵀ`` (correlation −1/(n−1)),
  ``U_i = Φ(Z_i)``, latent ``Y_i = Z_i = Φ⁻¹(U_i)``.
"""

import functools
import math
from enum import IntEnum

import numpy as np
from scipy import special

#: Gauss–Legendre nodes of the bivariate normal integral in its arcsine form (Genz 2004, eq. 3) by
#: the largest |ρ| they serve: each reaches ~1e-16 absolute error over the whole (h, k) plane
#: (tests compare with adaptive quadrature). n ≥ 5 samples have |ρ| ≤ 1/4, n = 4 has 1/3, n = 3 has 1/2.
_GENZ_NODES = ((0.25, 6), (0.34, 7), (0.5, 8), (0.75, 12), (0.9, 20))
#: |h|, |k| beyond this are ±∞ for the bivariate normal CDF in float64.
NORMAL_CLAMP = 38.0


class Copula(IntEnum):
    """Dependence between the n samples of one variable (the integer is the kernel code)."""

    INDEPENDENT = 0
    DIRICHLET = 1
    GAUSSIAN = 2


def gaussian_rho(n: int) -> float:
    """Pair correlation −1/(n−1) of the Gaussian copula (n ≥ 2)."""
    return -1.0 / (n - 1)


@functools.lru_cache(maxsize=16)
def genz_rule(rho: float):
    """Nodes of ``Φ₂(h, k; ρ) = Φ(h)Φ(k) + scale · Σ_m w_m exp(a_m hk − b_m (h² + k²))``.

    Substituting ``r = sin θ`` in ``Φ₂ − ΦΦ = (1/2π) ∫₀^ρ exp(−(h² − 2rhk + k²)/(2(1 − r²)))/√(1 − r²) dr``
    gives an integrand in θ ∈ [0, arcsin ρ] smooth enough for a short Gauss–Legendre rule:
    with nodes ``s_m = sin(arcsin ρ · (x_m + 1)/2)``, ``a_m = s_m/(1 − s_m²)``,
    ``b_m = 1/(2(1 − s_m²))`` and ``scale = arcsin ρ / (4π)``. Returns ``(a, b, w, scale)``;
    valid for −0.9 ≤ ρ ≤ 0.9 (``ρ = −1`` is handled by the callers as the countermonotone limit).
    Cached per ρ (the arrays are read-only): CARMS-G's quadrature asks for it once per category
    and node chunk.
    """
    if not -0.9 <= rho <= 0.9:
        raise ValueError(f"rho={rho} outside the supported range [-0.9, 0.9]")
    count = next(m for bound, m in _GENZ_NODES if abs(rho) <= bound)
    x, w = np.polynomial.legendre.leggauss(count)
    angle = math.asin(rho)
    s = np.sin(0.5 * angle * (x + 1.0))
    one_minus_s2 = 1.0 - s * s
    rule = (s / one_minus_s2, 0.5 / one_minus_s2, w)
    for array in rule:
        array.flags.writeable = False
    return (*rule, angle / (4.0 * math.pi))


def bivariate_normal_cdf(h, k, rho: float):
    """Φ₂(h, k; ρ) in float64, vectorised over ``h`` and ``k``.

    The arcsine form of :func:`genz_rule`, accurate to ~1e-16 for |ρ| ≤ 0.9 (tests compare with
    adaptive quadrature). ``ρ = −1`` (n = 2) is the countermonotone limit
    ``max(Φ(h) + Φ(k) − 1, 0)``, computed exactly.
    """
    h = np.clip(np.asarray(h, dtype=np.float64), -NORMAL_CLAMP, NORMAL_CLAMP)
    k = np.clip(np.asarray(k, dtype=np.float64), -NORMAL_CLAMP, NORMAL_CLAMP)
    if rho <= -1.0:
        return np.maximum(special.ndtr(h) + special.ndtr(k) - 1.0, 0.0)
    a, b, w, scale = genz_rule(rho)
    # exponent a·hk − b·(h² + k²): two (…, nodes) temporaries, exp in place
    exponent = np.multiply.outer(h * k, a)
    exponent -= np.multiply.outer(h * h + k * k, b)
    np.exp(exponent, out=exponent)
    phi_h, phi_k = special.ndtr(h), special.ndtr(k)
    value = phi_h * phi_k + scale * (exponent @ w)
    # Fréchet bounds remove the last ulp-level excursions (e.g. −1e-316 at h = −∞)
    return np.clip(value, np.maximum(phi_h + phi_k - 1.0, 0.0), np.minimum(phi_h, phi_k))


def dirichlet_joint_cdf(x, n: int):
    """Joint CDF of m coordinates of the n-dimensional Dirichlet copula (spec 7.1).

    ``C_m(x_1..x_m) = max(Σ x_i^(1/(n−1)) − (m − 1), 0)^(n−1)`` with ``x`` of shape (..., m).
    """
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[-1]
    inner = np.power(x, 1.0 / (n - 1)).sum(axis=-1) - (m - 1)
    return np.power(np.maximum(inner, 0.0), n - 1)


def bivariate_cdf(copula: Copula, n: int, u, v):
    """``P(U_i ≤ u, U_j ≤ v)`` for two distinct samples i ≠ j of an n-sample copula."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if copula == Copula.INDEPENDENT:
        return u * v
    if copula == Copula.DIRICHLET:
        return dirichlet_joint_cdf(np.stack(np.broadcast_arrays(u, v), axis=-1), n)
    if copula == Copula.GAUSSIAN:
        return bivariate_normal_cdf(special.ndtri(u), special.ndtri(v), gaussian_rho(n))
    raise ValueError(f"unknown copula {copula!r}")


def to_latent(copula: Copula, n: int, u):
    """Map uniform-scale boundaries ``u`` to the latent scale the kernel draws on."""
    u = np.asarray(u, dtype=np.float64)
    if copula == Copula.INDEPENDENT:
        return u.copy()
    if copula == Copula.DIRICHLET:
        return np.power(u, 1.0 / (n - 1))
    if copula == Copula.GAUSSIAN:
        return special.ndtri(u)
    raise ValueError(f"unknown copula {copula!r}")


def draws_per_tuple(copula: Copula, n: int) -> int:
    """Return the uniforms one n-tuple consumes.

    Box–Muller uses them in pairs; the Dirichlet copula's n spacings come from n − 1 uniforms.
    """
    if copula == Copula.GAUSSIAN:
        return 2 * ((n + 1) // 2)
    if copula == Copula.DIRICHLET:
        return n - 1
    return n
