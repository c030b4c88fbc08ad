"""Per-trial logic, written once: :func:`simulate_chunk` runs a range of trials.

It takes every input and every scratch or output buffer from its caller and allocates
nothing, so the same function serves the parallel CPU driver (one call per chunk, scratch from
``np.empty``), the per-trial debug path (``record=True``) and a later CUDA driver (scratch from
local arrays). Inside the trial loop only scalar helpers are called: in numba's CPU target an
array passed to a helper per trial costs an atomic reference-count update, which halves
throughput and stops two threads from scaling.

Integer codes for copulas and weightings are those of :class:`carms_cli.copulas.Copula` and
:class:`carms_cli.estimators.Weighting`. Random draws: trial t, variable d uses counters
``t·D·draws_per_var + d·draws_per_var + j``; draw 0 picks the order, draws 1.. feed the copula.
"""

import math

import numba as nb
import numpy as np

from carms_cli.rng import normal_pair, uniform

INDEPENDENT = 0
DIRICHLET = 1
GAUSSIAN = 2

SCORE = 0
LEAVE_ONE_OUT = 1
IMPORTANCE = 2

#: Layout of the per-chunk scalar accumulators.
Q_SUM, Q_SQ_SUM, UNIQUE_SUM, UNIQUE_SQ_SUM, DUPLICATE_SUM = range(5)
N_SCALARS = 5


@nb.njit(error_model="numpy")
def simulate_chunk(
    start, stop, key, draws_per_var, copula, n, k, d_count, orders, thresholds, probs,
    weighting, ratio, unary, pair, has_pair, full, has_full,
    exact_gradient, sum_p2, sum_pg, sum_g2,
    latent, z, f, coef, acc,
    out_a, out_a2, out_ac, out_c, out_c2, scalars,
    record, g_out, z_out,
):  # pragma: no cover - compiled
    """Run trials ``start .. stop − 1`` and add their statistics to the output buffers.

    Per trial and variable d:

    1. pick an order ``o`` (uniform over the variable's order set) and draw one copula n-tuple
       on its latent scale: Dirichlet ``Y_i = 1 − E_i/ΣE`` (``E_i = −log u_i``); Gaussian
       ``Y = √(n/(n−1)) (X − X̄)`` with X iid N(0,1) by Box–Muller; independent ``Y_i = u_i``;
    2. ``z_i`` = the category at position ``#{j : Y_i > t_j}`` of the order (thresholds t are
       increasing), i.e. the c with ``L_c < U_i ≤ R_c``;

    then ``f_i = f(z_i)`` and per variable the coefficients ``c_i`` (see
    :class:`~carms_cli.estimators.Weighting`), so that ``g_d = a − C p_d`` with
    ``a_k = Σ_{i: z_i = k} c_i`` and ``C = Σ_i c_i``. Outputs: Σa_k, Σa_k², Σa_k·C (touched
    categories only), ΣC, ΣC², and ``scalars`` (Σq, Σq² with ``q = ‖g − ∇‖²``, distinct-category
    counts and coincidence counts). With ``record`` the trial's g and z also go to
    ``g_out[t − start]`` and ``z_out[t − start]``.
    """
    n_orders = orders.shape[1]
    stride = np.uint64(d_count * draws_per_var)
    q_sum = 0.0
    q_sq_sum = 0.0
    unique_sum = 0
    unique_sq_sum = 0
    duplicate_sum = 0
    for trial in range(start, stop):
        trial_base = np.uint64(trial) * stride
        # --- samples -------------------------------------------------------------------------
        for d in range(d_count):
            base = trial_base + np.uint64(d * draws_per_var)
            o = 0
            if n_orders > 1:
                o = int(uniform(key, base) * n_orders)
                if o >= n_orders:
                    o = n_orders - 1
            if copula == DIRICHLET:
                total = 0.0
                for i in range(n):
                    e = -math.log(uniform(key, base + np.uint64(1 + i)))
                    latent[i] = e
                    total += e
                inv = 1.0 / total
                for i in range(n):
                    latent[i] = 1.0 - latent[i] * inv
            elif copula == GAUSSIAN:
                total = 0.0
                for i in range(0, n, 2):
                    x1, x2 = normal_pair(key, base + np.uint64(1 + i))
                    latent[i] = x1
                    total += x1
                    if i + 1 < n:
                        latent[i + 1] = x2
                        total += x2
                mean = total / n
                scale = math.sqrt(n / (n - 1.0))
                for i in range(n):
                    latent[i] = scale * (latent[i] - mean)
            else:
                for i in range(n):
                    latent[i] = uniform(key, base + np.uint64(1 + i))
            for i in range(n):
                y = latent[i]
                position = 0
                for j in range(k - 1):
                    if y > thresholds[d, o, j]:
                        position = j + 1
                z[i, d] = orders[d, o, position]
        # --- objective -----------------------------------------------------------------------
        for i in range(n):
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
            f[i] = value
        # --- estimator coefficients and accumulation, per variable ----------------------------
        q = 0.0
        for d in range(d_count):
            if weighting == SCORE:
                for i in range(n):
                    coef[i] = f[i] / n
            elif weighting == LEAVE_ONE_OUT:
                mean = 0.0
                for i in range(n):
                    mean += f[i]
                mean /= n
                for i in range(n):
                    coef[i] = (f[i] - mean) / (n - 1)
            else:
                # ties have w = 0 on the diagonal (their (i, j) and (j, i) terms cancel anyway);
                # summing in a register beats updating coef[j] in the inner loop
                scale = 1.0 / (n * (n - 1.0))
                for i in range(n):
                    zi = z[i, d]
                    fi = f[i]
                    acc_i = 0.0
                    for j in range(n):
                        acc_i += ratio[d, zi, z[j, d]] * (fi - f[j])
                    coef[i] = acc_i * scale
            total = 0.0
            for i in range(n):
                total += coef[i]
                acc[z[i, d]] += coef[i]
            # ‖g_d − ∇_d‖² if no category were touched is Σ_k (C p_k + ∇_k)²; touched ones are
            # corrected below.
            q_d = total * total * sum_p2[d] + 2.0 * total * sum_pg[d] + sum_g2[d]
            unique = 0
            for i in range(n):
                c = z[i, d]
                first = True
                for j in range(i):
                    if z[j, d] == c:
                        first = False
                        break
                if first:
                    unique += 1
                    a = acc[c]
                    acc[c] = 0.0
                    out_a[d, c] += a
                    out_a2[d, c] += a * a
                    out_ac[d, c] += a * total
                    shift = total * probs[d, c] + exact_gradient[d, c]
                    diff = a - shift
                    q_d += diff * diff - shift * shift
                    if record:
                        g_out[trial - start, d, c] += a
            if record:
                for c in range(k):
                    g_out[trial - start, d, c] -= total * probs[d, c]
            out_c[d] += total
            out_c2[d] += total * total
            unique_sum += unique
            unique_sq_sum += unique * unique
            if unique < n:
                duplicate_sum += 1
            q += q_d
        q_sum += q
        q_sq_sum += q * q
        if record:
            for i in range(n):
                for d in range(d_count):
                    z_out[trial - start, i, d] = z[i, d]
    scalars[Q_SUM] += q_sum
    scalars[Q_SQ_SUM] += q_sq_sum
    scalars[UNIQUE_SUM] += unique_sum
    scalars[UNIQUE_SQ_SUM] += unique_sq_sum
    scalars[DUPLICATE_SUM] += duplicate_sum
