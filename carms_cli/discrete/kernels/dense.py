"""Per-trial helpers of the dense estimators: ARSM and the Gumbel relaxations.

They write the whole estimate ``g`` (D×K) into ``dense`` and, like the rest of the per-trial
code, take every buffer from the caller and allocate nothing, so the CPU and CUDA drivers
share them. Random draws follow the counter layout of :mod:`carms_cli.discrete.kernels.trial`: variable d
of a trial owns the counters ``trial_base + d·draws_per_var + 1 + …``.
"""

import math

import numpy as np

from carms_cli.core import jit
from carms_cli.core.rng import GOLDEN_GAMMA, mix64, uniform


@jit.helper(inline="always")
def objective_value(z, i, d_count, k, unary, pair, has_pair, full, has_full):  # pragma: no cover - compiled
    """``f(z_i) = Σ_d unary[d, z_{i,d}] + Σ_{d<e} pair[d, e, z_{i,d}, z_{i,e}] + full[z_i]`` of row i of z (n×D).

    The one copy of the objective (see :mod:`carms_cli.discrete.objectives`) in compiled code:
    the trial kernel evaluates its samples with it, ARSM its swap configurations. Summed in this
    order (unary terms, pairs d < e, the full table) everywhere, so every caller's numbers agree
    bit for bit.
    """
    value = 0.0
    for d in range(d_count):
        value += unary[d, z[i, d]]
    if has_pair:
        for d in range(d_count):
            for e in range(d + 1, d_count):
                value += pair[d, e, z[i, d], z[i, e]]
    if has_full:
        flat = 0
        for d in range(d_count):
            flat = flat * k + z[i, d]
        value += full[flat]
    return value


def arsm_scratch(k: int, d_count: int) -> tuple[int, int]:
    """(floats, ints) of scratch :func:`arsm_estimate` needs."""
    configs = k * (k - 1) // 2 + 1
    table = 1
    while table < 2 * configs:
        table *= 2
    return 2 * d_count * k + k * k + k + configs, 3 * d_count + configs * d_count + table + configs


# no reference counting (_nrt=False): it allocates nothing, and the arrays it hands the inlined
# objective_value per configuration would otherwise cost an atomic NRT incref/decref each
@jit.helper(error_model="numpy", _nrt=False)
def arsm_estimate(
    key, trial_base, draws_per_var, k, d_count, log_probs, unary, pair, has_pair, full, has_full, z, work, iwork, dense
):  # pragma: no cover - compiled
    """One ARSM estimate (spec 5) into ``dense``; returns its number of distinct configurations.

    ``π_d = E_d/ΣE_d`` with ``E_{d,c} = −log u``. ``z^{c↔j}_d = argmin_i (log π^{c↔j}_{d,i} − l_{d,i})``:
    only entries c and j move, so the argmin is the better of the swapped c and j and the best
    of the other entries (one of the three smallest of the unswapped keys). Configurations are
    deduplicated exactly (a hash table of the configuration, checked entry by entry) and f is
    evaluated once per distinct configuration, copied into row 0 of ``z`` (n×D) for
    :func:`objective_value` (the caller overwrites z afterwards).
    """
    dk = d_count * k
    n_configs = k * (k - 1) // 2 + 1
    table_size = 1
    while table_size < 2 * n_configs:
        table_size *= 2
    pi = 0  # work offsets: π (D·K), race keys (D·K), F (K·K), f̄ (K), f per configuration
    keys = dk
    values = 2 * dk
    means = 2 * dk + k * k
    config_f = means + k
    top = 0  # iwork offsets: three smallest keys per variable, configurations, hash table, hashes
    configs = 3 * d_count
    table = configs + n_configs * d_count
    hashes = table + table_size
    for d in range(d_count):
        base = trial_base + np.uint64(d * draws_per_var + 1)
        total = 0.0
        first = second = third = -1
        v_first = v_second = v_third = np.inf
        for c in range(k):
            e = -math.log(uniform(key, base + np.uint64(c)))
            work[pi + d * k + c] = e
            total += e
            v = math.log(e) - log_probs[d, c]
            work[keys + d * k + c] = v
            if v < v_first:
                third, v_third = second, v_second
                second, v_second = first, v_first
                first, v_first = c, v
            elif v < v_second:
                third, v_third = second, v_second
                second, v_second = c, v
            elif v < v_third:
                third, v_third = c, v
        iwork[top + 3 * d] = first
        iwork[top + 3 * d + 1] = second
        iwork[top + 3 * d + 2] = third
        inv = 1.0 / total
        for c in range(k):
            work[pi + d * k + c] *= inv
    for slot in range(table_size):
        iwork[table + slot] = -1
    distinct = 0
    s = 0
    for c in range(k):
        for j in range(c, k):
            if j == c and c > 0:
                continue  # every identity swap is configuration 0
            row = configs + s * d_count
            h = np.uint64(0x5BD1E995)
            for d in range(d_count):
                best = iwork[top + 3 * d]
                if j != c:
                    # the best unswapped entry other than c and j
                    if best == c or best == j:
                        best = iwork[top + 3 * d + 1]
                        if best == c or best == j:
                            best = iwork[top + 3 * d + 2]
                    v_best = np.inf if best < 0 else work[keys + d * k + best]
                    # swapped keys: log E_j − l_c at c and log E_c − l_j at j
                    v_c = work[keys + d * k + j] + log_probs[d, j] - log_probs[d, c]
                    v_j = work[keys + d * k + c] + log_probs[d, c] - log_probs[d, j]
                    if v_c < v_best:
                        best, v_best = c, v_c
                    if v_j < v_best:
                        best = j
                iwork[row + d] = best
                h = mix64(h + np.uint64(best + 1) * GOLDEN_GAMMA)
            # exact deduplication: probe the table, compare configurations on equal hashes
            slot = np.int64(h & np.uint64(table_size - 1))
            found = -1
            while iwork[table + slot] >= 0:
                other = iwork[table + slot]
                if iwork[hashes + other] == np.int64(h >> np.uint64(1)):
                    same = True
                    for d in range(d_count):
                        if iwork[configs + other * d_count + d] != iwork[row + d]:
                            same = False
                            break
                    if same:
                        found = other
                        break
                slot = (slot + 1) & (table_size - 1)
            if found >= 0:
                value = work[config_f + found]
            else:
                iwork[table + slot] = s
                iwork[hashes + s] = np.int64(h >> np.uint64(1))
                for d in range(d_count):
                    z[0, d] = iwork[row + d]
                value = objective_value(z, 0, d_count, k, unary, pair, has_pair, full, has_full)
                distinct += 1
            work[config_f + s] = value
            work[values + c * k + j] = value
            work[values + j * k + c] = value
            if s == 0:
                for m in range(1, k):
                    work[values + m * k + m] = value
            s += 1
    for j in range(k):
        mean = 0.0
        for m in range(k):
            mean += work[values + m * k + j]
        work[means + j] = mean / k
    inv_k = 1.0 / k
    for d in range(d_count):
        for c in range(k):
            g = 0.0
            for j in range(k):
                g += (work[values + c * k + j] - work[means + j]) * (inv_k - work[pi + d * k + j])
            dense[d, c] = g
    return distinct


