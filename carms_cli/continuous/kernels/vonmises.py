"""von Mises(0, κ): the Best–Fisher sampler on counter-RNG sub-keys, and ∂x/∂κ exact to rounding.

**Sampler.** Best & Fisher (1979): a wrapped-Cauchy proposal of parameter ρ accepted by a
squeeze and a log test; at most about 1.52 attempts per variate on average. With
s = √(1 + 4κ²) and τ = 1 + s, Best–Fisher's ρ = (τ − √(2τ))/(2κ) cancels for small κ (τ → 2);
here it is formed as

    ρ = κ·h,    h = 2τ / ((s + 1)(τ + √(2τ))),

which is the same number without the cancellation (h → 1/2 as κ → 0). The proposal angle is
θ = 2·atan(k·tan(πu₁/2)), k = (1 − ρ)/(1 + ρ) — algebraically Best–Fisher's θ = arccos f,
f = (1 + rz)/(r + z), z = cos πu₁, r = (1 + ρ²)/(2ρ), but without arccos's loss of digits near
f = 1 (the small θ of a large κ) — and c = κ(r − f) = κr·(1 − a²)/(1 + a z) with a = 1/r, so
that κ = 0 gives c = 1, every attempt accepted and θ = πu₁: the uniform distribution, exactly.
Attempt a uses the counters 3a, 3a + 1, 3a + 2 of the variate's sub-key (proposal, acceptance,
sign), so the unbounded number of attempts never shifts another draw, as for the Gamma sampler.

**Derivative.** For F the von Mises CDF on [−π, π) and q its density,

    ∂x/∂κ = −∂_κ F(x|κ) / q(x|κ),    ∂_κ q(t) = (cos t − A) q(t),    A = I₁(κ)/I₀(κ),

and ∂x/∂κ is odd in x, so take x ≤ 0. Since ∫_{−π}^{0} ∂_κ q = ∂_κ F(0) = 0, the derivative is
an integral with a one-signed integrand on either side of the point x₀ where cos x₀ = A:

* **near** (cos x > A):  ∂x/∂κ = ∫_x^0 (cos t − A) e^{κ(cos t − cos x)} dt,
* **tail** (cos x ≤ A):  ∂x/∂κ = ∫_{−π}^{x} (A − cos t) e^{κ(cos t − cos x)} dt,

both ≥ 0, so no digits are lost to cancellation anywhere (Hill's Fourier series of F loses
about q(0)/q(x)·ε near ±π: 1.2e−9 relative at κ = 10.5, x = −3) and I₀(κ) cancels. With
S(t) = sin²(t/2), cos t − A = (1 − A) − 2S(t) and κ(cos t − cos x) = 2κ(S(x) − S(t)) keep their
digits for large κ when 1 − A is computed directly (:func:`one_minus_mean_resultant`). Both
integrands are entire in t; the near piece (exponent varying by at most κ(1 − A) < 0.6) takes one
Gauss–Legendre rule, the tail piece a Gauss–Legendre rule per panel over which the exponent falls
by :data:`PANEL_DROP`, until a rigorous bound on the rest, 2(π − |t|)·e^{−fall}, is below ε/4 of
the sum, or −π is reached — the true −π: fl(π) is 1.2e−16 short of it, which matters relative to
the integral for x within 1e−4 of ±π (x + π is formed as (x + fl(π)) + (π − fl(π))).
Where κ·cos²(x/2) ≥ :data:`SERIES_FROM` (large κ, all but impossible draws) the tail is instead a
series in 1/κ (:func:`_tail_series`: Laplace's method in y = 2√κ·sin(t/2), ≈ 10 terms, one
``erfc``), 5–8 times cheaper than its panels and equal to them within 2e−15.
"""

import math

import numpy as np

from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel
from carms_cli.core.rng import GOLDEN_GAMMA, mix64, uniform

#: Gauss–Legendre nodes of the near piece (exponent change below 0.6 over [x, 0]; 8 nodes give 1.4e−13, 10 and 12
#: the same numbers to rounding: ≤ 6.4e−16 relative against mpmath at κ = 1e−3 … 1e5).
NEAR_NODES = 10
#: Gauss–Legendre nodes per tail panel.
TAIL_NODES = 16
#: Fall of the exponent κ(cos x − cos t) across one tail panel (16 nodes: ≤ 2e−15 relative per panel).
PANEL_DROP = 8.0
#: 1 − A(κ) by its asymptotic series from this κ on (its error is then below e^{−2κ}); below, by
#: the backward recurrence of A = I₁/I₀ (relative error of 1 − A at most ≈ 2κ·ε = 9e−15).
ASYMPTOTIC_FROM = 20.0

