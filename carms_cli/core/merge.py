"""Chan et al.'s parallel merge of chunk moments: the engine's one reduction."""

import numpy as np

#: From this many rows a batch is merged by the compiled loop
#: (:func:`carms_cli.core.kernels.merge.merge_rows_compiled`, bitwise the same result): a GPU run's
#: small chunks give up to a million rows per batch, where the NumPy loop took seconds; the CPU's few
#: hundred rows per batch stay in NumPy and cost no compile at start-up.
COMPILED_MERGE_ROWS = 4096


def merge_rows(count, mean, m2, state_count: int, state_mean: np.ndarray, state_m2: np.ndarray) -> int:
    """Fold chunk rows, in order, into the running (count, mean, M2) of every parameter.

    Row r holds ``count[r]`` trials with chunk mean ``mean[r]`` and centred sum of squares
    ``m2[r]`` (each of shape (P,)); the running state is updated in place by
    ``δ = ḡ_r − ḡ``, ``ḡ += δ m / N'``, ``M2 += M2_r + δ² N m / N'`` with ``N' = N + m``
    (Chan, Golub & LeVeque 1979). Empty rows are skipped. Returns the new count N.

    Vectorised over the parameters, one row at a time: each element sees the same IEEE
    operations in the same order as a scalar loop, so the result does not depend on how rows
    were batched. Batches of :data:`COMPILED_MERGE_ROWS` rows or more run the same loop compiled.
    """
    if count.shape[0] >= COMPILED_MERGE_ROWS:
        from carms_cli.core.kernels.merge import merge_rows_compiled

        return int(merge_rows_compiled(count, mean, m2, state_count, state_mean, state_m2))
    total = state_count
    for row in range(count.shape[0]):
        m = int(count[row])
        if m == 0:
            continue
        new_count = total + m
        delta = mean[row] - state_mean
        state_mean += delta * m / new_count
        state_m2 += m2[row] + delta * delta * total * m / new_count
        total = new_count
    return total


def sum_in_order(start: float, values: np.ndarray) -> float:
    """Return ``start + values[0] + values[1] + …`` added left to right.

    ``np.add.accumulate`` adds strictly in order (each partial sum is an output), unlike
    ``np.sum``'s pairwise summation, so this equals the scalar loop bit for bit.
    """
    if values.shape[0] == 0:
        return start
    return float(np.add.accumulate(np.concatenate(([start], values)))[-1])
