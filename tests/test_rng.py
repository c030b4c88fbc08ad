"""The counter-based stream: kernel and pure-Python twin agree bit for bit; it looks uniform."""

import numpy as np
from scipy import stats

from carms_cli.core import jit
from carms_cli.core.rng import stream_key, uniform, uniform_py


@jit.helper()
def _uniforms(key, first, count):
    out = np.empty(count)
    for i in range(count):
        out[i] = uniform(key, np.uint64(first + i))
    return out


def test_kernel_stream_equals_python_twin():
    for seed, stream in [(0, 1), (123, 2), (2**63 - 1, 3)]:
        key = stream_key(seed, stream)
        got = _uniforms(np.uint64(key), 10**9, 64)
        expected = np.array([uniform_py(key, 10**9 + i) for i in range(64)])
        assert np.array_equal(got, expected)


def test_uniforms_in_open_interval_and_uniform():
    got = _uniforms(np.uint64(stream_key(7, 1)), 0, 200_000)
    assert got.min() > 0.0 and got.max() < 1.0
    assert stats.kstest(got, "uniform").pvalue > 0.01


def test_streams_of_different_seeds_and_samplers_differ():
    keys = {stream_key(seed, stream) for seed in range(20) for stream in range(1, 4)}
    assert len(keys) == 60
    a = _uniforms(np.uint64(stream_key(1, 1)), 0, 50_000)
    b = _uniforms(np.uint64(stream_key(2, 1)), 0, 50_000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(50_000)