#: The tail's series in 1/κ (:func:`_tail_series`) is used where κ·cos²(x/2) ≥ this (the moved limit
#: changes it by e^{−50}) and |sin(x/2)| ≤ SERIES_SIN (its terms fall at least as fast as sin²(x/2)) ...
SERIES_FROM = 25.0
SERIES_SIN = 0.5
#: ... summing at most this many terms.
SERIES_TERMS = 64

_NEAR_X, _NEAR_W = np.polynomial.legendre.leggauss(NEAR_NODES)
_TAIL_X, _TAIL_W = np.polynomial.legendre.leggauss(TAIL_NODES)
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_THREE = np.uint64(3)
_EPS = float(np.finfo(np.float64).eps)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
#: π − fl(π): the tail integral's offsets reach x + π, not x + fl(π).
_PI_LOW = 1.2246467991473532e-16


@jit.helper()
def vonmises_variate(key, counter, kappa):  # pragma: no cover - compiled
    """Return a von Mises(0, κ) variate in [−π, π] from the sub-key hashed at ``counter``, and its rejections."""
    sub = mix64(key + (counter + _ONE) * GOLDEN_GAMMA)
    s = math.sqrt(1.0 + 4.0 * kappa * kappa)
    tau = 1.0 + s
    h = 2.0 * tau / ((s + 1.0) * (tau + math.sqrt(2.0 * tau)))  # ρ/κ
    rho = kappa * h
    a = 2.0 * rho / (1.0 + rho * rho)  # 1/r
    kappa_r = (1.0 + rho * rho) / (2.0 * h)  # κr, finite at κ = 0
    k = (1.0 - rho) / (1.0 + rho)
    rejections = 0
    attempt = np.uint64(0)
    while True:
        first = attempt * _THREE
        u1 = uniform(sub, first)
        u2 = uniform(sub, first + _ONE)
        attempt += _ONE
        z = math.cos(math.pi * u1)
        c = kappa_r * (1.0 - a * a) / (1.0 + a * z)
        if c * (2.0 - c) - u2 > 0.0 or math.log(c / u2) + 1.0 - c >= 0.0:
            break
        rejections += 1
    theta = 2.0 * math.atan(k * math.tan(0.5 * math.pi * u1))
    if uniform(sub, first + _TWO) < 0.5:
        theta = -theta
    return theta, rejections


@jit.helper()
def one_minus_mean_resultant(kappa):  # pragma: no cover - compiled
    """Return 1 − A(κ), A = I₁(κ)/I₀(κ) (1 at κ = 0).

    κ ≥ :data:`ASYMPTOTIC_FROM`: with the Hankel expansions I_ν(κ) ~ e^κ/√(2πκ)·Σ (−1)^j a_j(ν) κ^{−j},
    1 − A = Σ_{j≥1} (p_j + q_j) κ^{−j} / Σ_{j≥0} p_j κ^{−j}, p_j = ((2j−1)!!)²/(j! 8^j),
    q_j = Π_{i≤j} |(2i−1)² − 4| / (j! 8^j): positive terms, no cancellation; summed while they fall.
    Below, A by the backward recurrence r_n = κ/(2n + κ r_{n+1}) from n = 40 + 2κ (r_n = I_n/I_{n−1}).
    """
    if kappa >= ASYMPTOTIC_FROM:
        z = 1.0 / kappa
        p = 1.0
        q = 1.0
        power = 1.0
        numerator = 0.0
        denominator = 1.0
        j = 0
        previous = math.inf
        while True:
            j += 1
            odd = 2.0 * j - 1.0
            p *= odd * odd / (8.0 * j)
            q *= abs(odd * odd - 4.0) / (8.0 * j)
            power *= z
            term = (p + q) * power
            if term >= previous:
                break  # the asymptotic series has reached its smallest term (≈ e^{−2κ})
            numerator += term
            denominator += p * power
            previous = term
            if term <= 0.25 * _EPS * numerator:
                break
        return numerator / denominator
    r = 0.0
    n = int(40.0 + 2.0 * kappa)
    while n > 0:
        r = kappa / (2.0 * n + kappa * r)
        n -= 1
    return 1.0 - r


