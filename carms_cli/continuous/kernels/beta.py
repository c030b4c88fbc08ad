"""Beta and Dirichlet variates from the Gamma sampler, and their two exact implicit derivatives.

**Sampler.** A Dirichlet(α₁ … α_K) variate is x = G/ΣG with G_k ~ Gamma(α_k, 1) drawn by the
continuous family's sampler (:func:`carms_cli.continuous.kernels.trial.gamma_variate`) at the
counters ``i·K + k`` of draw i; Beta(a, b) is the case K = 2 (x = x₁, the counters ``2i, 2i + 1``).
For α < 1 the sampler returns G = M·e^t with M ~ Gamma(α + 1) and t = ln(U)/α;
:func:`gamma_parts` returns M and t apart (the same numbers, G = M·e^t bitwise), so that when
every G_k underflows (ΣG < the smallest normal number, about once in 10⁶ draws at a = b = 0.01)
x is formed from ln G_k = ln M_k + t_k instead of 0/0.

**Gamma-ratio derivative** (the path of JAX, TFP and NumPyro): with g(α, G) = ∂G/∂α the Gamma
implicit derivative (:func:`carms_cli.continuous.kernels.implicit.gamma_shape_derivative`),

    ∂x_i/∂α_j = c_j·(δ_ij − x_i),    c_j = g(α_j, G_j)/ΣG,

with 1 − x_i formed as Σ_{k≠i} G_k/ΣG when x_i > 1/2 (no digits lost to the subtraction). When the
Gammas underflowed, c_j = x_j·g(α_j, G_j)/G_j with g/G = (ψ(α_j + 1) − ln G_j)/α_j, its limit as
G → 0 (the next term is O(G) relative, below 1e−300).

**CDF-implicit derivative** (the path of PyTorch, there approximately): for x ~ Beta(a, b) with
CDF I_x(a, b) and density q(x) = x^{a−1}(1 − x)^{b−1}/B(a, b),

    ∂x/∂a = −∂_a I_x(a, b)/q(x),    ∂x/∂b = −∂_b I_x(a, b)/q(x),

computed from the continued fraction (Abramowitz & Stegun 26.5.8)

    I_x(a, b) = q(x)·x(1 − x)/(a·F),    F = 1 + d₁/(1 + d₂/(1 + …)),
    d_{2m+1} = −(a + m)(a + b + m)x/((a + 2m)(a + 2m + 1)),    d_{2m} = m(b − m)x/((a + 2m − 1)(a + 2m)),

evaluated through its even contraction (whose approximants are F's even ones): with
o_m = 1 + d_{2m+1}, β_m = o_m + d_{2m+2} and α_m = −d_{2m}·d_{2m+1},

    F = E/(E − d₁),    E = β₀ + α₁/(β₁ + α₂/(β₂ + …)),

differentiated in forward mode (modified Lentz, with ∂_a and ∂_b of its C_m and D_m carried
along) and divided by the density before anything is summed, so B(a, b) cancels:

    ∂x/∂a = −x(1 − x)/(a F)·(ln x − ψ(a + 1) + ψ(a + b) − ∂_a ln F),
    ∂x/∂b = −x(1 − x)/(a F)·(ln(1 − x) − ψ(b) + ψ(a + b) − ∂_b ln F).

Below the switch point, where the fraction's first shape is small (≤ 20) and below the other, the series
I_x(a, b) = q(x)·x(1 − x)/a·₂F₁(a + b, 1; a + 1; x) replaces 1/F: its terms are positive and so are
their derivatives' (:func:`_build`'s ``series``). The fraction converges quickly for
x < (a + 1)/(a + b + 2); beyond, the symmetry
I_x(a, b) = 1 − I_{1−x}(b, a) is used (the fraction at 1 − x with a and b swapped), which gives the
same formulas with a ↔ b, x ↔ 1 − x and the opposite sign: the fraction runs at (p, q, u) = (a, b, x)
below the switch point and (b, a, 1 − x) above. Near the switch point d_{2m+1} ≈ −1: the plain
fraction's odd Lentz steps 1 + d/C and 1 + d·D cancelled there by up to 3,000× (F off by
≈ (a + b)·ε/2: 5e−13 in float64, 5e−4 in float32), while the contraction's α_m and β_m are all
positive for m < q once o_m is formed without the subtraction, from the complement:
o_m·(p + 2m)(p + 2m + 1) = (p + m)(2m + 1 − q + (p + q + m)(1 − u)) + m(m + 1), where 1 − u is the
given x on the upper side (for q > p + 2m + 1 the direct difference loses less and is used).
Each ln u − ψ(s) + ψ(t) is formed as
ln(u·t/s) + r(s) − r(t) with r(s) = ln s − ψ(s) (``log1p`` when u·t/s is near 1). Both
derivatives have a fixed sign (Beta is stochastically increasing in a, decreasing in b); the
bracket (level − ∂ ln F, or S·level + S′) still cancels where the integrand of ∂I changes sign far
below x (235× for ∂_b at (0.01, 30) just below the switch point: 8.8e−5 in float32).
A Dirichlet coordinate x_i ~ Beta(α_i, α₀ − α_i): its
CDF-implicit derivatives are ∂x_i/∂α_i = ∂x/∂a and ∂x_i/∂α_j = ∂x/∂b (j ≠ i) of that Beta. This
is E[gamma-ratio derivative | x_i], another unbiased path with lower variance, not the same
numbers.

Everything is built for float64 and float32 from one source (:func:`_build`), through
``core/jit.helper`` (so CUDA kernels can call the helpers); the samplers draw in float64.
"""

