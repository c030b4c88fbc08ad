"""The engine's reduction: the compiled merge and the in-order sums equal the scalar loops bit for bit."""

import numpy as np

from carms_cli.core import merge
from carms_cli.core.kernels.merge import merge_rows_compiled


def _rows(seed: int, rows: int, parameters: int):
    rng = np.random.default_rng(seed)
    count = rng.integers(0, 70, size=rows).astype(np.int64)
    count[::7] = 0  # empty rows are skipped
    mean = rng.normal(size=(rows, parameters)) * 10.0 ** rng.integers(-6, 6, size=(rows, 1))
    m2 = rng.random((rows, parameters)) * count[:, None]
    return count, mean, m2


def _numpy_merge(count, mean, m2, state_count, state_mean, state_m2):
    saved = merge.COMPILED_MERGE_ROWS
    merge.COMPILED_MERGE_ROWS = 1 << 62
    try:
        return merge.merge_rows(count, mean, m2, state_count, state_mean, state_m2)
    finally:
        merge.COMPILED_MERGE_ROWS = saved


def test_the_compiled_merge_is_bitwise_the_numpy_merge():
    for seed, rows, parameters in ((0, 1, 1), (1, 257, 10), (2, 5000, 3)):
        count, mean, m2 = _rows(seed, rows, parameters)
        start_mean, start_m2 = np.full(parameters, 0.25), np.full(parameters, 3.0)
        a_mean, a_m2 = start_mean.copy(), start_m2.copy()
        b_mean, b_m2 = start_mean.copy(), start_m2.copy()
        a = _numpy_merge(count, mean, m2, 40, a_mean, a_m2)
        b = merge_rows_compiled(count, mean, m2, 40, b_mean, b_m2)
        assert a == b == 40 + count.sum()
        assert np.array_equal(a_mean, b_mean) and np.array_equal(a_m2, b_m2)


def test_merge_rows_switches_to_the_compiled_loop_without_changing_a_bit():
    count, mean, m2 = _rows(3, merge.COMPILED_MERGE_ROWS + 5, 4)
    a_mean, a_m2, b_mean, b_m2 = np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4)
    assert merge.merge_rows(count, mean, m2, 0, a_mean, a_m2) == _numpy_merge(count, mean, m2, 0, b_mean, b_m2)
    assert np.array_equal(a_mean, b_mean) and np.array_equal(a_m2, b_m2)


def test_sum_in_order_is_the_left_to_right_loop():
    rng = np.random.default_rng(4)
    values = rng.normal(size=10_000) * 10.0 ** rng.integers(-8, 8, size=10_000)
    total = 0.125
    for value in values:
        total += value
    assert merge.sum_in_order(0.125, values) == total
    assert merge.sum_in_order(2.5, values[:0]) == 2.5