@jit.helper(inline="always")
def _near(kappa, gap, x, sx):  # pragma: no cover - compiled
    """∫_x^0 (gap − 2S(t)) e^{2κ(S(x) − S(t))} dt for x ≤ 0, S(t) = sin²(t/2), by Gauss–Legendre."""
    half = -0.5 * x
    total = 0.0
    for i in range(NEAR_NODES):
        t = half * (_NEAR_X[i] - 1.0)  # nodes on [x, 0]
        st = math.sin(0.5 * t)
        # S(x) − S(t) = (sin(x/2) − sin(t/2))(sin(x/2) + sin(t/2)): the difference of the two rounded sines is
        # off by ε·|sin(x/2)| at most, which moves the exponent by 4κε·S(x) < 2κ(1 − A)·ε < 1.2ε (near piece)
        total += _NEAR_W[i] * (gap - 2.0 * st * st) * math.exp(2.0 * kappa * (sx - st) * (sx + st))
    return half * total


@jit.helper(inline="always")
def _tail(kappa, gap, x, sx):  # pragma: no cover - compiled
    """∫_{−π}^{x} (2S(t) − gap) e^{2κ(S(x) − S(t))} dt for x ≤ 0, by Gauss–Legendre panels; and the nodes.

    The nodes are placed by their offset τ = x − t ≥ 0, never by t itself: for large κ the integrand
    falls by e^{−κ|sin x|·τ}, and rounding t to |x|·ε would move it by κ|x|ε relative (2e−11 at κ = 1e5).
    """
    cx = math.cos(0.5 * x)
    total = 0.0
    lower = 0.0  # offsets: the panel covers τ ∈ [lower, upper]
    span = (x + math.pi) + _PI_LOW  # x + π to ε relative: x + fl(π) is exact for x ≤ −π/2, but 1.2e−16 short
    drop = 0.0
    nodes = 0
    while lower < span:
        drop += PANEL_DROP
        level = sx * sx + drop / (2.0 * kappa) if kappa > 0.0 else 2.0  # S at the panel's far end
        upper = span if level >= 1.0 else x + 2.0 * math.asin(math.sqrt(level))
        half = 0.5 * (upper - lower)
        middle = 0.5 * (upper + lower)
        part = 0.0
        for i in range(TAIL_NODES):
            tau = middle + half * _TAIL_X[i]
            # with u = τ/4: sin(x/2) − sin(t/2) = 2 sin u·cos(x/2 − u), cos(x/2 − u) = cos(x/2)cos u + sin(x/2)sin u
            # (two calls where sin(t/2), cos(x/2 − u) and sin u took three)
            su = math.sin(0.25 * tau)
            cu = math.cos(0.25 * tau)
            difference = 2.0 * su * (cx * cu + sx * su)  # S(x)^½ − S(t)^½ signed
            st = sx - difference
            part += _TAIL_W[i] * (2.0 * st * st - gap) * math.exp(2.0 * kappa * difference * (sx + st))
        total += half * part
        nodes += TAIL_NODES
        lower = upper
        # beyond the panel the integrand is below (2 − gap)·e^{−drop} ≤ 2e^{−drop} over at most span − τ
        if 2.0 * (span - lower) * math.exp(-drop) <= 0.25 * _EPS * total:
            break
    return total, nodes


