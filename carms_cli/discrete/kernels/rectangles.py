"""Exact CARMS-I pair pmf under the Gaussian copula, compiled: Φ₂ on every order's boundary grid.

For an order π with boundaries ``0 = x_0 < x_1 < … < x_K = 1`` (cumulative p along π) and latent
``h_i = Φ⁻¹(x_i)``, the rectangle of the categories at positions (i, j) is the second difference
``G[i+1, j+1] − G[i, j+1] − G[i+1, j] + G[i, j]`` of the grid ``G[i, j] = Φ₂(h_i, h_j; ρ)``, and
``P(a, b)`` is its mixture over the order set (spec 9.1). Each cell is Genz's arcsine form
``Φ(h)Φ(k) + scale · Σ_m w_m exp(a_m hk − b_m (h² + k²))``
(:func:`carms_cli.discrete.sampling.copulas.genz_rule`), clamped to the Fréchet bounds. The grid is symmetric, so
only its upper triangle is evaluated: ``|Π| (K + 1)(K + 2)/2`` cells in all, about 2.6·10⁷ at
K = 100, which is why this runs compiled and in parallel rather than in NumPy.
"""

import math

import numba as nb
import numpy as np

from carms_cli.core.jit import cached_kernel

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@cached_kernel(parallel=True)
def gaussian_rectangle_sums(latent, orders, node_a, node_b, node_w, scale, partial):  # pragma: no cover - compiled
    """Add every order's rectangle probabilities to ``partial[block]`` (shape (blocks, K, K)).

    ``latent[o]`` holds the K + 1 latent boundaries of order ``o`` (clamped to ±38, where Φ is 0
    or 1 in float64) and ``orders[o]`` its categories by position. Block ``r`` takes a fixed
    contiguous run of orders whatever the thread count, so summing ``partial`` over blocks in
    order gives the same bits on any number of threads. Rectangles are clamped at 0 (a rounding
    excursion can only be a few ulps below).
    """
    n_orders, size = latent.shape
    k = size - 1
    n_blocks = partial.shape[0]
    per_block = (n_orders + n_blocks - 1) // n_blocks
    n_nodes = node_w.shape[0]
    for block in nb.prange(n_blocks):
        grid = np.empty((size, size))
        cdf = np.empty(size)
        for o in range(block * per_block, min((block + 1) * per_block, n_orders)):
            for i in range(size):
                cdf[i] = 0.5 * math.erfc(-latent[o, i] * _INV_SQRT2)
            for i in range(size):
                h = latent[o, i]
                for j in range(i, size):
                    g = latent[o, j]
                    hk = h * g
                    hs = h * h + g * g
                    tail = 0.0
                    for m in range(n_nodes):
                        tail += node_w[m] * math.exp(node_a[m] * hk - node_b[m] * hs)
                    value = cdf[i] * cdf[j] + scale * tail
                    value = min(max(value, cdf[i] + cdf[j] - 1.0, 0.0), cdf[i], cdf[j])
                    grid[i, j] = value
                    grid[j, i] = value
            for i in range(k):
                a = orders[o, i]
                for j in range(k):
                    rect = grid[i + 1, j + 1] - grid[i, j + 1] - grid[i + 1, j] + grid[i, j]
                    if rect > 0.0:
                        partial[block, a, orders[o, j]] += rect
