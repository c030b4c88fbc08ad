"""NumPy backend: the numba kernel's estimators, vectorised over batches of trials.

Every estimator of :func:`carms_cli.discrete.kernels.trial.simulate_chunk` runs vectorised
over batches of trials, on the same counter-based random stream.

The uniform for ``(key, counter)`` is SplitMix64 evaluated at an index,
``u = ((mix64(key + (counter + 1)·γ) >> 11) + ½) / 2^53``, computed here on ``uint64`` arrays
(multiplication and addition wrap modulo 2^64, as in the kernel). Trial t, variable d uses the
counters ``t·D·draws_per_var + d·draws_per_var + j`` with the kernel's layout, so this backend
draws the very numbers the numba kernel draws and its per-trial estimates agree with
:func:`carms_cli.discrete.source.trial_estimates` up to rounding (libm and NumPy's ``log``/``cos``/``erfc``
may differ in the last ulp). Sums over the n samples run in sample order, as in the kernel.

Memory: trials run in batches of :func:`batch_size` trials, sized from the plan alone, and each
batch is folded into running (count, mean, M2) accumulators by Chan et al.'s parallel update, so
memory does not depend on the number of trials. No numba code runs here.
"""

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import special

from carms_cli.core.rng_numpy import uniforms
from carms_cli.discrete.dispatch import MissingBranch, branch
from carms_cli.discrete.estimators import Weighting
from carms_cli.discrete.plan import Plan
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction

_ONE = np.uint64(1)
_TWO_PI = 2.0 * math.pi
_INV_SQRT2 = 1.0 / math.sqrt(2.0)

#: Array elements a batch may use per trial and in all (≈ 8 bytes each, a few temporaries).
BATCH_ELEMENTS = 1 << 21
MAX_BATCH = 1 << 16


def sum_in_order(x: np.ndarray) -> np.ndarray:
    """``x[..., 0] + x[..., 1] + …`` left to right (the kernel's summation order)."""
    total = x[..., 0].copy()
    for i in range(1, x.shape[-1]):
        total += x[..., i]
    return total


def offsets(base: np.ndarray, count: int) -> np.ndarray:
    """Counters ``base + j`` for j < count, shape ``base.shape + (count,)``."""
    return base[..., None] + np.arange(count, dtype=np.uint64)


def tuple_draws(plan: Plan, tuple_base: np.ndarray, gumbel: bool) -> np.ndarray:
    """One copula n-tuple per entry of ``tuple_base`` on its latent scale, shape ``(..., n)``.

    Dirichlet: ``Y_i = 1 − D_i`` with D the spacings of n − 1 sorted uniforms (GUMBEL:
    ``−log U_i = −(n−1) log(1 − D_i)``);
    Gaussian: X iid N(0, 1) by Box–Muller from draw pairs, ``Y = √(n/(n−1)) (X − X̄)`` (GUMBEL:
    ``−log Φ(Y)``, through ``erfc`` in the lower tail and ``log1p`` in the upper one);
    independent: ``Y = u`` (GUMBEL: ``−log u``).
    """
    n, key = plan.samples, plan.key
    if plan.copula == Copula.DIRICHLET:
        cuts = np.sort(uniforms(key, offsets(tuple_base, n - 1)), axis=-1)
        x = np.diff(cuts, axis=-1, prepend=0.0, append=1.0)
        return -(n - 1.0) * np.log1p(-x) if gumbel else 1.0 - x
    if plan.copula == Copula.GAUSSIAN:
        half = (n + 1) // 2
        u = uniforms(key, offsets(tuple_base, 2 * half))
        r = np.sqrt(-2.0 * np.log(u[..., 0::2]))
        angle = _TWO_PI * u[..., 1::2]
        x = np.empty(u.shape)
        x[..., 0::2] = r * np.cos(angle)
        x[..., 1::2] = r * np.sin(angle)
        x = x[..., :n]
        y = math.sqrt(n / (n - 1.0)) * (x - (sum_in_order(x) / n)[..., None])
        if not gumbel:
            return y
        out = np.empty_like(y)
        lower = y < 0.0
        out[lower] = -np.log(0.5 * special.erfc(-y[lower] * _INV_SQRT2))
        out[~lower] = -np.log1p(-0.5 * special.erfc(y[~lower] * _INV_SQRT2))
        return out
    u = uniforms(key, offsets(tuple_base, n))
    return -np.log(u) if gumbel else u


