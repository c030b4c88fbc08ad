"""Run one estimator's plan through the CPU kernel in bounded-memory batches of chunks.

Memory is fixed by the batch size (a few hundred chunk rows), not by the number of trials:
the host merges each batch into running (count, mean, M2) accumulators before the next.
"""

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.plan import Plan

#: Trials per chunk at the largest; smaller for heavy trials so work still spreads over threads.
MAX_CHUNK = 4096
MIN_CHUNK = 64
#: Above ``MAX_CHUNK / CHUNK_TRIALS_PER_CATEGORY`` categories, chunks grow (up to
#: ``MAX_CHUNK_LARGE_K``) to keep that many trials per category: every chunk fills a fresh
#: accumulator row of D·K sums, whose first touches cost more than the trials at K ≳ 1000.
CHUNK_TRIALS_PER_CATEGORY = 16
MAX_CHUNK_LARGE_K = 32768


class RawResult(NamedTuple):
    """Merged accumulators of one estimator run."""

    trials: int
    mean: np.ndarray  # (D, K)
    m2: np.ndarray  # (D, K): Σ (g − ḡ)²
    q_sum: float  # Σ ‖g − ∇‖²
    q_sq_sum: float  # Σ ‖g − ∇‖⁴
    unique_sum: int  # Σ over trials and variables of distinct categories among n samples
    unique_sq_sum: int  # Σ of its square
    duplicate_sum: int  # Σ over trials and variables of 1[some two samples coincide]
    evaluation_sum: int  # Σ over trials of the function evaluations of the estimate
    seconds: float


def chunk_size(samples: int, dims: int, categories: int = 2) -> int:
    """Trials per chunk: a power of two, 4096 (up to 32768 for K > 256: at least 16 trials per
    category), then halved down to 64 while a chunk would draw more than 2^20 samples.

    Depends on the problem only, never on threads, so results do not depend on threads.
    """
    size = MAX_CHUNK
    while size < MAX_CHUNK_LARGE_K and size < CHUNK_TRIALS_PER_CATEGORY * categories:
        size *= 2
    while size > MIN_CHUNK and size * samples * dims > (1 << 20):
        size //= 2
    return size


