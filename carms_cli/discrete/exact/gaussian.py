"""n-variate box and orthant probabilities of the Gaussian copula by a one-dimensional integral.

The copula
----------
The Gaussian copula of n samples (spec 7.2) is ``Y = √(n/(n−1)) (X − X̄ 1)`` with ``X ~ N(0, I_n)``:
unit variances, correlation ``−1/(n−1)``, and ``Σ Y_i = 0``, so Y is a *singular* normal vector on
the hyperplane ``Σ y = 0`` and its n-variate probabilities are no ordinary (n−1)-variate normal
CDFs. Dividing every bound by ``√(n/(n−1))`` turns a box ``a < Y ≤ b`` into ``α < W ≤ β`` for the
projection ``W = X − X̄ 1``.

The Fourier reduction
---------------------
W and X̄ are independent and ``X = W + X̄ 1`` has density ``(2π)^(−n/2) e^(−|w|²/2 − n x̄²/2)``; the
map ``(w_1..w_{n−1}, x̄) → x`` has Jacobian n, so ``(W_1..W_{n−1})`` has density
``√n (2π)^(−(n−1)/2) e^(−|w|²/2)`` (``w_n = −Σ_{i<n} w_i``). Writing the constraint as
``δ(Σ w) = (1/2π) ∫ e^(it Σ w) dt`` and integrating each coordinate over its interval,
``∫_α^β e^(−w²/2 + itw) dw = √(2π) e^(−t²/2) [Φ(β − it) − Φ(α − it)]``, gives

    P(α < W ≤ β) = √(n/2π) ∫_ℝ Π_i D_i(t) dt,     D_i(t) = e^(−t²/2) [Φ(β_i − it) − Φ(α_i − it)],

where ``D_i(t) = (1/√2π) ∫_{α_i}^{β_i} e^(−w²/2 + itw) dw`` is the (unnormalised) characteristic
function of a standard normal restricted to ``(α_i, β_i]``: the integral is 2π times the density at
0 of a sum of n independent truncated normals. ``D(−t) = conj D(t)``, so the integral is
``2 Re ∫_0^∞``. Every factor is bounded, ``|D_i| ≤ P(α_i < N ≤ β_i)``, but a finite end point makes
it decay only like ``1/|t|`` (integrating by parts, ``|D_i(t)| ≤ 2 max_{[α_i, β_i]} φ / |t|``), so
the product decays like ``|t|^(−n)`` while oscillating with frequencies ``Σ_i (end point)``: a plain
rule on the real line needs ``t`` up to ~10⁷ at n = 3.

One Faddeeva function per end point
-----------------------------------
For real t and γ, ``e^(−t²/2) Φ(γ − it) = ½ e^(−γ²/2 + iγt) w((−t − iγ)/√2)`` with ``w`` the
Faddeeva function (``scipy.special.wofz``); for ``γ > 0`` the complement
``e^(−t²/2) Φ(γ − it) = e^(−t²/2) − ½ e^(−γ²/2 + iγt) w((t + iγ)/√2)`` keeps the argument of w in the
upper half plane, where ``|w| ≤ 1``. So every finite end point γ contributes one *oscillatory
term* ``O_γ(t) = ∓ ½ e^(−γ²/2 + iγt) w(±(t + iγ)/√2)`` (upper sign for γ > 0) and, when γ > 0,
one Gaussian term ``e^(−t²/2)``.

Orthants, not boxes
-------------------
A box probability is the alternating sum of the CDF ``C(γ) = P(W ≤ γ)`` over its ``2^n`` corners
(a corner at ``−∞`` is 0; a corner at ``+∞`` leaves that coordinate free), exactly as for the
Dirichlet copula; all boxes of one category order share the CDF on the grid of its K + 1
boundaries (:func:`orthant_probabilities` is called on that grid). For a corner ``γ`` let
``F_i = O_{γ_i}`` (γ_i ≤ 0), ``e^(−t²/2) + O_{γ_i}`` (γ_i > 0) and ``e^(−t²/2)`` (γ_i = +∞). Then

    C(γ) = √(n/2π) · 2 Re [ ∫_0^∞ (Π F_i − J_pure) dt + ∫_0^∞ J_pure dt ],    J_pure = Π_i O_{γ_i},

with ``J_pure = 0`` when some γ_i is infinite. ``Π F_i − J_pure`` is a sum of terms each carrying
a factor ``e^(−t²/2)``: it is entire and decays like a Gaussian, and the trapezoidal rule on
``[0, 9]`` (step 1/4) converges exponentially (truncation ``< e^(−40)``). ``J_pure`` is a *single*
oscillation ``e^(iωt)`` with ``ω = Σ_i γ_i`` times a smooth envelope of size ``Π_i φ(γ_i) |t|^(−n)``.
Being entire, its integral over ``[0, ∞)`` equals the integral over the ray ``t = s e^(iθ)``,
``θ = ±π/6`` with the sign of ω: there ``e^(iωt)`` decays like ``e^(−|ω| s/2)`` and the arguments of
w stay where ``|w| ≤ 1`` or where its ``e^(−ζ²)`` part is below 1 (``θ < π/4``), so nothing is large
and nothing cancels. The ray is integrated by Gauss–Legendre on panels ``[0, ½], [½, 1], [1, 2], …``
(24 nodes each; doubling panels resolve the ``s^(−n)`` decay on every scale, including ``ω ≈ 0``
where the decay is only algebraic), up to where ``(0.55/s)^n s/(n−1)`` — a bound on the rest,
``|J_pure| ≤ (φ_max/s)^n`` with margin — is below ``1e−17``. Orthants whose finite bounds are all
≤ 0 are 0 exactly (``Σ W = 0``).

Accuracy
--------
Measured against independent references (``tests/test_gaussian_pmf.py``): n = 3 orthants against a
real 1-D adaptive integral of the bivariate normal over the constraint (max error ≈ 4e−16), the
pair marginals of n = 3…8 tuple pmfs against the Genz bivariate normal CDF of
:mod:`carms_cli.discrete.sampling.copulas` (≈ 1e−16 per cell), n = 2 and the binary n = 3 closed
forms, and Monte Carlo. Orthant values are accurate to a few 1e−16 absolute; a box is an
alternating sum of ``2^n`` of them, so every tuple probability is within ``2^n · 1e−15`` (≤ 3e−13 at
n = 8) of the exact value. A pmf sums to 1 within 1e−12: the corner sums telescope to the orthant
at ``+∞`` (the head rule on ``e^(−n t²/2)``, exact to rounding), and what is left is rounding and
the clamping at 0 of boxes a few ulps below it, summed over the K^n entries (2e−13 measured at
K = 10, n = 4; 1e−15 at K ≤ 4).
"""

