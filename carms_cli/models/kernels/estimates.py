"""Per-variable estimators on all of a minibatch's B·D variables at once, compiled.

The discrete family's per-variable pieces (:mod:`carms_cli.discrete.kernels.trial`: the samplers
:func:`~carms_cli.discrete.kernels.trial.inverse_set` and
:func:`~carms_cli.discrete.kernels.trial.sample_set`, the weightings'
:func:`~carms_cli.discrete.kernels.trial.coefficients`) run here over every replicate r and
variable v, on the counters ``r·V·draws_per_var + v·draws_per_var + j`` the NumPy backend reads,
so the samples and estimates are those of
:func:`carms_cli.models.gradients.reference_logit_gradients`. The plan's tables that cost a
Python loop per variable there are built here too: CARMS-I's latent thresholds and, for the
Dirichlet copula, its exact pair pmf (spec 9.1) as
:func:`carms_cli.discrete.exact.inverse.pair_pmf` computes it, operation for operation.
"""

import math

import numpy as np

from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel
from carms_cli.discrete.kernels.trial import coefficients, inverse_set, sample_set, tuples_per_sample_set
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction

DIRICHLET = int(Copula.DIRICHLET)
INDEPENDENT = int(Copula.INDEPENDENT)
INVERSE = int(Construction.INVERSE)


@jit.helper(inline="always")
def integer_power(x, exponent):  # pragma: no cover - compiled
    """``x ** exponent`` by repeated squaring, in the order of ``exact.inverse._integer_power``.

    Exponents 1 to 3 (n ≤ 4 samples) are written out: ``x``, ``x·x``, ``x·(x·x)``.
    """
    if exponent == 1:
        return x
    if exponent == 2:
        return x * x
    if exponent == 3:
        return x * (x * x)
    result = 1.0
    have = False
    base = x
    while exponent:
        if exponent & 1:
            if have:
                result = result * base
            else:
                result = base
                have = True
        exponent >>= 1
        if exponent:
            base = base * base
    return result


@jit.helper(inline="always")
def root(x, n):  # pragma: no cover - compiled
    """``x^(1/(n−1))`` as ``np.power`` computes it: its square-root fast path at n = 3, ``pow`` otherwise."""
    if n == 3:
        return math.sqrt(x)
    return x ** (1.0 / (n - 1))


@jit.helper(inline="always")
def variable_tables(probs, orders, copula, n, with_ratio, thresholds, ratio, v):  # pragma: no cover - compiled
    """Variable v's part of :func:`inverse_tables`; returns whether some ratio is undefined."""
    n_orders, k = orders.shape[1], orders.shape[2]
    edges = np.empty(k + 1)
    roots = np.empty(k + 1)
    first_roots = np.empty(k)  # x_1 = p_a: one root per category a, shared by its orders
    if copula == DIRICHLET:
        for c in range(k):
            first_roots[c] = root(probs[v, c], n)
    grid = np.empty((k + 1, k + 1))
    joint = np.zeros((k, k))
    dirichlet_ratio = with_ratio and copula == DIRICHLET
    for o in range(n_orders):
        running = 0.0
        for j in range(k):
            running = running + probs[v, orders[v, o, j]] if j else probs[v, orders[v, o, 0]]
            edges[j + 1] = running
        if copula == DIRICHLET:
            # the thresholds are the roots of the clipped boundaries, the grid's of the boundaries
            # with x_0 = 0 and x_K = 1: computed once (0 and 1 are their own roots)
            roots[0] = 0.0
            roots[k] = 1.0
            roots[1] = first_roots[orders[v, o, 0]]
            for j in range(2, k):
                roots[j] = root(edges[j], n)
            for j in range(1, k):
                thresholds[v, o, j - 1] = roots[j] if edges[j] <= 1.0 else 1.0
        else:
            for j in range(1, k):
                thresholds[v, o, j - 1] = min(edges[j], 1.0)
        if not dirichlet_ratio:
            continue
        for i in range(k + 1):  # C(x, y) is symmetric: r_i + r_j is r_j + r_i exactly
            for j in range(i, k + 1):
                cell = roots[i] + roots[j] - 1.0
                cell = integer_power(cell, n - 1) if cell > 0.0 else 0.0
                grid[i, j] = cell
                grid[j, i] = cell
        for i in range(k):
            a = orders[v, o, i]
            for j in range(k):
                rect = grid[i + 1, j + 1] - grid[i, j + 1] - grid[i + 1, j] + grid[i, j]
                joint[a, orders[v, o, j]] += max(rect, 0.0)
    impossible = False
    if with_ratio:
        for a in range(k):
            for b in range(k):
                product = probs[v, a] * probs[v, b]
                pair = joint[a, b] / n_orders if copula == DIRICHLET else product
                value = 0.0
                if a != b:
                    if pair <= 0.0 and product > 0.0:
                        impossible = True
                    else:
                        value = product / pair
                ratio[v, a, b] = value
    return impossible