def set_threads(threads: int | None) -> int:
    """Set numba's thread count (None: all available); returns the count in use."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if threads is None:
        numba.set_num_threads(available)
        return available
    if not 1 <= threads <= available:
        raise InputError(f"--threads must be in 1..{available} on this machine, got {threads}")
    numba.set_num_threads(threads)
    return threads


def _run_rows(
    args,
    backend: str,
    first_trial: int,
    rows: int,
    size: int,
    last_trial: int,
    out,
    threads: int,
    g_out=None,
    z_out=None,
) -> None:
    """One call of the backend's driver: ``rows`` chunks of ``size`` trials from ``first_trial``;
    ``args`` is :func:`~carms_cli.discrete.kernels.args.kernel_args` of the plan (computed once per run)."""
    record = g_out is not None
    if backend == "cuda":
        from carms_cli.discrete.kernels import cuda as gpu

        gpu.launch(first_trial, rows, size, last_trial, args, out, record, g_out, z_out)
        return
    from carms_cli.discrete.kernels.cpu import run_chunks

    if not record:
        g_out, z_out = np.zeros((0, 0, 0)), np.zeros((0, 0, 0), dtype=np.int64)
    run_chunks(first_trial, rows, size, last_trial, args, out, record, g_out, z_out, threads)


def _chunk_size(plan: Plan, backend: str) -> int:
    if backend == "cuda":
        from carms_cli.discrete.kernels.cuda import CUDA_CHUNK

        return CUDA_CHUNK
    return chunk_size(plan.samples, plan.dims, plan.categories)


def run_plan(
    plan: Plan,
    trials: int,
    threads: int,
    progress: Callable[[int], None] | None = None,
    backend: str = "cpu",
) -> RawResult:
    """Run ``trials`` trials of ``plan``; ``progress(done)`` is called after every batch.

    ``backend`` is ``"cpu"`` (numba parallel, chunks of :func:`chunk_size`) or ``"cuda"`` (one
    GPU thread per chunk of ``CUDA_CHUNK`` trials). The first call compiles the kernels (or loads
    them from numba's cache); that time is not counted in ``seconds``. ``"numpy"`` runs the
    vectorised NumPy backend (:mod:`carms_cli.discrete.kernels.numpy_backend`) on the same stream.
    """
    if backend == "numpy":
        from carms_cli.discrete.kernels import numpy_backend

        return numpy_backend.run_plan(plan, trials, progress)
    from carms_cli.discrete.kernels.cpu import merge_chunks
    from carms_cli.discrete.kernels.trial import (
        DUPLICATE_SUM,
        EVALUATION_SUM,
        Q_SQ_SUM,
        Q_SUM,
        UNIQUE_SQ_SUM,
        UNIQUE_SUM,
    )

    d_count, k = plan.dims, plan.categories
    size = _chunk_size(plan, backend)
    if backend == "cuda":
        per_batch_cap = max(1, (1 << 25) // max(1, d_count * k * 3))
    else:
        per_batch_cap = max(4 * threads, min(256, (1 << 22) // max(1, d_count * k * 3)))
    total_chunks = -(-trials // size)
    per_batch = min(per_batch_cap, total_chunks)

    from carms_cli.discrete.kernels.args import kernel_args, row_buffers

    warm = row_buffers(1, d_count, k)  # compile or load from the cache, outside the timing:
    args = kernel_args(plan)  # one empty chunk (trials 0 .. 0)
    _run_rows(args, backend, 0, 1, size, 0, warm, threads)
    merge_chunks(plan.probs, warm[0], *warm[1:6], 0, np.zeros((d_count, k)), np.zeros((d_count, k)))

    mean = np.zeros((d_count, k))
    m2 = np.zeros((d_count, k))
    count = 0
    q_sum = q_sq_sum = 0.0
    unique_sum = unique_sq_sum = duplicate_sum = evaluation_sum = 0
    started = time.perf_counter()
    for first in range(0, total_chunks, per_batch):
        rows = min(per_batch, total_chunks - first)
        out = row_buffers(rows, d_count, k)
        _run_rows(args, backend, first * size, rows, size, trials, out, threads)
        count = merge_chunks(plan.probs, out[0], *out[1:6], count, mean, m2)
        # fixed-order sums: identical for any thread count
        for row in out[6]:
            q_sum += row[Q_SUM]
            q_sq_sum += row[Q_SQ_SUM]
            unique_sum += int(row[UNIQUE_SUM])
            unique_sq_sum += int(row[UNIQUE_SQ_SUM])
            duplicate_sum += int(row[DUPLICATE_SUM])
            evaluation_sum += int(row[EVALUATION_SUM])
        if progress is not None:
            progress(count)
    seconds = time.perf_counter() - started
    return RawResult(
        count, mean, m2, q_sum, q_sq_sum, unique_sum, unique_sq_sum, duplicate_sum, evaluation_sum, seconds
    )


def trial_estimates(plan: Plan, first_trial: int, count: int, backend: str = "cpu"):
    """Per-trial estimates g (count, D, K) and samples z (count, n, D): the same driver, code and
    random stream as :func:`run_plan`, recording every trial (for tests, debugging and
    sample-level checks)."""
    if backend == "numpy":
        from carms_cli.discrete.kernels import numpy_backend

        return numpy_backend.trial_estimates(plan, first_trial, count)
    import numba

    d_count, k = plan.dims, plan.categories
    size = _chunk_size(plan, backend)
    rows = max(1, -(-count // size))
    g = np.zeros((count, d_count, k))
    z = np.zeros((count, plan.samples, d_count), dtype=np.int64)
    from carms_cli.discrete.kernels.args import kernel_args, row_buffers

    out = row_buffers(rows, d_count, k)
    threads = numba.get_num_threads() if backend == "cpu" else 1
    _run_rows(kernel_args(plan), backend, first_trial, rows, size, first_trial + count, out, threads, g, z)
    return g, z


def sample_sets(sampler, p: np.ndarray, n: int, count: int, seed: int, batch: int = 1 << 15, backend: str = "cpu"):
    """Yield batches of n-sample sets (shape (b, n)) of one variable drawn by the kernel itself.

    The random stream is the sampler's stream for ``seed``, as in ``carms variance``.
    """
    from carms_cli.discrete.estimators import EstimatorSpec, Weighting
    from carms_cli.discrete.objectives import build_objective
    from carms_cli.discrete.plan import build_plan
    from carms_cli.discrete.problem import Problem

    p = np.asarray(p, dtype=np.float64)
    problem = Problem(
        categories=p.size,
        samples=n,
        dims=1,
        probs=p[None, :].copy(),
        probs_source="given",
        objective=build_objective("table", 1, p.size, seed),
        trials=count,
        seed=seed,
    )
    plan = build_plan(problem, EstimatorSpec("probe", "sampler probe", sampler, Weighting.SCORE, True, ""))
    for first in range(0, count, batch):
        _, z = trial_estimates(plan, first, min(batch, count - first), backend)
        yield z[:, :, 0]