import functools
import math

import numpy as np
from scipy import special

#: Trapezoid step and end of the head rule on [0, ∞) for the Gaussian-damped part.
HEAD_STEP = 0.25
HEAD_END = 9.0
#: Angle of the ray carrying the single-frequency part (below π/4, where w stays bounded).
RAY_ANGLE = math.pi / 6
#: Gauss–Legendre nodes per ray panel, first panel end, and the bound the last panel reaches.
RAY_PANEL_NODES = 24
RAY_FIRST_PANEL = 0.5
RAY_TAIL_BOUND = 1e-17
#: Ratio of consecutive panel ends.
RAY_PANEL_RATIO = 2.0
#: Below −LATENT_CLAMP, φ(γ) < 1e−300: a corner with such a bound has probability 0.
LATENT_CLAMP = 37.5


def scale(n: int) -> float:
    """``√(n/(n−1))``: the copula is ``Y = scale · (X − X̄)``; bounds on Y divide by it."""
    return math.sqrt(n / (n - 1))


@functools.lru_cache(maxsize=1)
def head_rule() -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes and weights on ``[0, HEAD_END]`` for ``2 Re ∫_0^∞`` of an even-real integrand."""
    t = np.arange(int(round(HEAD_END / HEAD_STEP)) + 1) * HEAD_STEP
    w = np.full(t.size, HEAD_STEP)
    w[0] *= 0.5
    return _frozen(t), _frozen(w)


@functools.lru_cache(maxsize=16)
def ray_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes ``s`` and weights on doubling panels of ``[0, S]`` for n coordinates.

    ``S`` is the first panel end with ``(0.55/S)^n S/(n−1) < RAY_TAIL_BOUND`` (the rest of the
    ray integral, ``∫_S^∞ (φ_max/s)^n ds`` with ``φ_max = 0.399`` and margin).
    """
    edges = [0.0, RAY_FIRST_PANEL]
    while (0.55 / edges[-1]) ** n * edges[-1] / (n - 1) > RAY_TAIL_BOUND:
        edges.append(RAY_PANEL_RATIO * edges[-1])
    x, w = np.polynomial.legendre.leggauss(RAY_PANEL_NODES)
    lo, hi = np.asarray(edges[:-1])[:, None], np.asarray(edges[1:])[:, None]
    return _frozen(((lo + hi) / 2 + (hi - lo) / 2 * x).ravel()), _frozen(((hi - lo) / 2 * w).ravel())


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only (the cached rules are shared)."""
    array.flags.writeable = False
    return array


def _tables(values: np.ndarray, n: int):
    """Per distinct finite bound γ: head factors F, O on the head nodes and w on both rays.

    Returns ``(F, O, W)`` of shapes (V, H), (V, H) and (V, 2, R): ``F = e^(−t²/2) Φ(γ − it)`` and
    its oscillatory term O at the head nodes; ``W[v, d]`` the Faddeeva factor of O on the ray of
    direction d (0: θ > 0, 1: θ < 0) without its amplitude ``∓½ e^(−γ²/2 + iγt)``.
    """
    t, _ = head_rule()
    s, _ = ray_rule(n)
    g = values[:, None]
    positive = g > 0
    root2 = math.sqrt(2.0)
    amplitude = 0.5 * np.exp(-0.5 * g * g + 1j * g * t)
    faddeeva = special.wofz(np.where(positive, t + 1j * g, -t - 1j * g) / root2)
    oscillatory = np.where(positive, -amplitude * faddeeva, amplitude * faddeeva)
    full = np.where(positive, np.exp(-0.5 * t * t) + oscillatory, oscillatory)
    rays = []
    for angle in (RAY_ANGLE, -RAY_ANGLE):
        tr = s * np.exp(1j * angle)
        rays.append(special.wofz(np.where(positive, tr + 1j * g, -tr - 1j * g) / root2))
    return full, oscillatory, np.stack(rays, axis=1)


def orthant_probabilities(bounds: np.ndarray, n: int) -> np.ndarray:
    """``P(W_i ≤ γ_i, i = 1..m)`` for each row γ of ``bounds`` (shape (R, m), m ≤ n), float64.

    ``W = X − X̄ 1`` for ``X ~ N(0, I_n)``; bounds are on the W scale (the copula's latent bounds
    divided by :func:`scale`), ``+∞`` leaves a coordinate free and ``−∞`` gives 0; the ``n − m``
    coordinates not named are free. Module docstring: the 1-D integral, its two parts and their
    rules; the sums run compiled (:func:`carms_cli.discrete.kernels.fourier.orthant_sums`) on
    tables of the Faddeeva factors per distinct bound. Accurate to a few 1e−16 absolute.
    """
    from carms_cli.discrete.kernels.fourier import orthant_sums

    bounds = np.asarray(bounds, dtype=np.float64)
    rows, m = bounds.shape
    out = np.zeros(rows)
    # φ(γ) = 0 below −LATENT_CLAMP: such a corner has probability 0
    alive = ~np.any(bounds < -LATENT_CLAMP, axis=1)
    finite = np.isfinite(bounds)
    # Σ W = 0 with every W_i ≤ γ_i ≤ 0 holds on a null set only
    alive &= ~(np.all(finite, axis=1) & (m == n) & np.all(bounds <= 0, axis=1))
    if not np.any(alive):
        return out
    bounds, finite = bounds[alive], finite[alive]
    values, inverse = np.unique(np.where(finite, bounds, 0.0), return_inverse=True)
    index = np.where(finite, inverse.reshape(bounds.shape), -1).astype(np.int64)
    full, oscillatory, rays = _tables(values, n)
    t, head_w = head_rule()
    s, ray_w = ray_rule(n)
    directions = np.exp(1j * np.array([RAY_ANGLE, -RAY_ANGLE]))[:, None]
    sums = np.zeros(bounds.shape[0], dtype=np.complex128)
    orthant_sums(
        np.ascontiguousarray(index),
        full,
        oscillatory,
        np.exp(-0.5 * t * t),
        np.exp(-0.5 * (n - m) * t * t),
        head_w,
        values,
        np.ascontiguousarray(rays),
        s[None, :] * directions,
        ray_w[None, :] * directions,
        n,
        math.sin(RAY_ANGLE),
        sums,
    )
    out[alive] = math.sqrt(n / (2.0 * math.pi)) * 2.0 * sums.real
    return out


def multiset_ranks(rows: np.ndarray) -> np.ndarray:
    """Rank of each non-decreasing row ``j_0 ≤ … ≤ j_{n−1}`` among the multisets of its size.

    ``c_i = j_i + i`` is strictly increasing, and the combinatorial number system
    ``rank = Σ_i C(c_i, i + 1)`` numbers the multisets of n letters from ``{0..A−1}`` as
    ``0..C(A + n − 1, n) − 1`` (colexicographic order) whatever A is.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.shape[-1]
    c = rows + np.arange(n)
    binom = _binomials(int(c.max()) + 1 if c.size else 1, n)
    return binom[c, np.arange(n)].sum(axis=-1)


