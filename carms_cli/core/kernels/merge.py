"""Chan et al.'s parallel merge of chunk moments, compiled: the engine's one reduction."""

from carms_cli.core.jit import cached_kernel


@cached_kernel()
def merge_rows(count, mean, m2, state_count, state_mean, state_m2):  # pragma: no cover - compiled
    """Fold chunk rows, in order, into the running (count, mean, M2) of every parameter.

    Row r holds ``count[r]`` trials with chunk mean ``mean[r]`` and centred sum of squares
    ``m2[r]`` (each of shape (P,)); the running state is updated in place by
    ``δ = ḡ_r − ḡ``, ``ḡ += δ m / N'``, ``M2 += M2_r + δ² N m / N'`` with ``N' = N + m``
    (Chan, Golub & LeVeque 1979). Empty rows are skipped. Returns the new count N.
    """
    total = state_count
    for row in range(count.shape[0]):
        m = count[row]
        if m == 0:
            continue
        new_count = total + m
        for i in range(mean.shape[1]):
            delta = mean[row, i] - state_mean[i]
            state_mean[i] += delta * m / new_count
            state_m2[i] += m2[row, i] + delta * delta * total * m / new_count
        total = new_count
    return total
