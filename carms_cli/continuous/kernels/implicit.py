"""Implicit reparameterization of the Gamma shape: ∂x/∂α for x ~ Gamma(α, 1), exact to rounding.

For x ~ Gamma(α, 1) with CDF P(α, x) (the regularised lower incomplete gamma function) the
implicit derivative is

    g(α, x) = ∂x/∂α = −∂_α P(α, x) / q(x),    q(x) = x^{α−1} e^{−x} / Γ(α),

and for a rate β, x = x̃/β gives ∂x/∂α = g(α, x̃)/β. The series and the fraction below differentiate a
representation of P or Q = 1 − P in forward mode and divide by the density *before* summing,
so Γ(α) cancels and only ``log`` and the function r(a) = ln a − ψ(a) are needed:

* **series** (x ≤ max(α + 0.3√α, 1.5); for α ≥ 1 also x ≤ α + 2.5 + α/4): P = q·H with H = Σ_n h_n,
  h_n = x^{n+1}/(α(α+1)…(α+n)), so
  ∂_α P / q = (ln x − ψ(α))·H + Σ_n h_n·∂_α ln h_n; using ψ(α) + 1/α = ψ(α + 1),

      g = Σ_n h_n·d_n − (ln x − ψ(α + 1))·H,    d_n = Σ_{k=1}^{n} 1/(α + k),

  which has no 1/α² cancellation for small α. The loop stops when a rigorous bound on both
  tails (the ratio x/(α + n + 1) < 1 bounds them geometrically) is below ε/2 of |g|. Below α = 10
  the first 64 terms are (x/α)·xⁿ·c_n with c_n = 1/((α + 1)…(α + n)) from the per-α table, summed
  as four independent chains (no division, a quarter of the dependent multiplies);
* **continued fraction** (otherwise): Q = x·q·K with K = 1/F, F = b₁ + a₂/(b₂ + a₃/(b₃ + …)),
  b_n = x + 2n − 1 − α, a_n = −(n − 1)(n − 1 − α), evaluated by the modified Lentz method
  with the derivatives of its C_n and D_n carried along, so that

      g = ∂_α Q / q = x·K·((ln x − ψ(α)) − ∂_α ln F).

  It stops when both the step of F and the step of ∂_α ln F are below ε/2 relative.

* **Temme's uniform expansion** (α ≥ 10 and |η| ≤ 1, η = sign(λ − 1)√(2(λ − 1 − ln λ)), λ = x/α):
  g = λ(1 + Γ*(α)·B(η)), a polynomial of degree 30 in η whose coefficients depend on α alone
  (derived in :mod:`~carms_cli.continuous.kernels.temme`; truncation below 2e−16 relative there).
  It replaces the series and the fraction where they are slow: near x ≈ α they need about
  8.5√α and √α terms (13 µs per draw at α = 1e6), Temme 31 multiply-adds whatever α.

Everything that depends on α alone (r(α + 1), r(α), 1/α, Temme's coefficients) is computed once
per α into a table (:func:`prepare_shape`, :data:`TABLE_SIZE` values) that the per-draw helpers
read; they allocate nothing, so a GPU kernel can call them (with a device copy of the table).

``ln x − ψ(a)`` is formed as ``ln(x/a) + r(a)`` (``log1p`` when x is near a), so that for large α
the difference of two nearly equal logarithms is not lost to rounding. Near x ≈ α the series
needs about 8.5√α terms in float64 (the continued fraction about √α, but it loses digits to
cancellation just above α, hence the series up to α + 0.3√α); the term budget is 128 + 16√α,
never a fixed cap (a cap of 500 gives relative errors of 0.29 at α = 1e5).

The helpers are built for float64 and float32 from one source (:func:`_build`): every constant
has the precision's type, so the float32 variant computes in float32 arithmetic (as a GPU kernel
would), with ε = 2⁻²⁴ and Kahan-compensated series sums (thousands of terms at large α).
"""

import math

import numpy as np

from carms_cli.continuous.kernels import temme
from carms_cli.continuous.kernels.trial import gamma_variate
from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel

#: r(a) = ln a − ψ(a) ~ 1/(2a) + Σ_k B_{2k}/(2k·a^{2k}): the coefficients of a^{−2}, a^{−4}, … a^{−14}.
_ASYMPTOTIC = (1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0, -691.0 / 32760.0, 1.0 / 12.0)
#: The series is used for x ≤ max(α, this): for α < 1.5 and 1 < x ≤ 1.5 it needs ≤ 25 terms where the
#: continued fraction needs 60–100, and it is as accurate (≤ 1e−14 relative; beyond x ≈ α + 2 it is not).
_SERIES_BELOW = 1.5
#: ... and for x ≤ α + this·√α: just above α the continued fraction loses digits to cancellation (2.5e−13 at
#: α = 1e6, 4e−5 in float32), the series none.
_SERIES_REACH = 0.3
#: ... and, for α ≥ _SERIES_WIDE_FROM, for x ≤ α + this: there the series' cancellation between Σ h_n·d_n and
#: (ln x − ψ(α + 1))·H costs a few ulps (≤ 7e−15 measured against mpmath), and it needs 20–30 cheap
#: terms where the continued fraction needs 30–60 dear ones (two dependent divisions each). For smaller α
#: (Γ(α) large) the cancellation grows: 2e−14 at α = 0.1, x = 2.
_SERIES_ABOVE = 2.5
_SERIES_SLOPE = 0.25
_SERIES_WIDE_FROM = 1.0
#: r(a) is shifted up to a ≥ this before the asymptotic series (its next term is then < 1e−16 relative).
_SHIFT_TO = 10.0
#: Temme's expansion is used for α ≥ this and |η| ≤ :data:`TEMME_ETA` (its truncation is then below 2e−16
#: relative, 1.4e−15 at α = 8, 3e−12 at α = 5: see :mod:`~carms_cli.continuous.kernels.temme`).
TEMME_FROM = 10.0
TEMME_ETA = 1.0
#: The per-α table of :func:`prepare_shape`: r(α + 1), r(α), 1 if Temme's expansion applies (α ≥ TEMME_FROM)
#: else 0, 1/α, then the coefficients Γ*(α)·Σ_k e_{k,n} α^{−k} of B in powers of η.
TABLE_TEMME = 2
TABLE_INVERSE = 3
TABLE_COEFFICIENTS = 4
TEMME_TERMS = temme.DEGREE + 3
#: Table slots for them: a multiple of 4 (four Horner chains in η⁴), the padding 0.
TEMME_SLOTS = -(-TEMME_TERMS // 4) * 4
#: Below TEMME_FROM the same slots hold the series' first SERIES_TERMS coefficients instead (a multiple of 4):
#: c_n = 1/((α + 1)…(α + n)), e_n = c_n·d_n and s_n = 1/(α + n + 1), so that the series' terms are products
#: x^n·c_n with no dependency between them (four chains in x⁴); beyond them the recursive loop takes over.
SERIES_TERMS = 64
TABLE_SIZE = TABLE_COEFFICIENTS + max(TEMME_SLOTS, 3 * SERIES_TERMS)


def _build(real):
    """Compile-ready helpers for one precision ``real`` (``np.float64`` or ``np.float32``)."""
    zero, one, two, half = real(0.0), real(1.0), real(2.0), real(0.5)
    tolerance = real(np.finfo(real).eps) * half
    shift_to = real(_SHIFT_TO)
    c2, c4, c6, c8, c10, c12, c14 = (real(c) for c in _ASYMPTOTIC)
    near = half  # use log1p(x/a − 1) when |x − a| < a/2
    budget_base, budget_slope = real(128.0), real(16.0)
    series_below = real(_SERIES_BELOW)
    reach_squared = real(_SERIES_REACH * _SERIES_REACH)
    series_above, series_slope, series_wide_from = real(_SERIES_ABOVE), real(_SERIES_SLOPE), real(_SERIES_WIDE_FROM)
    tiny = real(np.finfo(real).tiny) * real(1e10)  # Lentz's stand-in for a zero denominator
    compensated = real == np.float32  # float32 sums thousands of terms at large α: compensate them
    subnormal_ratio = real(np.finfo(real).tiny / np.finfo(real).eps)  # below this, x/a may be subnormal (a ≥ 1)
    temme_from = real(TEMME_FROM)
    eta_limit = real(TEMME_ETA * TEMME_ETA / 2)  # |η| ≤ TEMME_ETA ⇔ λ − 1 − ln λ ≤ this
    expansion = np.array([[float(v) for v in row] for row in temme.derivative_coefficients()], dtype=real)
    orders = expansion.shape[0]
    log_gamma_star = np.array([float(v) for v in temme.log_gamma_star()], dtype=real)
    temme_terms, temme_slots = TEMME_TERMS, TEMME_SLOTS
    table_temme, table_inverse, first = TABLE_TEMME, TABLE_INVERSE, TABLE_COEFFICIENTS
    table_size, series_terms = TABLE_SIZE, SERIES_TERMS
    products, weighted, following = first, first + SERIES_TERMS, first + 2 * SERIES_TERMS  # c_n, e_n, s_n

    @jit.helper()
    def log_minus_digamma(a):  # pragma: no cover - compiled
        """Return r(a) = ln a − ψ(a) (> 0, decreasing) for a > 0."""
        shifted = zero
        b = a
        if b < shift_to:
            # Σ_k 1/(a + k) over the shift as one fraction num/den (positive terms: one division, no cancellation)
            num = zero
            den = one
            while b < shift_to:
                num = num * b + den
                den *= b
                b += one
            shifted = num / den + math.log(a / b)
        w = one / (b * b)
        tail = w * (c2 + w * (c4 + w * (c6 + w * (c8 + w * (c10 + w * (c12 + w * c14))))))
        return shifted + half / b + tail

    @jit.helper()
    def log_ratio(x, a):  # pragma: no cover - compiled
        """Return ln(x/a) for a ≥ 1: log1p((x − a)/a) when x is within a/2 of a, ln x − ln a for tiny x."""
        difference = x - a
        if abs(difference) < near * a:
            return math.log1p(difference / a)
        if x < subnormal_ratio:  # x/a could be subnormal and lose digits; log x itself is exact to rounding
            return math.log(x) - math.log(a)
        return math.log(x / a)

    @jit.helper(inline="always")
    def kahan(total, lost, term):  # pragma: no cover - compiled
        """Return ``total + term`` and the new compensation, carrying the rounding error ``lost``."""
        y = term - lost
        t = total + y
        return t, (t - total) - y

    @jit.helper()
    def budget(alpha):  # pragma: no cover - compiled
        """Return the term budget of either branch, 128 + 16√α.

        The series needs about 8.5√α terms near x ≈ α, the continued fraction at most 70 just above x = 1.5.
        """
        return int(budget_base + budget_slope * math.sqrt(alpha))

    @jit.helper()
    def prepare(alpha, table):  # pragma: no cover - compiled
        """Fill ``table`` (length :data:`TABLE_SIZE`) with what g(α, ·) needs of α alone.

        r(α + 1) and r(α) for the series and the continued fraction; for α ≥ :data:`TEMME_FROM`
        Γ*(α) = exp(Σ_m B_{2m}/(2m(2m − 1)) α^{1−2m}) times the coefficients of B in powers of η, below it
        the series' c_n = Π_{k≤n} 1/(α + k), e_n = c_n·Σ_{k≤n} 1/(α + k) and s_n = 1/(α + n + 1) for
        n < :data:`SERIES_TERMS`.
        """
        table[0] = log_minus_digamma(alpha + one)
        table[1] = log_minus_digamma(alpha)
        table[table_inverse] = one / alpha
        for n in range(first, table_size):
            table[n] = zero
        if alpha < temme_from:
            table[table_temme] = zero
            c = one
            d = zero
            for n in range(series_terms):
                table[products + n] = c
                table[weighted + n] = c * d
                r = one / (alpha + real(n + 1))
                table[following + n] = r
                c *= r
                d += r
            return
        table[table_temme] = one
        w = table[table_inverse]
        w2 = w * w
        log_star = zero
        for m in range(log_gamma_star.shape[0] - 1, -1, -1):
            log_star = log_star * w2 + log_gamma_star[m]
        gamma_star = math.exp(log_star * w)
        for n in range(temme_terms):
            coefficient = zero
            for k in range(orders - 1, -1, -1):
                coefficient = coefficient * w + expansion[k, n]
            table[first + n] = gamma_star * coefficient

    @jit.helper()
    def uniform(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) by Temme's expansion (see :mod:`~carms_cli.continuous.kernels.temme`), or −1 outside it.

        g = λ(1 + Γ*(α)·B(η)) with λ = x/α, η = sign(λ − 1)√(2(λ − 1 − ln λ)); −1 (g is positive) when
        |η| > :data:`TEMME_ETA`. λ − 1 − ln λ = μ − log1p(μ), μ = (x − α)/α, is computed directly: its
        absolute error ε|μ| moves η by about ε and g by about ε/2 (λ − 1 − ln λ ≈ μ²/2 is then
        resolved to within a few ulps of α, where η ≈ 0).
        """
        inverse = table[table_inverse]  # multiplies, not divisions: x/α to within 1.5 ulp
        mu = (x - alpha) * inverse
        half_square = mu - math.log1p(mu)
        if half_square > eta_limit:
            return -one
        eta = math.copysign(math.sqrt(two * abs(half_square)), mu)
        eta2 = eta * eta
        # four Horner chains in η⁴ (powers 4j, 4j + 1, 4j + 2, 4j + 3): a quarter of the dependent multiply-adds
        eta4 = eta2 * eta2
        top = first + temme_slots - 4
        c0, c1, c2, c3 = table[top], table[top + 1], table[top + 2], table[top + 3]
        for j in range(top - 4, first - 1, -4):
            c0 = c0 * eta4 + table[j]
            c1 = c1 * eta4 + table[j + 1]
            c2 = c2 * eta4 + table[j + 2]
            c3 = c3 * eta4 + table[j + 3]
        lam = x * inverse
        return lam + lam * ((c0 + eta * c1) + eta2 * (c2 + eta * c3))

    @jit.helper()
    def _continue_series(alpha, x, level, h, total_h, total_g, d, k, terms):  # pragma: no cover - compiled
        """Add the series' terms after h_k (= ``h``; d_k = ``d``) to the sums until its tail bound is met."""
        size = abs(level)
        lost_d = zero  # Kahan compensations (float32 only: thousands of terms at large α)
        lost_h = zero
        lost_g = zero
        cap = budget(alpha)
        while terms < cap:
            k += one
            r = one / (alpha + k)
            h = h * (x * r)  # one multiply on the dependency chain
            if compensated:
                d, lost_d = kahan(d, lost_d, r)
                total_h, lost_h = kahan(total_h, lost_h, h)
                total_g, lost_g = kahan(total_g, lost_g, h * d)
            else:
                d += r
                total_h += h
                total_g += h * d
            terms += 1
            if h > tolerance * total_h:
                continue  # H itself has not converged: no need for the bound yet
            # tails after term n, with ρ = x/(α + n + 1) < 1 and d_m ≤ d_n + (m − n)/(α + n + 1):
            # Σ h_m ≤ h ρ/(1 − ρ), Σ h_m d_m ≤ h (d ρ/(1 − ρ) + s ρ/(1 − ρ)²), s = 1/(α + n + 1)
            s = one / (alpha + k + one)
            rho = x * s
            if rho >= one:
                continue  # x > α + n + 1 (x a little above α): the terms have not started to fall
            geometric = rho / (one - rho)
            tail = h * (d * geometric + s * geometric / (one - rho) + size * geometric)
            if tail <= tolerance * abs(total_g - level * total_h):
                break
        return total_g - level * total_h, terms

    @jit.helper()
    def series(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) by the differentiated series of P, and the terms used (see :func:`classic` for where).

        Below :data:`TEMME_FROM` (float64) the first :data:`SERIES_TERMS` terms are h_n = (x/α)·xⁿ·c_n with
        the table's c_n, summed as four independent chains in x⁴ (a quarter of the dependent multiplies of
        the recursion h_n = h_{n−1}·x/(α + n), and no division); the stopping rule is the same bound, checked
        after every fourth term. Past them, and in float32 or above TEMME_FROM, the recursion.
        """
        # ln x − ψ(α + 1) = ln(x/(α + 1)) + r(α + 1)
        above = alpha + one
        level = log_ratio(x, above) + table[0]
        size = abs(level)
        h = x / alpha
        # (x ≤ α + 64 keeps x⁶⁷ finite; the dispatch never sends larger x to the series below α = 10)
        if not compensated and table[table_temme] == zero and x <= alpha + real(series_terms):
            x2 = x * x
            x4 = x2 * x2
            p0, p1, p2 = h, h * x, h * x2  # (x/α)·x^i for the four chains, times x⁴ per step
            p3 = p1 * x2
            h0, h1, h2, h3 = zero, zero, zero, zero
            g0, g1, g2, g3 = zero, zero, zero, zero
            last = zero
            for n in range(0, series_terms, 4):
                last = p3 * table[products + n + 3]  # h_{n+3}
                weight = p3 * table[weighted + n + 3]  # h_{n+3}·d_{n+3}
                h0 += p0 * table[products + n]
                h1 += p1 * table[products + n + 1]
                h2 += p2 * table[products + n + 2]
                h3 += last
                g0 += p0 * table[weighted + n]
                g1 += p1 * table[weighted + n + 1]
                g2 += p2 * table[weighted + n + 2]
                g3 += weight
                p0, p1, p2, p3 = p0 * x4, p1 * x4, p2 * x4, p3 * x4
                total_h = (h0 + h1) + (h2 + h3)
                if last > tolerance * total_h:
                    continue
                # the recursion's tail bound below, times (1 − ρ)² (no division)
                s = table[following + n + 3]
                rho = x * s
                if rho >= one:
                    continue
                rest = one - rho
                g = ((g0 + g1) + (g2 + g3)) - level * total_h
                if rho * ((weight + size * last) * rest + s * last) <= tolerance * abs(g) * rest * rest:
                    return g, n + 4
            n = series_terms - 1  # not met within the table's terms (x well above α): go on recursively
            total_h, total_g = (h0 + h1) + (h2 + h3), (g0 + g1) + (g2 + g3)
            d = table[weighted + n] / table[products + n]
            return _continue_series(alpha, x, level, last, total_h, total_g, d, real(n), n + 1)
        return _continue_series(alpha, x, level, h, h, zero, zero, zero, 1)

    @jit.helper()
    def fraction(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) by the differentiated continued fraction of Q, and its terms (where the series is not)."""
        level = log_ratio(x, alpha) + table[1]  # ln x − ψ(α)
        b = x + one - alpha
        c = b  # C₁ = b₁, D₁ = 0 (modified Lentz, F₁ = b₁); two divisions per term
        inv_c = one / c
        dc = -one
        d = zero
        dd = zero
        f = b
        dlog = -inv_c  # ∂_α ln F
        n = one
        cap = budget(alpha)
        terms = 1
        while terms < cap:
            n += one
            m = n - one
            a = -m * (m - alpha)  # a_n and ∂_α a_n = n − 1
            b += two  # b_n, ∂_α b_n = −1
            denominator = b + a * d
            if denominator == zero:
                denominator = tiny
            d_new = one / denominator
            slope = -one + m * d + a * dd  # ∂_α of the denominator
            c_new = b + a * inv_c
            if c_new == zero:
                c_new = tiny
            dc_new = -one + (m - a * dc * inv_c) * inv_c
            inv_c = one / c_new
            step = c_new * d_new
            dstep = dc_new * inv_c - d_new * slope  # ∂_α ln C_n + ∂_α ln D_n
            c, dc, d, dd = c_new, dc_new, d_new, -d_new * d_new * slope
            f *= step
            dlog += dstep
            terms += 1
            if abs(step - one) <= tolerance and abs(dstep) <= tolerance * abs(level - dlog):
                break
        return x / f * (level - dlog), terms

    @jit.helper(inline="always")
    def classic(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) by the series (x ≤ max(α + 0.3√α, 1.5), or α ≥ 1 and x ≤ α + 2.5 + α/4) or the fraction."""
        above = x - alpha
        if above <= zero or x <= series_below or above * above <= reach_squared * alpha:
            return series(alpha, x, table)
        if alpha >= series_wide_from and above <= series_above + series_slope * alpha:
            return series(alpha, x, table)
        return fraction(alpha, x, table)

    @jit.helper()
    def shape_derivative_terms(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) = ∂x/∂α of a Gamma(α, 1) variate x, and the terms its branch used.

        ``table`` is :func:`prepare`'s for this α. Temme's expansion (its :data:`TEMME_TERMS` coefficients
        counted as terms) where α ≥ :data:`TEMME_FROM` and |η| ≤ :data:`TEMME_ETA`, else the series or
        the continued fraction; the same rule, and numbers, as :func:`shape_derivative`.
        """
        if x <= zero:
            return zero, 0  # g → 0 as x → 0 (x underflowed)
        g = -one
        if table[table_temme] > zero:
            g = uniform(alpha, x, table)
        if g >= zero:
            return g, temme_terms
        return classic(alpha, x, table)

    # inlined into its caller, with one exit: measured about 1.8× faster at α = 1000 than a call of
    # shape_derivative_terms (numba's calls between compiled helpers, and the tuple, cost that much)
    @jit.helper(inline="always")
    def shape_derivative(alpha, x, table):  # pragma: no cover - compiled
        """Return g(α, x) = ∂x/∂α of a Gamma(α, 1) variate x (x = 0 gives 0); ``table`` is :func:`prepare`'s."""
        g = zero  # g → 0 as x → 0 (x underflowed)
        if x > zero:
            g = -one
            if table[table_temme] > zero:
                g = uniform(alpha, x, table)
            if g < zero:
                g = classic(alpha, x, table)[0]
        return g

    return log_minus_digamma, prepare, uniform, series, fraction, shape_derivative_terms, shape_derivative


