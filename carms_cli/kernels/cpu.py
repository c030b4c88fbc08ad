"""CPU drivers: ``prange`` over fixed-size chunks of trials, one accumulator row per chunk.

Chunk boundaries depend only on the problem, never on the thread count, and the host merges
chunk rows in chunk order, so results are bitwise identical for any ``--threads``.
The per-trial work is :func:`carms_cli.kernels.trial.simulate_chunk`, called once per chunk.
"""

import numba as nb
import numpy as np

from carms_cli.kernels import cached_kernel
from carms_cli.kernels.trial import simulate_chunk


# fmt: off
@cached_kernel(parallel=True)
def run_chunks(
    first_trial, n_chunks, chunk_size, last_trial,
    key, draws_per_var, construction, copula, n, k, d_count,
    orders, thresholds, guide, prefix, order_pairs, inv_probs, tuple_draws, mc_pmf_draws, probs, log_probs, temperature,
    weighting, ratio, unary, pair, has_pair, full, has_full,
    exact_gradient, sum_p2, sum_pg, sum_g2, peer_scratch,
    out_count, out_a, out_a2, out_ac, out_c, out_c2, out_scalars,
    record, g_out, z_out,
):  # pragma: no cover - compiled
    """Row r runs trials ``first_trial + r·chunk_size`` up to the next chunk or ``last_trial``.

    ``peer_scratch`` is the int64 array ``[dense rows, dense columns, work size, iwork size]`` of
    the per-chunk scratch of the dense and UNORD estimators, or None for the copula
    constructions: then the kernel compiles without those branches
    (:func:`~carms_cli.kernels.trial.scratch_sizes`). Output rows must be zeroed by the caller.
    With ``record``, each trial's estimate and samples also go to ``g_out[t − first_trial]`` and
    ``z_out[t − first_trial]`` (disjoint per chunk).
    """
    for row in nb.prange(n_chunks):
        start = first_trial + row * chunk_size
        stop = min(start + chunk_size, last_trial)
        # pair-count scratch only for the reference code's per-call Monte Carlo pmf
        mc_k = k if mc_pmf_draws > 0 else 1
        mc_d = d_count if mc_pmf_draws > 0 else 1
        low = start - first_trial if record else 0
        high = stop - first_trial if record else 0
        # two calls rather than one variable that is None or an array: numba types each alone,
        # and prunes the peer call (and every peer branch of the kernel) when peer_scratch is None
        if peer_scratch is None:
            simulate_chunk(
                start, stop, key, draws_per_var, construction, copula, n, k, d_count,
                orders, thresholds, guide, prefix, order_pairs, inv_probs, tuple_draws, mc_pmf_draws,
                probs, log_probs, temperature,
                weighting, ratio, unary, pair, has_pair, full, has_full,
                exact_gradient, sum_p2, sum_pg, sum_g2,
                np.empty(n), np.empty(n), np.empty(n, dtype=np.int64), np.empty((n, d_count), dtype=np.int64),
                np.empty(n), np.empty(n), np.zeros(k), np.zeros((mc_k, mc_k)), np.zeros((mc_d, mc_k, mc_k)),
                None, None, None,
                out_a[row], out_a2[row], out_ac[row], out_c[row], out_c2[row], out_scalars[row],
                record, g_out[low:high], z_out[low:high],
            )
        else:
            simulate_chunk(
                start, stop, key, draws_per_var, construction, copula, n, k, d_count,
                orders, thresholds, guide, prefix, order_pairs, inv_probs, tuple_draws, mc_pmf_draws,
                probs, log_probs, temperature,
                weighting, ratio, unary, pair, has_pair, full, has_full,
                exact_gradient, sum_p2, sum_pg, sum_g2,
                np.empty(n), np.empty(n), np.empty(n, dtype=np.int64), np.empty((n, d_count), dtype=np.int64),
                np.empty(n), np.empty(n), np.zeros(k), np.zeros((1, 1)), np.zeros((1, 1, 1)),
                np.zeros((peer_scratch[0], peer_scratch[1])), np.zeros(peer_scratch[2]),
                np.zeros(peer_scratch[3], dtype=np.int64),
                out_a[row], out_a2[row], out_ac[row], out_c[row], out_c2[row], out_scalars[row],
                record, g_out[low:high], z_out[low:high],
            )
        out_count[row] = stop - start
# fmt: on


@cached_kernel()
def merge_chunks(
    probs, out_count, out_a, out_a2, out_ac, out_c, out_c2, state_count, state_mean, state_m2
):  # pragma: no cover - compiled
    """Fold chunk rows, in order, into the running (count, mean, M2) per coordinate.

    Each chunk's sums become its own mean ``S1/m`` and ``M2 = S2 − S1²/m`` (with
    ``S1 = Σa − pΣC`` and ``S2 = Σa² − 2pΣaC + p²ΣC²``), merged by Chan et al.'s parallel
    update ``M2 = M2_a + M2_b + δ² n_a n_b / n``. Returns the new count.
    """
    count = state_count
    d_count, k = probs.shape
    for row in range(out_count.shape[0]):
        m = out_count[row]
        if m == 0:
            continue
        new_count = count + m
        for d in range(d_count):
            c1 = out_c[row, d]
            c2 = out_c2[row, d]
            for c in range(k):
                p = probs[d, c]
                s1 = out_a[row, d, c] - p * c1
                s2 = out_a2[row, d, c] - 2.0 * p * out_ac[row, d, c] + p * p * c2
                mean_b = s1 / m
                m2_b = max(s2 - s1 * mean_b, 0.0)
                delta = mean_b - state_mean[d, c]
                state_mean[d, c] += delta * m / new_count
                state_m2[d, c] += m2_b + delta * delta * count * m / new_count
        count = new_count
    return count