def rotated_categories(plan: Plan, d: int, o: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inverse CDF of the reference orders ``o`` (shape ``(...)``) at latent values ``y`` (shape ``(..., n)``).

    Computed from the doubled prefix sums, as the kernel's ``rotated_category``: after the
    order's first category a, the first doubled index j with ``u ≤ p_a + S_{j+1} − S_{b+1}``
    before a's copy ``a + K``, else with ``u ≤ S_{j+1} − S_{b+1}`` after it, taken mod K.
    """
    n, k = plan.samples, plan.categories
    if plan.copula == Copula.DIRICHLET:
        u = y ** (n - 1)
    elif plan.copula == Copula.GAUSSIAN:
        u = special.ndtr(y)
    else:
        u = y
    prefix = plan.prefix[d]
    a = plan.pairs[o, 0].astype(np.int64)[..., None]
    b = plan.pairs[o, 1].astype(np.int64)[..., None]
    p_a = plan.probs[d][a]
    base = prefix[b + 1]
    split = a + k
    first = u - p_a + base <= prefix[split]
    target = np.where(first, u - p_a + base, u + base)
    low = np.where(first, b + 1, split + 1)
    high = np.where(first, split - 1, b + k)
    j = np.clip(np.searchsorted(prefix, target, side="left") - 1, low, high)
    category = np.where(j >= k, j - k, j)
    return np.where(u <= p_a, a, category)


def _pair_set(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """PAIRS: ``z_{2j} = 1[u_j > 1 − p]``, ``z_{2j+1} = 1[u_j < p]``."""
    n = plan.samples
    u = uniforms(plan.key, offsets(base + _ONE, n // 2))
    p_one = plan.probs[d, 1]
    z = np.empty(base.shape + (n,), dtype=np.int64)
    z[..., 0::2] = u > 1.0 - p_one
    z[..., 1::2] = u < p_one
    return z


def _inverse_set(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """INVERSE: ``z_i = order[#{j : Y_i > t_j}]`` under the order drawn at ``base``."""
    key = plan.key
    orders = plan.orders[d]
    n_orders = max(plan.orders.shape[1], plan.pairs.shape[0])
    if n_orders > 1:
        o = np.minimum((uniforms(key, base) * n_orders).astype(np.int64), n_orders - 1)
    else:
        o = np.zeros(base.shape, dtype=np.int64)
    y = tuple_draws(plan, base + _ONE, gumbel=False)
    if plan.pairs.shape[0] > 1:
        return rotated_categories(plan, d, o, y)
    position = (y[..., :, None] > plan.thresholds[d][o][..., None, :]).sum(axis=-1)
    return orders[o[..., None], position]


def _stage_bases(plan: Plan, base: np.ndarray, stages: int) -> np.ndarray:
    """First counter of copula tuple t (t < ``stages``) of each block: ``base + 1 + t·tuple_draws``."""
    return base[..., None] + _ONE + np.arange(stages, dtype=np.uint64) * np.uint64(plan.tuple_draws)


def _gumbel_set(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """GUMBEL: ``z_i = argmin_c (−log U_{c,i}) / p_c`` (first minimum)."""
    race = tuple_draws(plan, _stage_bases(plan, base, plan.categories), gumbel=True) * plan.inv_probs[d][:, None]
    return race.argmin(axis=-2)


def _stick_set(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """STICK: the first stage s with ``Y_{s,i} < π_s``, else the last category of the order."""
    k = plan.categories
    order = plan.orders[d, 0]
    stops = tuple_draws(plan, _stage_bases(plan, base, k - 1), gumbel=False) < plan.thresholds[d, 0][:, None]
    return np.where(stops.any(axis=-2), order[stops.argmax(axis=-2)], order[k - 1])


#: The n samples of one variable, per construction that draws them variable by variable.
SAMPLE_SETS = {
    Construction.INVERSE: _inverse_set,
    Construction.GUMBEL: _gumbel_set,
    Construction.STICK: _stick_set,
    Construction.PAIRS: _pair_set,
}


def sample_set(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """Draw the n categories of variable d for each counter block start in ``base``, shape ``(..., n)``.

    Draw ``base`` picks the order (when the order set has more than one), copula tuple t starts
    at ``base + 1 + t·tuple_draws``. INVERSE: ``z_i = order[#{j : Y_i > t_j}]``; GUMBEL:
    ``z_i = argmin_c (−log U_{c,i}) / p_c`` (first minimum); STICK: the first stage s with
    ``Y_{s,i} < π_s``, else the last category of the order; PAIRS: ``z_{2j} = 1[u_j > 1 − p]``,
    ``z_{2j+1} = 1[u_j < p]``.
    """
    return branch(SAMPLE_SETS, Construction(plan.construction), "the NumPy backend's sample sets")(plan, d, base)


def _mc_ratio(plan: Plan, d: int, base: np.ndarray) -> np.ndarray:
    """Per-trial ratio tables (B, K, K) of the reference code's Monte Carlo pair pmf.

    ``P̂(a, b) = #{(r, i, j) : i ≠ j, s_{r,i} = a, s_{r,j} = b} / (R n (n − 1))`` over the R extra
    sample sets of the trial, and ``w = clip((p_a p_b + 10⁻³)/(P̂ + 10⁻³), 0.01, 10)``.
    """
    n, k, reps = plan.samples, plan.categories, plan.mc_pmf_draws
    rep_draws = plan.draws_per_var // (1 + reps)
    rep_base = base[:, None] + np.arange(1, reps + 1, dtype=np.uint64) * np.uint64(rep_draws)
    s = sample_set(plan, d, rep_base)  # (B, R, n)
    trial = np.arange(base.size)[:, None, None, None]
    flat = (trial * k + s[:, :, :, None]) * k + s[:, :, None, :]  # (B, R, n, n)
    distinct = ~np.eye(n, dtype=bool)
    counts = np.bincount(flat[:, :, distinct].ravel(), minlength=base.size * k * k).reshape(base.size, k, k)
    estimate = counts * (1.0 / (reps * n * (n - 1.0)))
    p = plan.probs[d]
    return np.clip((p[:, None] * p[None, :] + 1e-3) / (estimate + 1e-3), 0.01, 10.0)


def objective_values(plan: Plan, z: np.ndarray) -> np.ndarray:
    """``f(z_i) = Σ_d unary_d(z_{i,d}) + Σ_{d<e} pair_{d,e}(z_{i,d}, z_{i,e}) + full(z_i)``, shape (B, n)."""
    d_count, k = plan.dims, plan.categories
    f = plan.unary[0][z[:, :, 0]]
    for d in range(1, d_count):
        f = f + plan.unary[d][z[:, :, d]]
    if plan.has_pair:
        for d in range(d_count):
            for e in range(d + 1, d_count):
                f = f + plan.pair[d, e][z[:, :, d], z[:, :, e]]
    if plan.has_full:
        flat = np.zeros(z.shape[:2], dtype=np.int64)
        for d in range(d_count):
            flat = flat * k + z[:, :, d]
        f = f + plan.full[flat]
    return f


def _score(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """SCORE: ``c_i = f_i/n``."""
    return f / plan.samples


def _leave_one_out(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """LEAVE_ONE_OUT: ``c_i = (f_i − f̄)/(n − 1)``."""
    n = plan.samples
    return (f - (sum_in_order(f) / n)[:, None]) / (n - 1)


def _importance(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """Weight by IMPORTANCE: ``c_i = Σ_j w_d(z_i, z_j)(f_i − f_j) / (n(n − 1))``."""
    n = plan.samples
    zd = z[:, :, d]
    acc = np.zeros(f.shape)
    rows = np.arange(f.shape[0])[:, None]
    for j in range(n):
        zj = zd[:, j : j + 1]
        w = plan.ratio[d][zd, zj] if mc_ratio is None else mc_ratio[rows, zd, zj]
        acc += w * (f - f[:, j : j + 1])
    return acc * (1.0 / (n * (n - 1.0)))


def _pair_coefficients(plan: Plan, d: int, zd: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficients reproducing the per-pair targets t.

    ``c_b = t/(b − b̃)``, ``c_b̃ = −c_b`` when b ≠ b̃ and ``c_b = t/(b − p)``, ``c_b̃ = 0`` otherwise.
    """
    p_one = plan.probs[d, 1]
    b, b_tilde = zd[:, 0::2], zd[:, 1::2]
    differ = b != b_tilde
    coef = np.empty(zd.shape)
    coef[:, 0::2] = target / np.where(differ, b - b_tilde, b - p_one)
    coef[:, 1::2] = np.where(differ, -coef[:, 0::2], 0.0)
    return coef


def _arm(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """ARM: per pair j the target ``t_j = (f(b) − f(b̃))(u_j − ½)/(n/2)``."""
    pairs = plan.samples // 2
    delta = f[:, 0::2] - f[:, 1::2]
    u = uniforms(plan.key, offsets(trial_base + np.uint64(d * plan.draws_per_var + 1), pairs))
    return _pair_coefficients(plan, d, z[:, :, d], delta * (u - 0.5) / pairs)


def _disarm(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """DisARM: per pair j the target ``t_j = ½(f(b) − f(b̃)) max(p, 1 − p)(b − b̃)/(n/2)``."""
    p_one, pairs = plan.probs[d, 1], plan.samples // 2
    zd = z[:, :, d]
    b, b_tilde = zd[:, 0::2], zd[:, 1::2]
    delta = f[:, 0::2] - f[:, 1::2]
    target = 0.5 * delta * max(p_one, 1.0 - p_one) * (b - b_tilde) / pairs
    return _pair_coefficients(plan, d, zd, target)


#: Per-sample coefficients of one variable, per weighting that forms them variable by variable.
COEFFICIENTS = {
    Weighting.SCORE: _score,
    Weighting.LEAVE_ONE_OUT: _leave_one_out,
    Weighting.IMPORTANCE: _importance,
    Weighting.ARM: _arm,
    Weighting.DISARM: _disarm,
}


def coefficients(plan: Plan, d: int, z: np.ndarray, f: np.ndarray, trial_base: np.ndarray, mc_ratio) -> np.ndarray:
    """Per-sample coefficients c (B, n) of variable d, so that ``g_d = Σ_i c_i (e_{z_i} − p_d)``.

    SCORE ``c_i = f_i/n``; LEAVE_ONE_OUT ``c_i = (f_i − f̄)/(n − 1)``; IMPORTANCE
    ``c_i = Σ_j w_d(z_i, z_j)(f_i − f_j) / (n(n − 1))``; ARM / DisARM: per pair j the target
    ``t_j = (f(b) − f(b̃))(u_j − ½)/(n/2)`` or ``½(f(b) − f(b̃)) max(p, 1 − p)(b − b̃)/(n/2)``, with
    ``c_b = t/(b − b̃)``, ``c_b̃ = −c_b`` when b ≠ b̃ and ``c_b = t/(b − p)``, ``c_b̃ = 0`` otherwise.
    """
    weighting = Weighting(plan.weighting)
    return branch(COEFFICIENTS, weighting, "the NumPy backend's coefficients")(plan, d, z, f, trial_base, mc_ratio)


def _distinct_rows(configs: np.ndarray, k: int) -> np.ndarray:
    """Distinct rows among the S configurations (B, S, D) of each trial, exactly, shape (B,).

    A mixed-radix code ``Σ_d z_d K^(D−1−d)`` when K^D fits in int64, otherwise a lexicographic
    sort of the rows (trial first) and a comparison of neighbours.
    """
    b, s, d_count = configs.shape
    if k**d_count < 2**62:
        code = np.zeros((b, s), dtype=np.int64)
        for d in range(d_count):
            code = code * k + configs[:, :, d]
        code.sort(axis=1)
        return 1 + (np.diff(code, axis=1) != 0).sum(axis=1)
    rows = configs.reshape(b * s, d_count)
    trial = np.repeat(np.arange(b), s)
    order = np.lexsort(tuple(rows[:, d] for d in range(d_count - 1, -1, -1)) + (trial,))
    ordered = rows[order].reshape(b, s, d_count)
    return 1 + (ordered[:, 1:] != ordered[:, :-1]).any(axis=2).sum(axis=1)


def _arsm(plan: Plan, trial_base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ARSM (:func:`carms_cli.discrete.kernels.dense.arsm_estimate`) for a batch.

    Returns g (B, D, K), the swap-free configuration (B, D) and the number of distinct swap
    configurations per trial (B,).

    ``π_d = E_d/ΣE_d``, keys ``v_c = log E_c − l_c``; swap (c, j) moves only entries c and j, so
    variable d takes the better of the swapped keys and the best unswapped key other than c, j
    (one of the three smallest, first index on ties). f is evaluated for every swap
    configuration (equal configurations give equal values), the distinct ones are counted.
    """
    k, d_count, key = plan.categories, plan.dims, plan.key
    count = trial_base.size
    lp = plan.log_probs
    pi = np.empty((count, d_count, k))
    keys = np.empty((count, d_count, k))
    top = np.full((count, d_count, 3), -1, dtype=np.int64)
    for d in range(d_count):
        e = -np.log(uniforms(key, offsets(trial_base + np.uint64(d * plan.draws_per_var + 1), k)))
        keys[:, d] = np.log(e) - lp[d]
        pi[:, d] = e * (1.0 / sum_in_order(e))[:, None]
        ranked = np.argsort(keys[:, d], axis=1, kind="stable")[:, :3]
        top[:, d, : ranked.shape[1]] = ranked
    rows = np.arange(count)
    swaps = [(0, 0)] + [(c, j) for c in range(k) for j in range(c + 1, k)]
    configs = np.empty((count, len(swaps), d_count), dtype=np.int64)
    configs[:, 0] = top[:, :, 0]
    for s, (c, j) in enumerate(swaps[1:], start=1):
        for d in range(d_count):
            best = top[:, d, 0]
            for rank in (1, 2):
                taken = (best == c) | (best == j)
                best = np.where(taken, top[:, d, rank], best)
            v_best = np.where(best < 0, np.inf, keys[rows, d, np.maximum(best, 0)])
            v_c = keys[:, d, j] + lp[d, j] - lp[d, c]
            v_j = keys[:, d, c] + lp[d, c] - lp[d, j]
            better = v_c < v_best
            best = np.where(better, c, best)
            v_best = np.where(better, v_c, v_best)
            best = np.where(v_j < v_best, j, best)
            configs[:, s, d] = best
    f = objective_values(plan, configs)  # (B, S)
    values = np.empty((count, k, k))
    for s, (c, j) in enumerate(swaps):
        values[:, c, j] = f[:, s]
        values[:, j, c] = f[:, s]
    for m in range(1, k):
        values[:, m, m] = f[:, 0]
    means = sum_in_order(np.swapaxes(values, 1, 2)) / k  # means[j] = Σ_m values[m, j] / K
    g = np.zeros((count, d_count, k))
    inv_k = 1.0 / k
    for d in range(d_count):
        for j in range(k):
            g[:, d, :] += (values[:, :, j] - means[:, j : j + 1]) * (inv_k - pi[:, d, j : j + 1])
    return g, top[:, :, 0], _distinct_rows(configs, k)


#: Whether a relaxed estimate evaluates ∇f at the hard one-hot samples, per relaxed weighting.
_STRAIGHT_THROUGH = {Weighting.GUMBEL_SOFTMAX: False, Weighting.STRAIGHT_THROUGH: True}


def _relaxed(plan: Plan, trial_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-softmax / straight-through (:func:`carms_cli.discrete.kernels.dense.relaxed_estimate`) for a batch.

    Returns g (B, D, K) and the hard samples ``z = argmax s`` (B, n, D).

    ``s = log p + G`` with ``G = −log(−log u)`` (draw ``1 + i·K + c``), ``y = softmax(s/τ)``,
    ``∇ = u_d + Σ_{e≠d} B_{de} v_e`` and ``g_d = (1/(nτ)) Σ_i y ⊙ (∇ − y·∇)``, sums in the kernel's order.
    """
    n, k, d_count, key = plan.samples, plan.categories, plan.dims, plan.key
    count = trial_base.size
    straight = branch(_STRAIGHT_THROUGH, Weighting(plan.weighting), "the NumPy backend's relaxations")
    y = np.empty((count, n, d_count, k))
    z = np.empty((count, n, d_count), dtype=np.int64)
    for d in range(d_count):
        base = trial_base + np.uint64(d * plan.draws_per_var + 1)
        u = uniforms(key, offsets(base, n * k)).reshape(count, n, k)
        s = plan.log_probs[d] - np.log(-np.log(u))
        arg = s.argmax(axis=2)
        z[:, :, d] = arg
        best = np.take_along_axis(s, arg[:, :, None], axis=2)
        e = np.exp((s - best) / plan.temperature)
        y[:, :, d] = e * (1.0 / sum_in_order(e))[:, :, None]
    scale = 1.0 / (n * plan.temperature)
    g = np.zeros((count, d_count, k))
    for i in range(n):
        for d in range(d_count):
            grad = np.broadcast_to(plan.unary[d], (count, k)).copy()
            if plan.has_pair:
                for e in range(d_count):
                    if e == d:
                        continue
                    table = plan.pair[d, e] if d < e else plan.pair[e, d].T  # table[c, c2]
                    if straight:
                        grad += table.T[z[:, i, e]]
                    else:
                        total = np.zeros((count, k))
                        for c2 in range(k):
                            total += table[:, c2] * y[:, i, e, c2 : c2 + 1]
                        grad += total
            yd = y[:, i, d]
            dot = sum_in_order(yd * grad)
            g[:, d] += scale * yd * (grad - dot[:, None])
    return g, z


def _without_replacement(plan: Plan, trial_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UNORD's n distinct configurations (B, n, D) and their probabilities q (B, n), across trials.

    :func:`without_replacement` with every trial's probabilities the plan's and variable d's
    draws after its order draw (``trial_base + d·draws_per_var + 1 + i``).
    """
    probs = np.broadcast_to(plan.probs, (trial_base.size,) + plan.probs.shape)
    draws = np.uint64(plan.draws_per_var)

    def variable_base(d: int) -> np.ndarray:
        return trial_base + np.uint64(d) * draws + np.uint64(1)

    return without_replacement(probs, plan.key, variable_base, plan.samples)


def without_replacement(probs: np.ndarray, key, variable_base, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw n distinct joint configurations z (rows, n, D) and their probabilities q (rows, n).

    Row r draws from its own probabilities ``probs[r]`` (D, K).

    Drawn as :func:`carms_cli.discrete.kernels.unordered.sample_without_replacement` draws them;
    sample i of variable d uses counter ``variable_base(d) + i`` of stream ``key``.

    Category masses ``m(c) = π p_{d,c} − Σ_{j alive, z_{j,d} = c} q_j`` (summed in j order),
    exactly 0 when all ``K^{D−d−1}`` completions of the prefix are drawn, negatives clipped;
    the choice is the first c with ``m(c) > 0`` and running sum ≥ ``u · Σm``, else the last
    positive one.
    """
    count, d_count, k = probs.shape
    n = samples
    rows = np.arange(count)
    z = np.zeros((count, n, d_count), dtype=np.int64)
    q = np.zeros((count, n))
    for i in range(n):
        prefix = np.ones(count)
        alive = np.ones((count, i), dtype=bool)
        for d in range(d_count):
            mass = np.zeros((count, k))
            hits = np.zeros((count, k), dtype=np.int64)
            for j in range(i):
                c = z[:, j, d]
                mass[rows, c] += np.where(alive[:, j], q[:, j], 0.0)
                hits[rows, c] += alive[:, j]
            completions = 1
            for _ in range(d_count - 1 - d):
                completions *= k
                if completions > n:
                    break
            m = np.where(hits >= completions, 0.0, np.maximum(prefix[:, None] * probs[:, d] - mass, 0.0))
            target = uniforms(key, variable_base(d) + np.uint64(i)) * sum_in_order(m)
            running = np.zeros(count)
            choice = np.full(count, -1, dtype=np.int64)
            last = np.zeros(count, dtype=np.int64)
            for c in range(k):
                positive = m[:, c] > 0.0
                last = np.where(positive, c, last)
                running = running + m[:, c]  # + 0.0 where m(c) = 0: exact
                choice = np.where((choice < 0) & positive & (running >= target), c, choice)
            choice = np.where(choice < 0, last, choice)
            z[:, i, d] = choice
            prefix = prefix * probs[rows, d, choice]
            if i:
                alive &= z[:, :i, d] == choice[:, None]
        q[:, i] = prefix
    return z, q


def plackett_luce(q: np.ndarray, subset_mass: np.ndarray, target: int, base: np.ndarray) -> np.ndarray:
    """``P^{D∖A}(T)`` per trial (:func:`carms_cli.discrete.kernels.unordered._plackett_luce`).

    The subset dynamic programme ``h(M) = Σ_{b∈M} h(M∖b) q_b / (1 − base − q(M∖b))`` over the subsets of T.
    """
    n = q.shape[1]
    table = np.empty((q.shape[0], 1 << n))
    table[:, 0] = 1.0
    for mask in range(1, 1 << n):
        if mask & ~target:
            continue
        total = np.zeros(q.shape[0])
        for b in range(n):
            if mask & (1 << b):
                previous = mask ^ (1 << b)
                total += table[:, previous] * q[:, b] / (1.0 - base - subset_mass[:, previous])
        table[:, mask] = total
    return table[:, target]


def subset_masses(q: np.ndarray) -> np.ndarray:
    """``q(M) = Σ_{b∈M} q_b`` for every subset M of the n samples (bit mask), shape (B, 2ⁿ)."""
    count, n = q.shape
    subset_mass = np.empty((count, 1 << n))
    subset_mass[:, 0] = 0.0
    for mask in range(1, 1 << n):
        low = mask & -mask
        subset_mass[:, mask] = subset_mass[:, mask ^ low] + q[:, low.bit_length() - 1]
    return subset_mass


def unord_coefficients(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``c_s = (q_s/P0)(P1_s (1 − q_s) f_s − Σ_{t≠s} q_t P2_{st} f_t)`` per trial, shape (B, n).

    As :func:`carms_cli.discrete.kernels.unordered.unord_coefficients` computes them.
    """
    count, n = q.shape
    subset_mass = subset_masses(q)
    every = (1 << n) - 1
    zero = np.zeros(count)
    p0 = plackett_luce(q, subset_mass, every, zero)
    p1 = np.empty((count, n))
    p2 = np.empty((count, n, n))
    for s in range(n):
        p1[:, s] = plackett_luce(q, subset_mass, every ^ (1 << s), q[:, s])
        for t in range(s + 1, n):
            value = plackett_luce(q, subset_mass, every ^ (1 << s) ^ (1 << t), q[:, s] + q[:, t])
            p2[:, s, t] = value
            p2[:, t, s] = value
    coef = np.empty((count, n))
    for s in range(n):
        inner = p1[:, s] * (1.0 - q[:, s]) * f[:, s]
        for t in range(n):
            if t != s:
                inner = inner - q[:, t] * p2[:, s, t] * f[:, t]
        coef[:, s] = q[:, s] / p0 * inner
    return coef


class Draws(NamedTuple):
    """One batch's draws: samples z (B, n, D) and what the estimate needs besides them."""

    z: np.ndarray
    #: ARSM and the Gumbel relaxations: the estimate (B, D, K), computed with the draws
    g: np.ndarray | None = None
    #: function evaluations per trial (None: n)
    evaluations: np.ndarray | None = None
    #: UNORD: the probabilities q (B, n) of the n configurations
    q: np.ndarray | None = None
    #: the reference code's Monte Carlo ratio tables (B, K, K) per variable, or None each
    mc_ratios: list | None = None


def _variable_draws(plan: Plan, trial_base: np.ndarray) -> Draws:
    """Draw n samples per variable (:func:`sample_set`) and, with ``mc_pmf_draws``, the ratio tables."""
    z = np.empty((trial_base.size, plan.samples, plan.dims), dtype=np.int64)
    mc_ratios = []
    for d in range(plan.dims):
        base = trial_base + np.uint64(d * plan.draws_per_var)
        z[:, :, d] = sample_set(plan, d, base)
        mc_ratios.append(_mc_ratio(plan, d, base) if plan.mc_pmf_draws > 0 else None)
    return Draws(z, mc_ratios=mc_ratios)


def _subset_draws(plan: Plan, trial_base: np.ndarray) -> Draws:
    """SUBSETS: n distinct configurations and their probabilities."""
    z, q = _without_replacement(plan, trial_base)
    return Draws(z, q=q, mc_ratios=[None] * plan.dims)


def _swap_draws(plan: Plan, trial_base: np.ndarray) -> Draws:
    """Draw SWAPS: ARSM's estimate, its swap-free configuration in every row of z, its evaluations."""
    g, swap_free, evaluations = _arsm(plan, trial_base)
    return Draws(np.repeat(swap_free[:, None, :], plan.samples, axis=1), g=g, evaluations=evaluations)


def _relaxed_draws(plan: Plan, trial_base: np.ndarray) -> Draws:
    """RELAXED: the relaxed estimate and the hard samples."""
    g, z = _relaxed(plan, trial_base)
    return Draws(z, g=g)


#: One batch's draws per construction.
DRAWS = {
    Construction.INVERSE: _variable_draws,
    Construction.GUMBEL: _variable_draws,
    Construction.STICK: _variable_draws,
    Construction.PAIRS: _variable_draws,
    Construction.SUBSETS: _subset_draws,
    Construction.SWAPS: _swap_draws,
    Construction.RELAXED: _relaxed_draws,
}


def _score_sum(plan: Plan, z: np.ndarray, coef_of) -> np.ndarray:
    """``g_d = a − C p_d`` with ``a_k = Σ_{i: z_i = k} c_i`` and ``C = Σ_i c_i`` (sample order).

    The coefficients of variable d are ``coef_of(d)``.
    """
    count = z.shape[0]
    g = np.empty((count, plan.dims, plan.categories))
    rows = np.arange(count)
    for d in range(plan.dims):
        coef = coef_of(d)
        a = np.zeros((count, plan.categories))
        for i in range(plan.samples):
            a[rows, z[:, i, d]] += coef[:, i]
        g[:, d, :] = a - sum_in_order(coef)[:, None] * plan.probs[d]
    return g


def _per_variable_estimate(plan: Plan, draws: Draws, trial_base: np.ndarray) -> np.ndarray:
    """Coefficients per variable (:func:`coefficients`)."""
    f = objective_values(plan, draws.z)
    return _score_sum(plan, draws.z, lambda d: coefficients(plan, d, draws.z, f, trial_base, draws.mc_ratios[d]))


def _unord_estimate(plan: Plan, draws: Draws, trial_base: np.ndarray) -> np.ndarray:
    """UNORD: one coefficient per configuration, shared by every variable."""
    shared = unord_coefficients(draws.q, objective_values(plan, draws.z))
    return _score_sum(plan, draws.z, lambda d: shared)


def _drawn_estimate(plan: Plan, draws: Draws, trial_base: np.ndarray) -> np.ndarray:
    """ARSM and the Gumbel relaxations: the estimate came with the draws."""
    if draws.g is None:
        name = Construction(plan.construction).name
        raise MissingBranch(f"the NumPy backend draws no estimate for Construction.{name}")
    return draws.g


#: The estimate g (B, D, K) from a batch's draws, per weighting.
ESTIMATES = {
    Weighting.SCORE: _per_variable_estimate,
    Weighting.LEAVE_ONE_OUT: _per_variable_estimate,
    Weighting.IMPORTANCE: _per_variable_estimate,
    Weighting.ARM: _per_variable_estimate,
    Weighting.DISARM: _per_variable_estimate,
    Weighting.UNORD: _unord_estimate,
    Weighting.ARSM: _drawn_estimate,
    Weighting.GUMBEL_SOFTMAX: _drawn_estimate,
    Weighting.STRAIGHT_THROUGH: _drawn_estimate,
}


def simulate(plan: Plan, first_trial: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimates g, samples z and function evaluations of trials ``first_trial …``.

    Shapes: g (count, D, K), z (count, n, D), evaluations (count,).

    The construction draws (:data:`DRAWS`), the weighting turns the draws into g
    (:data:`ESTIMATES`): ``g_d = a − C p_d`` with ``a_k = Σ_{i: z_i = k} c_i`` and ``C = Σ_i c_i``
    (both summed in sample order); UNORD's coefficients are shared by every variable. ARSM and
    the Gumbel relaxations write g directly; ARSM records its swap-free configuration in every
    row of z and costs its number of distinct swap configurations, every other estimator n
    evaluations.
    """
    trial_base = np.arange(first_trial, first_trial + count, dtype=np.uint64) * np.uint64(
        plan.dims * plan.draws_per_var
    )
    construction, weighting = Construction(plan.construction), Weighting(plan.weighting)
    draws = branch(DRAWS, construction, "the NumPy backend's draws")(plan, trial_base)
    g = branch(ESTIMATES, weighting, "the NumPy backend's estimates")(plan, draws, trial_base)
    evaluations = draws.evaluations if draws.evaluations is not None else np.full(count, plan.samples, dtype=np.int64)
    return g, draws.z, evaluations


def distinct_counts(z: np.ndarray) -> np.ndarray:
    """Distinct categories among the n samples of each trial and variable, shape (B, D)."""
    ordered = np.sort(z, axis=1)
    return 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)


def batch_size(plan: Plan) -> int:
    """Trials per batch: about :data:`BATCH_ELEMENTS` array elements, from the plan alone."""
    n, k = plan.samples, plan.categories
    per_trial = plan.dims * (4 * plan.draws_per_var + n * k + 2 * k + plan.mc_pmf_draws * n * n)
    if plan.construction == Construction.SWAPS:  # swap configurations, their values, keys and π
        per_trial += (k * (k - 1) // 2 + 1) * (plan.dims + 2) + k * k + 4 * plan.dims * k
    elif plan.construction == Construction.RELAXED:  # scores, y and the per-sample gradients
        per_trial += 4 * n * plan.dims * k
    elif plan.construction == Construction.SUBSETS:  # subset masses and the Plackett–Luce table
        per_trial += 3 * (1 << n) + n * n + 4 * k
    return max(1, min(MAX_BATCH, BATCH_ELEMENTS // per_trial))


def trial_estimates(plan: Plan, first_trial: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial g (count, D, K) and z (count, n, D), like :func:`carms_cli.discrete.source.trial_estimates`."""
    g = np.empty((count, plan.dims, plan.categories))
    z = np.empty((count, plan.samples, plan.dims), dtype=np.int64)
    size = batch_size(plan)
    for start in range(0, count, size):
        stop = min(start + size, count)
        g[start:stop], z[start:stop], _ = simulate(plan, first_trial + start, stop - start)
    return g, z


def run_plan(plan: Plan, trials: int, progress: Callable[[int], None] | None = None):
    """Run ``trials`` trials of ``plan`` and return the engine's :class:`~carms_cli.core.records.RawResult`.

    Calls ``progress(done)`` after every batch.

    Per batch of m trials with mean ``ḡ_b`` and ``M2_b = Σ (g − ḡ_b)²``, the running state is
    updated by ``δ = ḡ_b − ḡ``, ``ḡ += δ m/N'``, ``M2 += M2_b + δ² N m/N'`` (``N' = N + m``);
    ``q = ‖g − ∇‖²`` per trial gives Σq and Σq².
    """
    from carms_cli.core.records import RawResult

    d_count, k, n = plan.dims, plan.categories, plan.samples
    size = batch_size(plan)
    mean = np.zeros((d_count, k))
    m2 = np.zeros((d_count, k))
    count = 0
    q_sum = q_sq_sum = 0.0
    unique_sum = unique_sq_sum = duplicate_sum = evaluation_sum = 0
    started = time.perf_counter()
    for first in range(0, trials, size):
        m = min(size, trials - first)
        g, z, evaluations = simulate(plan, first, m)
        evaluation_sum += int(evaluations.sum())
        batch_mean = g.mean(axis=0)
        delta = batch_mean - mean
        new_count = count + m
        mean += delta * (m / new_count)
        m2 += ((g - batch_mean) ** 2).sum(axis=0) + delta * delta * (count * m / new_count)
        count = new_count
        q = ((g - plan.exact_gradient) ** 2).sum(axis=(1, 2))
        q_sum += float(q.sum())
        q_sq_sum += float((q * q).sum())
        if plan.construction != Construction.SWAPS:  # ARSM has no samples: its counters stay 0
            unique = distinct_counts(z)
            unique_sum += int(unique.sum())
            unique_sq_sum += int((unique * unique).sum())
            duplicate_sum += int((unique < n).sum())
        if progress is not None:
            progress(count)
    return RawResult(
        trials=count,
        mean=mean,
        m2=m2,
        q_sum=q_sum,
        q_sq_sum=q_sq_sum,
        evaluation_sum=evaluation_sum,
        extras={"unique_sum": unique_sum, "unique_sq_sum": unique_sq_sum, "duplicate_sum": duplicate_sum},
        seconds=time.perf_counter() - started,
    )
