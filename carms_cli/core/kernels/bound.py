"""The machine's RNG-plus-log bound: a kernel that only draws uniforms and takes their logs.

Every estimator draws its uniforms with :func:`carms_cli.core.rng.uniform`, and most take a ``log``
per draw (Gumbel race, Box–Muller, ARSM's Dirichlet draw, the Gumbel relaxations); issue 8
measures kernels against drawing the trial's uniforms and taking one ``log`` each. It is a
reference rate, not a strict ceiling: CARMS-I's Dirichlet copula (sorted-uniform spacings) and
independent samples take no ``log`` per draw. This kernel does exactly that, in the same
``prange`` over fixed chunks as the CPU driver, and sums the logs so the work cannot be
optimised away. ``carms bench`` reports each backend's throughput as a fraction of it.
"""

import math

import numba as nb
import numpy as np

from carms_cli.core.jit import cached_kernel
from carms_cli.core.rng import uniform


@cached_kernel(parallel=True)
def log_uniform_sums(key, first_trial, n_chunks, chunk_size, last_trial, draws, out):  # pragma: no cover - compiled
    """``out[r] = Σ_t Σ_{j<draws} log u(key, t·draws + j)`` over the trials of chunk r."""
    stride = np.uint64(draws)
    for row in nb.prange(n_chunks):
        start = first_trial + row * chunk_size
        stop = min(start + chunk_size, last_trial)
        total = 0.0
        for trial in range(start, stop):
            base = np.uint64(trial) * stride
            for j in range(draws):
                total += math.log(uniform(key, base + np.uint64(j)))
        out[row] = total
