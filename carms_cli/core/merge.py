"""Chan et al.'s parallel merge of chunk moments: the engine's one reduction."""

import numpy as np


def merge_rows(count, mean, m2, state_count: int, state_mean: np.ndarray, state_m2: np.ndarray) -> int:
    """Fold chunk rows, in order, into the running (count, mean, M2) of every parameter.

    Row r holds ``count[r]`` trials with chunk mean ``mean[r]`` and centred sum of squares
    ``m2[r]`` (each of shape (P,)); the running state is updated in place by
    ``δ = ḡ_r − ḡ``, ``ḡ += δ m / N'``, ``M2 += M2_r + δ² N m / N'`` with ``N' = N + m``
    (Chan, Golub & LeVeque 1979). Empty rows are skipped. Returns the new count N.

    Vectorised over the parameters, one row at a time: each element sees the same IEEE
    operations in the same order as a scalar loop, so the result does not depend on how rows
    were batched — and compiling it would cost more start-up time than it saves.
    """
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
