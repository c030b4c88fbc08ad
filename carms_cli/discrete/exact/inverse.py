"""Categorical samples from copula uniforms: inverse CDF under category orders (CARMS-I).

A sampler lays the K categories out on [0, 1] in an order π (drawn per trial and variable from
an order set Π, shared by the n samples) and sets ``z_i = c`` for ``L_c < U_i ≤ R_c``. Every
sample then has marginal p whatever the copula, and the pair pmf is the mixture over Π of
copula rectangle probabilities (spec 9.1):

``P(a, b) = (1/|Π|) Σ_π [C(R_a, R_b) − C(L_a, R_b) − C(R_a, L_b) + C(L_a, L_b)]``.
"""

import itertools

import numpy as np
from scipy import special

from carms_cli.discrete.sampling.copulas import (
    NORMAL_CLAMP,
    Copula,
    bivariate_cdf,
    bivariate_normal_cdf,
    gaussian_rho,
    genz_rule,
)


def reference_pairs(k: int) -> np.ndarray:
    """Return the (first, last) pair {a < b} of each reference order, shape (K(K−1)/2, 2).

    The pairs come in the order of :func:`reference_orders`.
    """
    return np.asarray(list(itertools.combinations(range(k), 2)), dtype=np.int64).reshape(-1, 2)


def reference_orders(k: int) -> np.ndarray:
    """Return the reference code's order set Π for K ≥ 3: one order per unordered pair {a < b}.

    ``order(a, b) = [a, b+1, b+2, …, b] (mod K) without a``: a first, b last, the middle in
    cyclic order after b. Every pair of categories has a member placed last in some order, so
    ``P(a, b) > 0`` for all a ≠ b. Returns an int array of shape (K(K−1)/2, K).
    """
    orders = []
    for a, b in itertools.combinations(range(k), 2):
        rest = [(b + 1 + t) % k for t in range(k)]
        orders.append([a] + [c for c in rest if c != a])
    return np.asarray(orders, dtype=np.int64)


def binary_order(p: np.ndarray) -> np.ndarray:
    """K = 2 (decision 4): one order that puts the rarer category first.

    The copula's exclusive lower tail then acts on the rarer value, which is the ARMS
    ``p > 0.5`` inversion; unbiasedness does not depend on it, variance does.
    """
    return np.asarray([[0, 1]] if p[0] <= p[1] else [[1, 0]], dtype=np.int64)


def identity_orders(k: int) -> np.ndarray:
    """Return a single order 0, 1, …, K−1 (for the independent sampler the order does not matter)."""
    return np.arange(k, dtype=np.int64)[None, :]


def order_boundaries(p: np.ndarray, orders: np.ndarray):
    """Left and right boundaries of every category under every order.

    Returns ``(left, right)`` of shape (|Π|, K) indexed by *category label*; ``right`` of the
    order's last category is forced to exactly 1 (reference defect 5: a float cumsum can leave
    it below 1).
    """
    p = np.asarray(p, dtype=np.float64)
    n_orders, k = orders.shape
    p_in_order = p[orders]
    right_pos = np.cumsum(p_in_order, axis=1)
    right_pos[:, -1] = 1.0
    left_pos = np.concatenate([np.zeros((n_orders, 1)), right_pos[:, :-1]], axis=1)
    rows = np.arange(n_orders)[:, None]
    left = np.empty_like(left_pos)
    right = np.empty_like(right_pos)
    left[rows, orders] = left_pos
    right[rows, orders] = right_pos
    return left, right


#: Fixed number of blocks the compiled Gaussian rectangle kernel splits the orders into (its
#: partial sums are added in block order, so the result does not depend on the thread count).
_GAUSSIAN_BLOCKS = 64
#: Gaussian grids of at least this many cells (|Π|·(K+1)², K ≳ 20) run compiled; smaller ones in
#: NumPy, which costs milliseconds there and spares a short run the kernel's compile.
COMPILED_GAUSSIAN_CELLS = 200_000


