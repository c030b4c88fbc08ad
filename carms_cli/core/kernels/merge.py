"""The engine's merge of chunk rows, compiled: for the many short rows of a GPU run.

The same operations, in the same order, as :func:`carms_cli.core.merge.merge_rows`' NumPy loop
(each element: ``δ = ḡ_r − ḡ``, ``ḡ += δ·m / N'``, ``M2 += M2_r + δ·δ·N·m / N'``), so both give
bitwise the same (count, mean, M2); numba contracts nothing into fused multiply-adds without
fast-math, which these helpers never ask for.
"""

from carms_cli.core.jit import cached_kernel


@cached_kernel(nogil=True)
def merge_rows_compiled(count, mean, m2, state_count, state_mean, state_m2):  # pragma: no cover - compiled
    """Fold rows ``count[r], mean[r], m2[r]`` in order into the running state; return the new count."""
    total = state_count
    for row in range(count.shape[0]):
        m = count[row]
        if m == 0:
            continue
        new_count = total + m
        for p in range(state_mean.shape[0]):
            delta = mean[row, p] - state_mean[p]
            state_mean[p] += delta * m / new_count
            state_m2[p] += m2[row, p] + delta * delta * total * m / new_count
        total = new_count
    return total
