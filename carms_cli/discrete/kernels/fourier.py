"""Gaussian-copula orthant probabilities, compiled: the two quadratures of the 1-D Fourier integral.

The maths and the rules are in :mod:`carms_cli.discrete.exact.gaussian`: for a corner γ (on the
scale of ``W = X − X̄``) the CDF is ``√(n/2π) · 2 Re [head + ray]``, where the *head* is the
trapezoidal rule on ``[0, 9]`` of ``Π_i F_i − J_pure`` (Gaussian-damped) and the *ray* is the
Gauss–Legendre rule along ``t = s e^(±iπ/6)`` of the single-frequency part
``J_pure = (−1)^#{γ_i > 0} e^(−Σγ²/2 + iωt) 2^(−n) Π_i w(ζ_i)``. The host tabulates every factor
per distinct bound value (``scipy.special.wofz``); this kernel only multiplies and sums, one row
(corner) per iteration, and stops a ray once the rest is provably below ``1e−18``: the amplitude
``e^(−Σγ²/2 − |ω| s sin(π/6))`` falls monotonically along the ray, ``|w| ≤ 3`` on it, and the rest
of the ray integral is at most ``amplitude · 3^n / (|ω| sin(π/6))``. Rows are independent, so the
result does not depend on the thread count.
"""

import cmath
import math

import numba as nb

from carms_cli.core.jit import cached_kernel

#: A ray stops once the bound on its remaining integral is below this.
RAY_STOP = 1e-18


@cached_kernel(parallel=True)
def orthant_sums(
    index, head_full, head_osc, gauss, free, head_w, values, rays, ray_t, ray_w, n, sin_angle, out
):  # pragma: no cover - compiled
    """Write ``head + ray`` (complex, before ``√(n/2π) · 2 Re``) of every corner to ``out``.

    ``index[r, i]`` is the table row of bound i of corner r (−1 for ``+∞``: a free coordinate);
    ``head_full``/``head_osc`` (V, H) hold ``F`` and its oscillatory term at the head nodes,
    ``gauss`` and ``free`` (H) the factors ``e^(−t²/2)`` and ``e^(−(n − m)t²/2)`` for the named
    free coordinates and those not named, ``head_w`` (H) the trapezoid weights; ``values`` (V) the
    bounds, ``rays`` (V, 2, R) the Faddeeva factors on the rays of angle ``±π/6`` whose nodes and
    weights (times ``e^(±iπ/6)``) are ``ray_t``, ``ray_w`` (2, R). A corner has a ray term only when
    all n bounds are finite (m = n).
    """
    rows, m = index.shape
    n_head = head_w.shape[0]
    n_ray = ray_t.shape[1]
    log_half = math.log(0.5)
    for r in nb.prange(rows):
        finite = True
        for i in range(m):
            if index[r, i] < 0:
                finite = False
        with_ray = finite and m == n
        head = 0j
        for k in range(n_head):
            whole = free[k] + 0j
            pure = 1.0 + 0j
            for i in range(m):
                v = index[r, i]
                if v < 0:
                    whole *= gauss[k]
                else:
                    whole *= head_full[v, k]
                    pure *= head_osc[v, k]
            if with_ray:
                whole -= pure
            head += head_w[k] * whole
        ray = 0j
        if with_ray:
            omega = 0.0
            log_amp = n * log_half
            positive = 0
            for i in range(m):
                g = values[index[r, i]]
                omega += g
                log_amp -= 0.5 * g * g
                if g > 0.0:
                    positive += 1
            d = 1 if omega < 0.0 else 0
            rest = 3.0**n / max(abs(omega) * sin_angle, 1e-300)
            for k in range(n_ray):
                phase = log_amp + 1j * omega * ray_t[d, k]
                if math.exp(phase.real) * rest < RAY_STOP:
                    break
                term = cmath.exp(phase)
                for i in range(m):
                    term *= rays[index[r, i], d, k]
                ray += term * ray_w[d, k]
            if positive % 2 == 1:
                ray = -ray
        out[r] = head + ray