@jit.helper(inline="always")
def _tail_series(kappa, gap, sx):  # pragma: no cover - compiled
    """Return the tail integral of :func:`_tail` as a series in 1/κ, and its terms (NaN, 0: no convergence).

    In y = 2√κ·sin(t/2) the exponent is exactly (Y² − y²)/2 (Y = 2√κ·sin(x/2) = −a), dt =
    dy/(√κ·√(1 − v y²)) with v = 1/(4κ), and 2S(t) = 2v y², so with (1 − v y²)^{−½} = Σ b_k v^k y^{2k},
    b_k = (2k − 1)!!/(2k)!!, and M_k = ∫_{−∞}^{−a} y^{2k} e^{(a² − y²)/2} dy (the lower limit −2√κ moved
    to −∞: a change below e^{−2κ cos²(x/2)} relative),

        √κ·tail = Σ_k v^k M_k (2 b_{k−1} − gap·b_k),    M_0 = √(π/2)·e^{a²/2} erfc(a/√2),
        v^k M_k = v^k a^{2k−1} + (2k − 1)·v·v^{k−1} M_{k−1}   (all positive: no cancellation).

    Asymptotic, not convergent: it is summed while its terms fall (their ratio is about
    max(sin²(x/2), (2k + 1)/(4κ))) and until a term is below ε/4 of the sum.
    """
    a = -2.0 * math.sqrt(kappa) * sx
    v = 0.25 / kappa
    m = _SQRT_HALF_PI * math.exp(0.5 * a * a) * math.erfc(a * _INV_SQRT2)
    total = -gap * m
    power = v * a  # v^k a^{2k−1}
    grow = v * a * a
    b_previous = 1.0
    previous = math.inf
    for k in range(1, SERIES_TERMS):
        odd = 2.0 * k - 1.0
        m = power + odd * v * m
        b = b_previous * odd / (odd + 1.0)
        term = m * (2.0 * b_previous - gap * b)
        total += term
        if term > 0.5 * previous:
            break  # falling too slowly (x far out) or the asymptotic series turning: use the panels
        if term <= 0.25 * _EPS * total:
            return total / math.sqrt(kappa), k + 1
        previous = term
        power *= grow
        b_previous = b
    return math.nan, 0


@jit.helper()
def kappa_derivative_terms(kappa, gap, x):  # pragma: no cover - compiled
    """Return ∂x/∂κ of a von Mises(0, κ) variate x ∈ [−π, π] (``gap`` = 1 − A(κ)), and the nodes it used."""
    sign = 1.0
    if x > 0.0:
        x = -x
        sign = -1.0
    sx = math.sin(0.5 * x)
    if 2.0 * sx * sx < gap:
        return sign * _near(kappa, gap, x, sx), NEAR_NODES
    cx = math.cos(0.5 * x)
    if kappa * cx * cx >= SERIES_FROM and -sx <= SERIES_SIN:
        value, nodes = _tail_series(kappa, gap, sx)
        if value == value:
            return sign * value, nodes
    value, nodes = _tail(kappa, gap, x, sx)
    return sign * value, nodes


@jit.helper()
def kappa_derivative(kappa, gap, x):  # pragma: no cover - compiled
    """Return ∂x/∂κ of a von Mises(0, κ) variate x ∈ [−π, π] (``gap`` = 1 − A(κ))."""
    return kappa_derivative_terms(kappa, gap, x)[0]


@cached_kernel(nogil=True)
def mean_resultant_gap(kappa):  # pragma: no cover - compiled
    """Return 1 − I₁(κ)/I₀(κ) (see :func:`one_minus_mean_resultant`)."""
    return one_minus_mean_resultant(kappa)


@cached_kernel(nogil=True)
def kappa_derivatives(kappa, x, out, terms):  # pragma: no cover - compiled
    """Write ∂x/∂κ at every x[i] and its nodes or series terms into ``out`` and ``terms``."""
    gap = one_minus_mean_resultant(kappa)
    for i in range(x.shape[0]):
        out[i], terms[i] = kappa_derivative_terms(kappa, gap, x[i])


@cached_kernel(nogil=True)
def vonmises_samples(key, first, kappa, out):  # pragma: no cover - compiled
    """Draw von Mises(0, κ) variates for the sub-key counters ``first …`` into ``out``; return the rejections."""
    rejections = 0
    for i in range(out.shape[0]):
        value, rejected = vonmises_variate(key, first + np.uint64(i), kappa)
        out[i] = value
        rejections += rejected
    return rejections


@cached_kernel(nogil=True)
def vonmises_samples_with_derivative(key, first, kappa, out, derivative):  # pragma: no cover - compiled
    """Draw as :func:`vonmises_samples` and write ∂x/∂κ of each; return the rejections."""
    gap = one_minus_mean_resultant(kappa)
    rejections = 0
    for i in range(out.shape[0]):
        value, rejected = vonmises_variate(key, first + np.uint64(i), kappa)
        out[i] = value
        derivative[i] = kappa_derivative(kappa, gap, value)
        rejections += rejected
    return rejections
