"""Coefficients of Temme's uniform expansion of Q(α, x), differentiated in α, computed exactly.

Temme (1979; DLMF 8.12): with λ = x/α and η = sign(λ − 1)·√(2(λ − 1 − ln λ)),

    Q(α, x) = ½ erfc(η√(α/2)) + e^{−αη²/2}/√(2πα) · Σ_k c_k(η) α^{−k},

    c₀(η) = 1/(λ − 1) − 1/η,    c_k(η) = (1/η)·c′_{k−1}(η) + (−1)^k γ_k/(λ − 1),

where Γ(α) ~ √(2π/α) α^α e^{−α} Σ_k γ_k α^{−k} (Stirling). Every c_k is analytic at η = 0 (the
poles of the two terms cancel: checked here, exactly, for every k). Differentiating at fixed x
through the variables (α, η): along a quantile curve Q is constant, x = αλ(η) and
∂_η Q|_α = −q(x)·αλ′(η), which gives

    g = ∂x/∂α = λ + ∂_α Q|_η / q(x).

The erfc term's α-derivative at fixed η is −(η/2)·e^{−αη²/2}/√(2πα), and
e^{−αη²/2}/√(2πα) / q(x) = Γ*(α)·λ with Γ*(α) = Σ_k γ_k α^{−k}, so no erfc and no Γ(α) remain:

    g = λ·(1 + Γ*(α)·B),    B = −η/2 − (η²/2)·S − Σ_k (k + ½) c_k(η) α^{−k−1},    S = Σ_k c_k(η) α^{−k}.

This module builds, in exact rational arithmetic, the Taylor coefficients d_{k,n} of c_k(η) = Σ_n
d_{k,n} ηⁿ (from the power series of λ − 1 in η, which solves (λ − 1)·λ′ = ηλ) and the
coefficients e_{k,n} of B = Σ_{k,n} e_{k,n} α^{−k} ηⁿ, and the coefficients of
ln Γ*(α) = Σ_m B_{2m}/(2m(2m − 1)) α^{1−2m} (Bernoulli numbers B_{2m}). The compiled kernels
(:mod:`carms_cli.continuous.kernels.implicit`) evaluate them in floating point.
"""

import functools
from fractions import Fraction
from math import comb

#: Terms in 1/α (k = 0 … K − 1) and the degree N of the Taylor polynomials in η (B then has N + 3
#: coefficients, the kernels evaluate it as four Horner chains in η⁴). With |η| ≤ 1 and α ≥ 10
#: the truncation is below 2e−16 relative (tests check against mpmath).
ORDERS = 20
DEGREE = 28
#: Terms of the Stirling series of ln Γ*(α) (the next is below 1e−19 relative at α ≥ 10).
STIRLING_TERMS = 12


def lambda_minus_one(degree: int) -> list[Fraction]:
    """Return a_n (n = 0 … degree) with λ − 1 = Σ a_n ηⁿ where λ − 1 − ln λ = η²/2, λ − 1 ~ η.

    From η dη = (1 − 1/λ) dλ: μ·μ′ = η(1 + μ) for μ = λ − 1; the coefficient of ηⁿ gives
    (n + 1)·a_n = a_{n−1} − Σ_{i=2}^{n−1} a_i (n − i + 1) a_{n−i+1}.
    """
    a = [Fraction(0)] * (degree + 1)
    a[1] = Fraction(1)
    for n in range(2, degree + 1):
        a[n] = (a[n - 1] - sum(a[i] * (n - i + 1) * a[n - i + 1] for i in range(2, n))) / (n + 1)
    return a


def bernoulli_numbers(count: int) -> list[Fraction]:
    """Return B_0 … B_count (B_1 = −½) by Σ_{k=0}^{n} C(n + 1, k) B_k = 0."""
    b = [Fraction(1)] + [Fraction(0)] * count
    for n in range(1, count + 1):
        b[n] = -sum(comb(n + 1, k) * b[k] for k in range(n)) / (n + 1)
    return b