@functools.lru_cache(maxsize=16)
def _binomials(top: int, n: int) -> np.ndarray:
    """``C(v, r + 1)`` for v < top and r < n, int64 (read-only)."""
    table = np.array([[math.comb(v, r) for r in range(1, n + 1)] for v in range(top)], dtype=np.int64)
    table.flags.writeable = False
    return table


def cdf_grids(latent: np.ndarray, n: int) -> np.ndarray:
    """Return the copula CDF on every multiset of each row of ascending latent bounds, by rank.

    ``latent`` has shape (B, A); entry ``[b, multiset_ranks(j)]`` of the result (B, C(A + n − 1, n))
    is ``P(Y_i ≤ latent[b, j_i], i = 1..n)`` for the n-sample Gaussian copula (``−∞`` gives 0,
    ``+∞`` a free coordinate). One call of :func:`orthant_probabilities` for all rows.
    """
    import itertools

    latent = np.asarray(latent, dtype=np.float64)
    multisets = np.array(list(itertools.combinations_with_replacement(range(latent.shape[1]), n)), dtype=np.int64)
    corners = latent[:, multisets].reshape(-1, n) / scale(n)
    tables = np.empty((latent.shape[0], multisets.shape[0]))
    tables[:, multiset_ranks(multisets)] = orthant_probabilities(corners, n).reshape(latent.shape[0], -1)
    return tables