import math

import numpy as np

from carms_cli.continuous.kernels.implicit import (
    TABLE_SIZE,
    gamma_shape_derivative,
    gamma_shape_derivative32,
    log_minus_digamma,
    log_minus_digamma32,
    prepare_shape,
    prepare_shape32,
)
from carms_cli.continuous.kernels.trial import BOOST_COUNTER, gamma_variate
from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel
from carms_cli.core.rng import mix64, uniform

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # the sub-key hash of gamma_variate
_ONE = np.uint64(1)
_TINY = np.finfo(np.float64).tiny
#: The series is used for the fraction's side when its own first shape p is at most this and below q (it needs about
#: √(74(p + 1)/(1 − u)) terms at the switch point u ≈ (p + 1)/(p + q + 2), the fraction about as many). It is not
#: used beyond the switch point: there its bracket S·level + S' cancels (1.2e−4 in float32 at (0.01, 1e4) and
#: 1.5x the switch point), as ∫₀ˣ of an integrand that changed sign.
_SERIES_SHAPE = 20.0


@jit.helper()
def gamma_parts(key, counter, shape):  # pragma: no cover - compiled
    """Return (M, t, rejections) with M·e^t the Gamma(shape, 1) variate of ``gamma_variate`` at ``counter``.

    For shape ≥ 1, t = 0 and M is the variate; for shape < 1, M ~ Gamma(shape + 1) is the same
    Marsaglia–Tsang draw and t = ln(U)/shape with U the boost uniform of the same sub-key.
    """
    if shape >= 1.0:
        value, rejections = gamma_variate(key, counter, shape)
        return value, 0.0, rejections
    value, rejections = gamma_variate(key, counter, shape + 1.0)
    sub = mix64(key + (counter + _ONE) * _GOLDEN)
    return value, math.log(uniform(sub, BOOST_COUNTER)) / shape, rejections