def relaxed_scratch(n: int, k: int, d_count: int) -> int:
    """Floats of scratch :func:`relaxed_estimate` needs."""
    return n * d_count * k + k


@jit.helper(error_model="numpy")
def relaxed_estimate(
    key, trial_base, draws_per_var, n, k, d_count, log_probs, temperature, straight_through, unary, pair, has_pair,
    z, work, dense,
):  # pragma: no cover - compiled
    """One Gumbel-softmax (or, with ``straight_through``, straight-through) estimate into ``dense``.

    Sample i, variable d: ``s_c = log p_c + G_c`` with ``G_c = −log(−log u)`` (draw
    ``1 + i·K + c``); ``z = argmax s`` and ``y = softmax(s/τ)``. With the multilinear extension
    ``∇_{y_d} f = u_d + Σ_{e≠d} B_{de} v_e`` (``v_e = y_e``, or the one-hot of ``z_e`` for
    straight-through), ``g_d = (1/(nτ)) Σ_i y_{i,d} ⊙ (∇ − y_{i,d}·∇)``.
    """
    dk = d_count * k
    grad = n * dk
    for d in range(d_count):
        for c in range(k):
            dense[d, c] = 0.0
    for i in range(n):
        for d in range(d_count):
            base = trial_base + np.uint64(d * draws_per_var + 1 + i * k)
            row = i * dk + d * k
            best = -np.inf
            arg = 0
            for c in range(k):
                s = log_probs[d, c] - math.log(-math.log(uniform(key, base + np.uint64(c))))
                work[row + c] = s
                if s > best:
                    best = s
                    arg = c
            z[i, d] = arg
            total = 0.0
            for c in range(k):
                y = math.exp((work[row + c] - best) / temperature)
                work[row + c] = y
                total += y
            inv = 1.0 / total
            for c in range(k):
                work[row + c] *= inv
    scale = 1.0 / (n * temperature)
    for i in range(n):
        for d in range(d_count):
            row = i * dk + d * k
            for c in range(k):
                work[grad + c] = unary[d, c]
            if has_pair:
                for e in range(d_count):
                    if e == d:
                        continue
                    if straight_through:
                        ze = z[i, e]
                        for c in range(k):
                            work[grad + c] += pair[d, e, c, ze] if d < e else pair[e, d, ze, c]
                    else:
                        other = i * dk + e * k
                        for c in range(k):
                            s = 0.0
                            for c2 in range(k):
                                s += (pair[d, e, c, c2] if d < e else pair[e, d, c2, c]) * work[other + c2]
                            work[grad + c] += s
            dot = 0.0
            for c in range(k):
                dot += work[row + c] * work[grad + c]
            for c in range(k):
                dense[d, c] += scale * work[row + c] * (work[grad + c] - dot)