def box_probabilities(table: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Box probabilities from a :func:`cdf_grid` table by inclusion–exclusion over ``2^n`` corners.

    Row r of ``lower`` (shape (M, n)) holds grid indices q_i; the box is
    ``bounds[q_i] < Y_i ≤ bounds[q_i + 1]`` and its probability
    ``Σ_ε (−1)^|ε| C(bounds[q + 1 − ε])`` (clamped at 0: rounding may leave ~1e−17 below).
    """
    lower = np.asarray(lower, dtype=np.int64)
    rows, n = lower.shape
    corners = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # ε_i of each corner
    signs = 1.0 - 2.0 * (corners.sum(axis=1) % 2)
    out = np.empty(rows)
    step = max(1, 1 << 18 >> n)
    for start in range(0, rows, step):
        chunk = lower[start : start + step]
        grid = np.sort(chunk[:, None, :] + 1 - corners[None, :, :], axis=-1)
        out[start : start + step] = table[multiset_ranks(grid)] @ signs
    return np.maximum(out, 0.0)


def cdf_grid_work(orders: int, bounds: int, n: int) -> int:
    """Node evaluations of :func:`cdf_grids` on ``orders`` rows of ``bounds`` latent bounds.

    Every multiset of the bounds (``C(bounds + n − 1, n)`` per row) costs the head rule and, at
    most, the whole ray rule, n factors each: the cost model callers cap before computing.
    """
    return orders * math.comb(bounds + n - 1, n) * (head_rule()[0].size + ray_rule(n)[0].size) * n