@cached_kernel(nogil=True)
def inverse_tables(probs, orders, copula, n, with_ratio, thresholds, ratio):  # pragma: no cover - compiled
    """CARMS-I's latent thresholds and, when ``with_ratio``, the exact importance ratios, per variable.

    ``probs`` (V, K); ``orders`` (V, |Π|, K); writes ``thresholds`` (V, |Π|, K − 1): the cumulative
    sums ``x_j = Σ_{t≤j} p_{π_t}`` (summed in order, clipped at 1) on the latent scale (Dirichlet
    ``x^(1/(n−1))``, independent ``x``); and ``ratio`` (V, K, K): ``w(a, b) = p_a p_b / P(a, b)``
    for a ≠ b (0 on the diagonal) with
    ``P(a, b) = (1/|Π|) Σ_π max(G_{i+1,j+1} − G_{i,j+1} − G_{i+1,j} + G_{i,j}, 0)`` (summed in
    order) over the grid ``G_{ij} = max(r_i + r_j − 1, 0)^(n−1)`` of the roots
    ``r_i = x_i^(1/(n−1))`` of the order's boundaries ``0, x_1, …, x_K = 1`` (i, j the positions
    of a, b); independent copula ``P(a, b) = p_a p_b``. Returns the first variable with some
    a ≠ b where ``P(a, b) = 0 < p_a p_b`` (the ratio is undefined), or −1.
    """
    for v in range(orders.shape[0]):
        if variable_tables(probs, orders, copula, n, with_ratio, thresholds, ratio, v):
            return v
    return -1



@cached_kernel(nogil=True)
def draw_samples(
    key, draws_per_var, construction, copula, n, k, tuple_draws, probs, inv_probs, orders, thresholds, z
):  # pragma: no cover - compiled
    """Draw the n samples of every replicate r and variable v into ``z`` (R, n, V).

    Variable v of replicate r reads the counters from ``(r·V + v)·draws_per_var`` on, as the
    NumPy backend's ``_variable_draws`` does: INVERSE by
    :func:`~carms_cli.discrete.kernels.trial.inverse_set`, GUMBEL, STICK and PAIRS by
    :func:`~carms_cli.discrete.kernels.trial.sample_set`.
    """
    replicates, _, n_vars = z.shape
    n_orders = orders.shape[1]
    draws = np.empty(n)
    race = np.empty(n)
    sample = np.empty(n, dtype=np.int64)
    guide = np.zeros((1, 1, 2), dtype=np.int32)  # K ≤ 16: the linear scan, no guide table
    prefix = np.zeros((1, 1))
    pairs = np.zeros((1, 2), dtype=np.int32)
    n_tuples = tuples_per_sample_set(construction, k)
    stride = np.uint64(n_vars * draws_per_var)
    for r in range(replicates):
        zr = z[r]
        for v in range(n_vars):
            base = np.uint64(r) * stride + np.uint64(v * draws_per_var)
            if construction == INVERSE:
                inverse_set(
                    key,
                    base,
                    n_orders,
                    False,
                    copula,
                    n,
                    k,
                    v,
                    pairs,
                    probs,
                    prefix,
                    orders,
                    thresholds,
                    guide,
                    draws,
                    zr,
                )
            else:
                sample_set(
                    key,
                    base,
                    construction,
                    copula,
                    n,
                    k,
                    v,
                    n_tuples,
                    tuple_draws,
                    probs,
                    inv_probs,
                    orders,
                    thresholds,
                    draws,
                    race,
                    sample,
                )
                for i in range(n):
                    zr[i, v] = sample[i]


@cached_kernel(nogil=True)
def score_estimates(key, draws_per_var, weighting, n, dims, probs, ratio, z, f, g):  # pragma: no cover - compiled
    """``g_v = a − C p_v`` per replicate and variable, with ``a_c = Σ_{i: z_i = c} c_i``, ``C = Σ_i c_i``.

    z (R, n, V), f (R, n, B) with variable v in example ``v // dims``, g (R, V, K). The
    coefficients are :func:`~carms_cli.discrete.kernels.trial.coefficients`; both sums run in
    sample order, as the NumPy backend's ``_score_sum``.
    """
    replicates, _, n_vars = z.shape
    k = probs.shape[1]
    coef = np.empty(n)
    fv = np.empty(n)
    acc = np.zeros(k)
    mc_ratio = np.zeros((1, 1, 1))
    stride = np.uint64(n_vars * draws_per_var)
    for r in range(replicates):
        zr = z[r]
        trial_base = np.uint64(r) * stride
        for v in range(n_vars):
            example = v // dims
            for i in range(n):
                fv[i] = f[r, i, example]
            coefficients(weighting, v, n, zr, fv, probs, ratio, mc_ratio, 0, key, trial_base, draws_per_var, coef)
            total = 0.0
            for i in range(n):
                acc[zr[i, v]] += coef[i]
                total += coef[i]
            for c in range(k):
                g[r, v, c] = acc[c] - total * probs[v, c]
                acc[c] = 0.0