@functools.lru_cache(maxsize=4)
def log_gamma_star(terms: int = STIRLING_TERMS) -> tuple[Fraction, ...]:
    """Return B_{2m}/(2m(2m − 1)), m = 1 … terms: ln Γ*(α) ~ Σ_m (these)·α^{1−2m}."""
    b = bernoulli_numbers(2 * terms)
    return tuple(b[2 * m] / (2 * m * (2 * m - 1)) for m in range(1, terms + 1))


def stirling_coefficients(count: int) -> list[Fraction]:
    """Return γ_0 … γ_{count−1}: Γ*(α) = exp(ln Γ*(α)) = Σ_k γ_k α^{−k} (γ₁ = 1/12, γ₂ = 1/288)."""
    log_series = [Fraction(0)] * count  # coefficients of α^{−j}
    for m, value in enumerate(log_gamma_star(count), start=1):
        if 2 * m - 1 < count:
            log_series[2 * m - 1] = value
    gamma = [Fraction(1)] + [Fraction(0)] * (count - 1)
    for n in range(1, count):  # E = exp(L): n E_n = Σ_j j L_j E_{n−j}
        gamma[n] = sum(j * log_series[j] * gamma[n - j] for j in range(1, n + 1)) / n
    return gamma


@functools.lru_cache(maxsize=4)
def temme_coefficients(orders: int = ORDERS, degree: int = DEGREE) -> tuple[tuple[Fraction, ...], ...]:
    """Return d[k][n], k < ``orders``, n ≤ ``degree``: the Taylor coefficients of c_k(η)."""
    length = degree + 2 * orders + 2  # each step of the recursion costs two orders of η
    a = lambda_minus_one(length + 1)
    ratio = a[1:]  # (λ − 1)/η = Σ ratio_j η^j
    inverse = [Fraction(1) / ratio[0]] + [Fraction(0)] * (length - 1)  # η/(λ − 1) = Σ inverse_j η^j
    for n in range(1, length):
        inverse[n] = -sum(ratio[j] * inverse[n - j] for j in range(1, n + 1)) / ratio[0]
    gamma = stirling_coefficients(orders)
    c = inverse[1:]  # c₀ = 1/(λ − 1) − 1/η = Σ inverse_{n+1} ηⁿ
    rows = [c]
    for k in range(1, orders):
        sign = (-1) ** k
        # (1/η)c′ has the pole c_1/η, (−1)^k γ_k/(λ − 1) the pole (−1)^k γ_k inverse_0/η: they cancel
        if c[1] + sign * gamma[k] * inverse[0] != 0:
            raise ArithmeticError(f"Temme's c_{k} is not analytic at η = 0")
        c = [(n + 2) * c[n + 2] + sign * gamma[k] * inverse[n + 1] for n in range(len(c) - 2)]
        rows.append(c)
    return tuple(tuple(row[: degree + 1]) for row in rows)


@functools.lru_cache(maxsize=4)
def derivative_coefficients(orders: int = ORDERS, degree: int = DEGREE) -> tuple[tuple[Fraction, ...], ...]:
    """Return e[k][n] (k ≤ ``orders``, n ≤ ``degree`` + 2): B = Σ e_{k,n} α^{−k} ηⁿ.

    B = −η/2 − (η²/2)·Σ_k c_k α^{−k} − Σ_k (k + ½) c_k α^{−k−1}.
    """
    d = temme_coefficients(orders, degree)
    e = [[Fraction(0)] * (degree + 3) for _ in range(orders + 1)]
    e[0][1] -= Fraction(1, 2)
    for k in range(orders):
        for n in range(degree + 1):
            e[k][n + 2] -= d[k][n] / 2
            e[k + 1][n] -= (k + Fraction(1, 2)) * d[k][n]
    return tuple(tuple(row) for row in e)