(
    log_minus_digamma,
    prepare_shape,
    gamma_uniform,
    gamma_series,
    gamma_fraction,
    gamma_shape_derivative_terms,
    gamma_shape_derivative,
) = _build(np.float64)
(
    log_minus_digamma32,
    prepare_shape32,
    gamma_uniform32,
    gamma_series32,
    gamma_fraction32,
    gamma_shape_derivative_terms32,
    gamma_shape_derivative32,
) = _build(np.float32)


@cached_kernel(nogil=True)
def shape_table(alpha, table):  # pragma: no cover - compiled
    """Fill ``table`` with :func:`prepare_shape`'s per-α values (float64; for a GPU kernel's device copy)."""
    prepare_shape(alpha, table)


@cached_kernel(nogil=True)
def shape_derivatives(alpha, x, out, terms):  # pragma: no cover - compiled
    """Write g(α, x[i]) and its terms into ``out`` and ``terms`` (float64)."""
    table = np.empty(TABLE_SIZE)
    prepare_shape(alpha, table)
    for i in range(x.shape[0]):
        out[i], terms[i] = gamma_shape_derivative_terms(alpha, x[i], table)


@cached_kernel(nogil=True)
def shape_derivatives32(alpha, x, out, terms):  # pragma: no cover - compiled
    """Write g(α, x[i]) and its terms into ``out`` and ``terms``, in float32 arithmetic (α, x float32)."""
    table = np.empty(TABLE_SIZE, dtype=np.float32)
    prepare_shape32(alpha, table)
    for i in range(x.shape[0]):
        out[i], terms[i] = gamma_shape_derivative_terms32(alpha, x[i], table)