@jit.helper()
def dirichlet_draw(key, first, alpha, gammas, logs, x):  # pragma: no cover - compiled
    """Draw one Dirichlet(α) variate from the Gamma counters ``first … first + K − 1`` into ``x``.

    ``gammas`` receives G_k, ``logs`` ln G_k; returns (ΣG, rejections). ΣG below the smallest
    normal number means the Gammas underflowed and x was formed from ln G.
    """
    dims = alpha.shape[0]
    total = 0.0
    rejections = 0
    for k in range(dims):
        m, t, rejected = gamma_parts(key, first + np.uint64(k), alpha[k])
        g = m * math.exp(t)
        gammas[k] = g
        logs[k] = math.log(m) + t
        total += g
        rejections += rejected
    if total >= _TINY:
        for k in range(dims):
            x[k] = gammas[k] / total
        return total, rejections
    top = logs[0]
    for k in range(1, dims):
        top = max(top, logs[k])
    scaled = 0.0
    for k in range(dims):
        x[k] = math.exp(logs[k] - top)
        scaled += x[k]
    for k in range(dims):
        x[k] /= scaled
    return total, rejections


def _build(real, shape_derivative, log_minus_digamma):
    """Compile-ready derivative helpers for one precision ``real`` (``np.float64`` or ``np.float32``)."""
    zero, one, two, half = real(0.0), real(1.0), real(2.0), real(0.5)
    tolerance = real(np.finfo(real).eps) * half
    tiny = real(np.finfo(real).tiny)
    lentz_tiny = tiny * real(1e10)  # Lentz's stand-in for a zero denominator
    budget_base, budget_slope = real(128.0), real(16.0)
    series_shape = real(_SERIES_SHAPE)

    @jit.helper()
    def level(log_u, s, delta):  # pragma: no cover - compiled
        """Return ln u − ψ(s) + ψ(s + δ) = ln u + ln(1 + δ/s) + r(s) − r(s + δ), given ln u.

        δ is passed apart (not s + δ) so that ψ(s + δ) − ψ(s) keeps its digits when δ ≪ s.
        """
        return log_u + math.log1p(delta / s) + (log_minus_digamma(s) - log_minus_digamma(s + delta))

    @jit.helper()
    def fraction(p, q, u, v, level_p, level_q):  # pragma: no cover - compiled
        """Return F, ∂_p ln F, ∂_q ln F and the terms of the incomplete-beta fraction at (p, q, u), v = 1 − u.

        F = 1 + d₁/(1 + d₂/(1 + …)) is evaluated through its even contraction (its approximants are
        F's even ones): with o_m = 1 + d_{2m+1}, β_m = o_m + d_{2m+2} and α_m = −d_{2m}·d_{2m+1},

            F = E/(E − d₁),    E = β₀ + α₁/(β₁ + α₂/(β₂ + …)),

        by modified Lentz with ∂_p and ∂_q of its C_m and D_m carried along. Near the switch point
        d_{2m+1} ≈ −1, so o_m is formed without the subtraction: o_m·(p + 2m)(p + 2m + 1) =
        (p + m)(2m + 1 − q + (p + q + m)v) + m(m + 1), exact algebra from the complement v (the given x
        on the fraction's upper side). While m < q every α_m and β_m is positive and nothing cancels
        (the plain fraction's odd Lentz steps lost up to 3,000× there). It stops when the step of E and
        the steps of both derivatives are below ε/2 relative to E and to the brackets
        ``level − ∂ ln F`` they enter.
        """
        cap = int(budget_base + budget_slope * math.sqrt(max(p, q)))
        sum_pq = p + q
        d1 = -(sum_pq * u) / (p + one)
        d1_p = d1 * (one - q) / (sum_pq * (p + one))  # ∂_p ln|d₁| = 1/(p + q) − 1/(p + 1)
        d1_q = d1 / sum_pq
        f, c, d = one, one, zero
        dc_p, dc_q, dd_p, dd_q = zero, zero, zero, zero
        dlog_p, dlog_q, dlog_f_p, dlog_f_q = zero, zero, zero, zero
        even, even_p, even_q = zero, zero, zero  # d_{2m} and its derivatives
        m = zero
        steps = 0
        while steps < cap:
            s1, s2 = p + m, sum_pq + m
            e1, e2, e3 = p + two * m, p + two * m + one, p + two * m + two
            odd = -(s1 * s2 * u) / (e1 * e2)  # d_{2m+1}
            odd_p = odd * (m / (s1 * e1) + (m + one - q) / (s2 * e2))
            odd_q = odd / s2
            if q <= e2:  # o_m(p + 2m)(p + 2m + 1) = (p + m)(2m + 1 − q + (p + q + m)v) + m(m + 1)
                o = (s1 * ((two * m + one - q) + s2 * v) + m * (m + one)) / (e1 * e2)
            else:  # its terms would be ≈ (p + m)q ≫ (p + 2m)²: the direct difference loses less
                o = (e1 * e2 - s1 * s2 * u) / (e1 * e2)
            base = (m + one) * u / (e2 * e3)
            next_even = base * (q - m - one)  # d_{2m+2}
            next_even_p = -next_even * (one / e2 + one / e3)
            beta = o + next_even
            beta_p, beta_q = odd_p + next_even_p, odd_q + base
            if steps == 0:  # E₀ = β₀
                f = beta if beta != zero else lentz_tiny
                c = f
                dc_p, dc_q = beta_p, beta_q
                dlog_p, dlog_q = beta_p / f, beta_q / f
                step, step_p, step_q = one, dlog_p, dlog_q
            else:
                alpha = -even * odd
                alpha_p = -(even_p * odd + even * odd_p)
                alpha_q = -(even_q * odd + even * odd_q)
                denominator = beta + alpha * d
                if denominator == zero:
                    denominator = lentz_tiny
                d_new = one / denominator
                c_new = beta + alpha / c
                if c_new == zero:
                    c_new = lentz_tiny
                inner_p = beta_p + alpha_p * d + alpha * dd_p  # ∂ of the denominator
                inner_q = beta_q + alpha_q * d + alpha * dd_q
                dc_p_new = beta_p + (alpha_p - alpha * dc_p / c) / c
                dc_q_new = beta_q + (alpha_q - alpha * dc_q / c) / c
                step = c_new * d_new
                step_p = dc_p_new / c_new - d_new * inner_p  # ∂ ln C_m + ∂ ln D_m
                step_q = dc_q_new / c_new - d_new * inner_q
                dd_p, dd_q = -d_new * d_new * inner_p, -d_new * d_new * inner_q
                c, d, dc_p, dc_q = c_new, d_new, dc_p_new, dc_q_new
                f *= step
                dlog_p += step_p
                dlog_q += step_q
            even, even_p, even_q = next_even, next_even_p, base
            m += one
            steps += 1
            # ∂ ln F = ∂ ln E − ∂ ln(E − d₁) = (∂d₁ − d₁·∂ ln E)/(E − d₁)
            g = f - d1
            dlog_f_p = (d1_p - d1 * dlog_p) / g
            dlog_f_q = (d1_q - d1 * dlog_q) / g
            if (
                steps > 1
                and abs(step - one) <= tolerance
                and abs(step_p) <= tolerance * abs(level_p - dlog_f_p)
                and abs(step_q) <= tolerance * abs(level_q - dlog_f_q)
            ):
                break
        return f / (f - d1), dlog_f_p, dlog_f_q, 2 * steps

    @jit.helper()
    def series(p, q, u, level_p, level_q):  # pragma: no cover - compiled
        """Return S = ₂F₁(p + q, 1; p + 1; u) = Σ t_n, Σ t_n ∂_p ln t_n, Σ t_n ∂_q ln t_n and the terms.

        t₀ = 1, t_{n+1} = t_n·u(p + q + n)/(p + 1 + n): positive terms, and derivatives
        ∂_p ln t_n = Σ_{k<n} (1 − q)/((p + q + k)(p + 1 + k)), ∂_q ln t_n = Σ_{k<n} 1/(p + q + k) whose
        terms have one sign each (no cancellation). It stops on a rigorous bound of the three tails:
        the ratios tend monotonically to u, so max(ratio, u) < 1 bounds every later one.
        """
        t = one
        total, total_p, total_q = one, zero, zero
        e, f, k = zero, zero, zero
        cap = 2 * int(budget_base + budget_slope * math.sqrt(p + q))
        terms = 1
        while terms < cap:
            upper, lower = p + q + k, p + one + k
            e += (one - q) / (upper * lower)
            f += one / upper
            t = t * (u * upper / lower)
            total += t
            total_p += t * e
            total_q += t * f
            k += one
            terms += 1
            if t > tolerance * total:
                continue
            rho = max(u * (p + q + k) / (p + one + k), u)
            if rho >= one:
                continue
            g = rho / (one - rho)
            step_p = abs(one - q) / ((p + q + k) * (p + one + k))
            step_q = one / (p + q + k)
            if (
                t * g <= tolerance * total
                and t * (abs(e) * g + step_p * g / (one - rho)) <= tolerance * abs(total * level_p + total_p)
                and t * (f * g + step_q * g / (one - rho)) <= tolerance * abs(total * level_q + total_q)
            ):
                break
        return total, total_p, total_q, terms

    @jit.helper()
    def beta_derivatives_terms(a, b, x):  # pragma: no cover - compiled
        """Return ∂x/∂a, ∂x/∂b of a Beta(a, b) variate x (CDF-implicit) and the fraction's terms.

        x = 0 and x = 1 give (0, 0): the limits of both derivatives.
        """
        if x <= zero or x >= one:
            return zero, zero, 0
        y = one - x  # exact for x ≥ 1/2; below, ln(1 − x) is taken from x itself
        if x <= half:
            log_x, log_y = math.log(x), math.log1p(-x)
        else:
            log_x, log_y = math.log1p(-y), math.log(y)
        if x * (a + b + two) < a + one:
            level_a = level(log_x, a + one, b - one)  # ln x − ψ(a + 1) + ψ(a + b)
            level_b = level(log_y, b, a)  # ln(1 − x) − ψ(b) + ψ(a + b)
            scale = -(x * y) / a
            if a <= series_shape and b > a:
                total, total_a, total_b, terms = series(a, b, x, level_a, level_b)
                return scale * (total * level_a + total_a), scale * (total * level_b + total_b), terms
            f, dlog_a, dlog_b, terms = fraction(a, b, x, y, level_a, level_b)
            return scale / f * (level_a - dlog_a), scale / f * (level_b - dlog_b), terms
        level_a = level(log_x, a, b)  # I_x(a, b) = 1 − I_{1−x}(b, a): at 1 − x with a ↔ b
        level_b = level(log_y, b + one, a - one)
        scale = (x * y) / b
        if b <= series_shape and a > b:
            total, total_b, total_a, terms = series(b, a, y, level_b, level_a)
            return scale * (total * level_a + total_a), scale * (total * level_b + total_b), terms
        f, dlog_b, dlog_a, terms = fraction(b, a, y, x, level_b, level_a)
        return scale / f * (level_a - dlog_a), scale / f * (level_b - dlog_b), terms

    @jit.helper()
    def gamma_over_total(alpha, g, log_g, total, xj, table):  # pragma: no cover - compiled
        """Return c = g(α, G)/ΣG; when the Gammas underflowed, x_j·(ψ(α + 1) − ln G)/α (the limit of g/G).

        ``table`` is α's :func:`~carms_cli.continuous.kernels.implicit.prepare_shape` table.
        """
        if total >= tiny:
            return shape_derivative(alpha, g, table) / total
        above = alpha + one
        psi = math.log(above) - log_minus_digamma(above)
        return xj * (psi - log_g) / alpha

    @jit.helper()
    def ratio_jacobian(alpha, gammas, logs, total, x, rows, jacobian, tables):  # pragma: no cover - compiled
        """Write ∂x_i/∂α_j = c_j(δ_ij − x_i) (gamma-ratio path) for i < ``rows`` into ``jacobian`` (K × K).

        ``tables[j]`` is α_j's :func:`~carms_cli.continuous.kernels.implicit.prepare_shape` table.
        """
        dims = alpha.shape[0]
        for j in range(dims):
            c = gamma_over_total(alpha[j], gammas[j], logs[j], total, x[j], tables[j])
            for i in range(rows):
                if i != j:
                    jacobian[i, j] = -c * x[i]
                elif x[i] <= half:
                    jacobian[i, j] = c * (one - x[i])
                else:  # 1 − x_i = Σ_{k≠i} x_k (each x_k < 1/2): no digits lost
                    rest = zero
                    for k in range(dims):
                        if k != i:
                            rest += x[k]
                    jacobian[i, j] = c * rest

    @jit.helper()
    def cdf_jacobian(alpha, rest, x, rows, jacobian):  # pragma: no cover - compiled
        """Write the CDF-implicit ∂x_i/∂α_j (i < ``rows``) of the marginal Beta(α_i, α₀ − α_i); return the terms."""
        dims = alpha.shape[0]
        terms = 0
        for i in range(rows):
            da, db, used = beta_derivatives_terms(alpha[i], rest[i], x[i])
            terms += used
            for j in range(dims):
                jacobian[i, j] = da if i == j else db
        return terms

    return level, fraction, beta_derivatives_terms, ratio_jacobian, cdf_jacobian