def _boundary_edges(p: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Return the cumulative boundaries ``0, x_1, …, x_K = 1`` of each order, shape (|Π|, K + 1).

    The last is forced to exactly 1 (reference defect 5).
    """
    edges = np.concatenate([np.zeros((orders.shape[0], 1)), np.cumsum(p[orders], axis=1)], axis=1)
    edges[:, -1] = 1.0
    return edges


def _boundary_grid(copula: Copula, n: int, edges: np.ndarray) -> np.ndarray:
    """``C(x_i, x_j)`` for all pairs of boundaries of each order (edges: (B, K+1)), in NumPy."""
    if copula == Copula.DIRICHLET:  # max(x^(1/(n−1)) + y^(1/(n−1)) − 1, 0)^(n−1), one power per cell
        roots = np.power(edges, 1.0 / (n - 1))
        return _integer_power(np.maximum(roots[:, :, None] + roots[:, None, :] - 1.0, 0.0), n - 1)
    if copula == Copula.GAUSSIAN:  # Φ₂ is the costly case: evaluate the upper triangle, mirror it
        h = special.ndtri(edges)
        size = edges.shape[1]
        rows, cols = np.triu_indices(size)
        grid = np.empty((edges.shape[0], size, size))
        upper = bivariate_normal_cdf(h[:, rows], h[:, cols], gaussian_rho(n))
        grid[:, rows, cols] = upper
        grid[:, cols, rows] = upper
        return grid
    return bivariate_cdf(copula, n, edges[:, :, None], edges[:, None, :])


def compiled_gaussian_pair_pmf(p: np.ndarray, orders: np.ndarray, n: int) -> np.ndarray:
    """Compute :func:`pair_pmf` for the Gaussian copula and n ≥ 3 by the compiled, parallel kernel.

    The kernel is :mod:`carms_cli.discrete.kernels.rectangles` (the same grid and rectangles as the
    NumPy path).
    """
    from carms_cli.discrete.kernels.rectangles import gaussian_rectangle_sums

    latent = np.clip(special.ndtri(_boundary_edges(p, orders)), -NORMAL_CLAMP, NORMAL_CLAMP)
    node_a, node_b, node_w, scale = genz_rule(gaussian_rho(n))
    partial = np.zeros((min(_GAUSSIAN_BLOCKS, orders.shape[0]), p.size, p.size))
    gaussian_rectangle_sums(latent, np.ascontiguousarray(orders), node_a, node_b, node_w, scale, partial)
    return partial.sum(axis=0) / orders.shape[0]


def pair_pmf(p: np.ndarray, orders: np.ndarray, copula: Copula, n: int) -> np.ndarray:
    """Exact ``P(z_i = a, z_j = b)`` (i ≠ j) as a K×K float64 matrix, mixture over orders.

    Per order, the copula CDF is evaluated once on the grid of its K + 1 boundaries
    ``G[i, j] = C(x_i, x_j)``; the rectangle of the categories at positions (i, j) is the second
    difference ``G[i+1, j+1] − G[i, j+1] − G[i+1, j] + G[i, j]`` (clamped at 0), then moved to
    the categories' labels. Cost O(|Π| K²) CDF evaluations; large Gaussian grids (Φ₂ costs a
    short quadrature per cell) run compiled: :func:`compiled_gaussian_pair_pmf`.
    """
    p = np.asarray(p, dtype=np.float64)
    n_orders, k = orders.shape
    if copula == Copula.GAUSSIAN and n == 2:
        copula = Copula.DIRICHLET  # both are the countermonotone copula max(u + v − 1, 0)
    if copula == Copula.GAUSSIAN and n_orders * (k + 1) ** 2 >= COMPILED_GAUSSIAN_CELLS:
        return compiled_gaussian_pair_pmf(p, orders, n)
    total = np.zeros((k, k))
    per_cdf = genz_rule(gaussian_rho(n))[2].size if copula == Copula.GAUSSIAN else 1  # nodes per Φ₂
    batch = max(1, 262_144 // ((k + 1) ** 2 * per_cdf))  # small temporaries: page faults dominate big ones
    for start in range(0, n_orders, batch):
        chunk = orders[start : start + batch]
        grid = _boundary_grid(copula, n, _boundary_edges(p, chunk))
        rect = grid[:, 1:, 1:] - grid[:, :-1, 1:] - grid[:, 1:, :-1] + grid[:, :-1, :-1]
        rect = np.maximum(rect, 0.0)
        # rect[o, i, j] belongs to categories (chunk[o, i], chunk[o, j]): gather by position
        position = np.argsort(chunk, axis=1)
        rows = np.arange(chunk.shape[0])[:, None, None]
        total += rect[rows, position[:, :, None], position[:, None, :]].sum(axis=0)
    return total / n_orders


def _integer_power(x: np.ndarray, exponent: int) -> np.ndarray:
    """Return ``x ** exponent`` for a positive integer exponent by repeated squaring.

    Much faster than numpy's general float power, and exact to the last ulp or two.
    """
    result = None
    base = x
    while exponent:
        if exponent & 1:
            result = base if result is None else result * base
        exponent >>= 1
        if exponent:
            base = base * base
    return result


def _corner_roots(p: np.ndarray, orders: np.ndarray, copula: Copula, n: int) -> np.ndarray:
    """Return the root tables ``r(ε, c)`` per order, shape (|Π|, 2, K), for the Dirichlet copula.

    ``r(ε, c) = R_c^(1/(n−1))`` (ε = 0) and ``L_c^(1/(n−1))`` (ε = 1), for the n-dimensional
    Dirichlet copula ``C_n(x) = max(Σ_i x_i^(1/(n−1)) − (n − 1), 0)^(n−1)``: the box probability
    of a tuple is the alternating sum over its 2^n corners ε of ``C_n`` at corner sums
    ``Σ_i r(ε_i, z_i)`` (inclusion–exclusion).
    """
    if copula == Copula.GAUSSIAN and n == 2:
        copula = Copula.DIRICHLET  # both are the countermonotone copula max(u + v − 1, 0)
    if copula != Copula.DIRICHLET:
        raise ValueError("corner roots exist for the Dirichlet copula only (Gaussian: gaussian_multiset_probabilities)")
    left, right = order_boundaries(p, orders)
    return np.power(np.stack([right, left], axis=1), 1.0 / (n - 1))


def gaussian_multiset_probabilities(p: np.ndarray, orders: np.ndarray, n: int, multisets: np.ndarray) -> np.ndarray:
    """``P(z_1..z_n = t)`` under the Gaussian copula (n ≥ 3) for each sorted row t of ``multisets``.

    Per order π the copula CDF is evaluated once on every multiset of the latent boundaries
    ``Φ⁻¹(x_0 = 0) = −∞ < … < Φ⁻¹(x_K = 1) = +∞`` by the 1-D Fourier integral of
    :mod:`carms_cli.discrete.exact.gaussian`; the box of a tuple (sample i in
    ``(x_{q_i}, x_{q_i+1}]``, ``q_i`` the position of ``t_i`` in π) is the alternating sum over its
    ``2^n`` corners, and the result is the mixture over Π. The samples are exchangeable, so the
    probability of a tuple is that of its multiset.
    """
    from carms_cli.discrete.exact.gaussian import box_probabilities, cdf_grids

    p = np.asarray(p, dtype=np.float64)
    multisets = np.asarray(multisets, dtype=np.int64)
    latent = special.ndtri(_boundary_edges(p, orders))  # (|Π|, K + 1), ±∞ at the two ends
    tables = cdf_grids(latent, n)
    positions = np.argsort(orders, axis=1)
    total = np.zeros(multisets.shape[0])
    for table, position in zip(tables, positions, strict=True):
        total += box_probabilities(table, position[multisets])
    return total / orders.shape[0]


def _gaussian_tuple_pmf(p: np.ndarray, orders: np.ndarray, n: int) -> np.ndarray:
    """Return the whole (K,)*n pmf from :func:`gaussian_multiset_probabilities` (one value per multiset)."""
    from carms_cli.discrete.exact.gaussian import multiset_ranks

    k = p.size
    multisets = np.array(list(itertools.combinations_with_replacement(range(k), n)), dtype=np.int64)
    values = np.empty(multisets.shape[0])
    values[multiset_ranks(multisets)] = gaussian_multiset_probabilities(p, orders, n, multisets)
    every = np.indices((k,) * n).reshape(n, -1).T
    return values[multiset_ranks(np.sort(every, axis=1))].reshape((k,) * n)


def tuple_pmf(p: np.ndarray, orders: np.ndarray, copula: Copula, n: int) -> np.ndarray:
    """Exact joint pmf of all n samples, an array of shape (K,)*n (section 15).

    Independent: the product of marginals. Dirichlet: mixture over orders of n-dimensional box
    probabilities by inclusion–exclusion over the 2^n corners of the closed-form copula CDF.
    Gaussian (n ≥ 3): the same boxes from the copula CDF by its 1-D Fourier integral
    (:func:`gaussian_multiset_probabilities`; every entry within ``2^n · 1e−15``).
    """
    p = np.asarray(p, dtype=np.float64)
    k = p.size
    if copula == Copula.INDEPENDENT:
        out = np.ones((1,) * 0)
        for _ in range(n):
            out = np.multiply.outer(out, p)
        return out
    if copula == Copula.GAUSSIAN and n > 2:
        return _gaussian_tuple_pmf(p, orders, n)
    # the corner sums are an outer sum over the samples of the (2, K) root tables; the box
    # probability is the alternating difference over every ε axis
    roots = _corner_roots(p, orders, copula, n)
    total = np.zeros((k,) * n)
    batch = max(1, 262_144 // (2**n * k**n))  # small temporaries: page faults dominate big ones
    for start in range(0, roots.shape[0], batch):
        chunk = roots[start : start + batch]
        sums = np.zeros((chunk.shape[0],) + (1,) * (2 * n))
        for i in range(n):
            shape = [chunk.shape[0]] + [1] * (2 * n)
            shape[1 + 2 * i], shape[2 + 2 * i] = 2, k
            sums = sums + chunk.reshape(shape)
        values = _integer_power(np.maximum(sums - (n - 1), 0.0), n - 1)
        for i in reversed(range(n)):  # axis 1 + 2i holds ε_i
            values = values.take(0, axis=1 + 2 * i) - values.take(1, axis=1 + 2 * i)
        total += np.maximum(values, 0.0).sum(axis=0)
    return total / roots.shape[0]


def tuple_probabilities(p: np.ndarray, orders: np.ndarray, copula: Copula, n: int, tuples: np.ndarray) -> np.ndarray:
    """Return ``P(z_1..z_n = t)`` for each row t of ``tuples`` (shape (M, n)).

    These are the entries of :func:`tuple_pmf` at those tuples, each from its own 2^n corners,
    without the other K^n.

    Duplicate statistics need one tuple per multiset of categories (the samples are
    exchangeable), about n! times fewer than K^n.
    """
    p = np.asarray(p, dtype=np.float64)
    tuples = np.asarray(tuples, dtype=np.int64)
    if copula == Copula.INDEPENDENT:
        return np.prod(p[tuples], axis=1)
    if copula == Copula.GAUSSIAN and n > 2:
        return gaussian_multiset_probabilities(p, orders, n, np.sort(tuples, axis=1))
    roots = _corner_roots(p, orders, copula, n)
    corners = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # (2^n, n): ε_i of each corner
    signs = 1.0 - 2.0 * (corners.sum(axis=1) % 2)  # (−1)^|ε|
    total = np.zeros(tuples.shape[0])
    batch = max(1, 262_144 // (2**n * tuples.shape[0]))  # orders per batch, as in tuple_pmf
    for start in range(0, roots.shape[0], batch):
        chunk = roots[start : start + batch]
        sums = np.zeros((chunk.shape[0], tuples.shape[0], 2**n))
        for i in range(n):
            sums += chunk[:, corners[None, :, i], tuples[:, i, None]]
        values = _integer_power(np.maximum(sums - (n - 1), 0.0), n - 1)
        total += np.maximum(values @ signs, 0.0).sum(axis=0)
    return total / roots.shape[0]


def order_set(kind: str, p: np.ndarray) -> np.ndarray:
    """Return the order set Π of a sampler (``"identity"`` or ``"reference"``) for probabilities p."""
    if kind == "identity":
        return identity_orders(p.size)
    if p.size == 2:
        return binary_order(p)
    return reference_orders(p.size)


def order_set_size(kind: str, k: int) -> int:
    """|Π| without building it."""
    return 1 if kind == "identity" or k == 2 else k * (k - 1) // 2