@cached_kernel(nogil=True)
def gamma_samples(key, first, alpha, out):  # pragma: no cover - compiled
    """Draw Gamma(α, 1) variates for the sub-key counters ``first …`` into ``out``; return the rejections."""
    rejections = 0
    for i in range(out.shape[0]):
        value, rejected = gamma_variate(key, first + np.uint64(i), alpha)
        out[i] = value
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def gamma_samples_with_derivative(key, first, alpha, out, derivative):  # pragma: no cover - compiled
    """Draw as :func:`gamma_samples` and write ∂x/∂α of each (float64); return the rejections."""
    table = np.empty(TABLE_SIZE)
    prepare_shape(alpha, table)
    rejections = 0
    for i in range(out.shape[0]):
        value, rejected = gamma_variate(key, first + np.uint64(i), alpha)
        out[i] = value
        derivative[i] = gamma_shape_derivative(alpha, value, table)
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def gamma_samples_with_derivative32(key, first, alpha, out, derivative):  # pragma: no cover - compiled
    """Draw as :func:`gamma_samples`, round to float32, write ∂x/∂α in float32 arithmetic; return the rejections."""
    shape = np.float32(alpha)
    table = np.empty(TABLE_SIZE, dtype=np.float32)
    prepare_shape32(shape, table)
    rejections = 0
    for i in range(out.shape[0]):
        value, rejected = gamma_variate(key, first + np.uint64(i), alpha)
        rounded = np.float32(value)
        out[i] = rounded
        derivative[i] = gamma_shape_derivative32(shape, rounded, table)
        rejections += rejected
    return rejections