(beta_level, beta_fraction, beta_derivatives_terms, ratio_jacobian, cdf_jacobian) = _build(
    np.float64, gamma_shape_derivative, log_minus_digamma
)
(beta_level32, beta_fraction32, beta_derivatives_terms32, ratio_jacobian32, cdf_jacobian32) = _build(
    np.float32, gamma_shape_derivative32, log_minus_digamma32
)


@jit.helper()
def shape_tables(alpha):  # pragma: no cover - compiled
    """Return each α_j's :func:`~carms_cli.continuous.kernels.implicit.prepare_shape` table (K × T, float64)."""
    tables = np.empty((alpha.shape[0], TABLE_SIZE))
    for j in range(alpha.shape[0]):
        prepare_shape(alpha[j], tables[j])
    return tables


@jit.helper()
def shape_tables32(alpha):  # pragma: no cover - compiled
    """As :func:`shape_tables` in float32 (α float32)."""
    tables = np.empty((alpha.shape[0], TABLE_SIZE), dtype=np.float32)
    for j in range(alpha.shape[0]):
        prepare_shape32(alpha[j], tables[j])
    return tables


@cached_kernel(nogil=True)
def dirichlet_samples(key, first, alpha, x, gammas, logs, totals):  # pragma: no cover - compiled
    """Draw Dirichlet(α) variates for draws ``first …`` into ``x`` (n × K) with their G, ln G and ΣG."""
    dims = alpha.shape[0]
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        totals[i], rejected = dirichlet_draw(key, counter, alpha, gammas[i], logs[i], x[i])
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def dirichlet_sample_only(key, first, alpha, x):  # pragma: no cover - compiled
    """Draw Dirichlet(α) variates into ``x`` (n × K) and nothing else (the sampler's timing)."""
    dims = alpha.shape[0]
    gammas = np.empty(dims)
    logs = np.empty(dims)
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        _, rejected = dirichlet_draw(key, counter, alpha, gammas, logs, x[i])
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def ratio_jacobians(alpha, gammas, logs, totals, x, rows, jacobian):  # pragma: no cover - compiled
    """Write the gamma-ratio ∂x_i/∂α_j (i < ``rows``) of every drawn (G, x) into ``jacobian`` (n × K × K, float64)."""
    tables = shape_tables(alpha)
    for i in range(x.shape[0]):
        ratio_jacobian(alpha, gammas[i], logs[i], totals[i], x[i], rows, jacobian[i], tables)


@cached_kernel(nogil=True)
def ratio_jacobians32(alpha, gammas, logs, totals, x, rows, jacobian):  # pragma: no cover - compiled
    """As :func:`ratio_jacobians` in float32 arithmetic (every array float32)."""
    tables = shape_tables32(alpha)
    for i in range(x.shape[0]):
        ratio_jacobian32(alpha, gammas[i], logs[i], totals[i], x[i], rows, jacobian[i], tables)


@cached_kernel(nogil=True)
def cdf_jacobians(alpha, rest, x, rows, jacobian, terms):  # pragma: no cover - compiled
    """Write the CDF-implicit ∂x_i/∂α_j (i < ``rows``) of every x into ``jacobian`` and the terms per draw (float64)."""
    for i in range(x.shape[0]):
        terms[i] = cdf_jacobian(alpha, rest, x[i], rows, jacobian[i])


@cached_kernel(nogil=True)
def cdf_jacobians32(alpha, rest, x, rows, jacobian, terms):  # pragma: no cover - compiled
    """As :func:`cdf_jacobians` in float32 arithmetic (α, rest, x and the Jacobian float32)."""
    for i in range(x.shape[0]):
        terms[i] = cdf_jacobian32(alpha, rest, x[i], rows, jacobian[i])


@cached_kernel(nogil=True)
def dirichlet_samples_ratio(key, first, alpha, rows, x, jacobian):  # pragma: no cover - compiled
    """Draw as :func:`dirichlet_sample_only` with the gamma-ratio ∂x_i/∂α_j of each draw (float64)."""
    dims = alpha.shape[0]
    tables = shape_tables(alpha)
    gammas = np.empty(dims)
    logs = np.empty(dims)
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        total, rejected = dirichlet_draw(key, counter, alpha, gammas, logs, x[i])
        ratio_jacobian(alpha, gammas, logs, total, x[i], rows, jacobian[i], tables)
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def dirichlet_samples_cdf(key, first, alpha, rest, rows, x, jacobian):  # pragma: no cover - compiled
    """Draw as :func:`dirichlet_sample_only` with the CDF-implicit ∂x_i/∂α_j of each draw (float64)."""
    dims = alpha.shape[0]
    gammas = np.empty(dims)
    logs = np.empty(dims)
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        _, rejected = dirichlet_draw(key, counter, alpha, gammas, logs, x[i])
        cdf_jacobian(alpha, rest, x[i], rows, jacobian[i])
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def dirichlet_samples_ratio32(key, first, alpha, alpha32, rows, x, jacobian):  # pragma: no cover - compiled
    """Draw in float64 as :func:`dirichlet_samples_ratio`, round G, ln G, ΣG and x to float32, derive in float32."""
    dims = alpha.shape[0]
    tables = shape_tables32(alpha32)
    gammas, logs, values = np.empty(dims), np.empty(dims), np.empty(dims)
    gammas32, logs32 = np.empty(dims, np.float32), np.empty(dims, np.float32)
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        total, rejected = dirichlet_draw(key, counter, alpha, gammas, logs, values)
        for k in range(dims):
            gammas32[k], logs32[k], x[i, k] = gammas[k], logs[k], values[k]
        ratio_jacobian32(alpha32, gammas32, logs32, np.float32(total), x[i], rows, jacobian[i], tables)
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def dirichlet_samples_cdf32(key, first, alpha, alpha32, rest32, rows, x, jacobian):  # pragma: no cover - compiled
    """Draw in float64 as :func:`dirichlet_samples_cdf`, round x to float32, derive in float32."""
    dims = alpha.shape[0]
    gammas, logs, values = np.empty(dims), np.empty(dims), np.empty(dims)
    rejections = 0
    for i in range(x.shape[0]):
        counter = (first + np.uint64(i)) * np.uint64(dims)
        _, rejected = dirichlet_draw(key, counter, alpha, gammas, logs, values)
        for k in range(dims):
            x[i, k] = values[k]
        cdf_jacobian32(alpha32, rest32, x[i], rows, jacobian[i])
        rejections += rejected
    return rejections
