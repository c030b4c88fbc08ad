"""The discrete family's chunk source: a plan's kernel run in chunks, for the shared engine.

:class:`PlanSource` implements :class:`carms_cli.core.engine.ChunkSource` for one estimator's
:class:`~carms_cli.discrete.plan.Plan` on the CPU (a pool of threads around the compiled chunk
kernel) or the GPU (one thread per chunk). The kernel accumulates the score-function form
``g = a − p·C`` compactly (Σa, Σa², ΣaC, ΣC, ΣC² per chunk);
:func:`~carms_cli.discrete.kernels.cpu.chunk_moments` turns each chunk's sums into the
contract's chunk mean and centred sum of squares. The extras are the duplicate counters.

:func:`run_plan` runs a plan through the engine (or the NumPy backend); :func:`trial_estimates`
records every trial's estimate and samples; :func:`sample_sets` streams a sampler's n-sample sets.
"""

from collections.abc import Callable

import numpy as np

from carms_cli.core.records import ChunkRows, RawResult
from carms_cli.discrete.plan import Plan

#: Trials per chunk at the largest; smaller for heavy trials so work still spreads over threads.
MAX_CHUNK = 4096
MIN_CHUNK = 64
#: Above ``MAX_CHUNK / CHUNK_TRIALS_PER_CATEGORY`` categories, chunks grow (up to
#: ``MAX_CHUNK_LARGE_K``) to keep that many trials per category: every chunk fills a fresh
#: accumulator row of D·K sums, whose first touches cost more than the trials at K ≳ 1000.
CHUNK_TRIALS_PER_CATEGORY = 16
MAX_CHUNK_LARGE_K = 32768

#: The discrete family's integer extras, in the order of the contract's scalar columns.
#: Sets per batch of :func:`sample_sets` (its memory: a batch's (b, D, K) estimates and (b, n, D) samples).
SET_BATCH = 1 << 15
EXTRA_NAMES = ("unique_sum", "unique_sq_sum", "duplicate_sum")


def chunk_size(samples: int, dims: int, categories: int = 2) -> int:
    """Return the trials per chunk, a power of two.

    4096 (up to 32768 for K > 256: at least 16 trials per category), then halved down to 64 while
    a chunk would draw more than 2^20 samples.

    Depends on the problem only, never on threads, so results do not depend on threads.
    """
    size = MAX_CHUNK
    while size < MAX_CHUNK_LARGE_K and size < CHUNK_TRIALS_PER_CATEGORY * categories:
        size *= 2
    while size > MIN_CHUNK and size * samples * dims > (1 << 20):
        size //= 2
    return size


def backend_chunk_size(backend: str, samples: int, dims: int, categories: int) -> int:
    """Trials per chunk of a numba backend: :func:`chunk_size` on the CPU, ``CUDA_CHUNK`` on the GPU."""
    if backend == "cuda":
        from carms_cli.discrete.kernels.cuda import CUDA_CHUNK

        return CUDA_CHUNK
    return chunk_size(samples, dims, categories)


def plan_chunk_size(plan: Plan, backend: str) -> int:
    """Trials per chunk that ``backend`` runs ``plan`` in.

    The numba backends use :func:`backend_chunk_size` (the problem's sizes alone); the NumPy
    backend sizes its batches per plan (:func:`carms_cli.discrete.kernels.numpy_backend.batch_size`,
    about a fixed number of array elements per batch).
    """
    if backend == "numpy":
        from carms_cli.discrete.kernels.numpy_backend import batch_size

        return batch_size(plan)
    return backend_chunk_size(backend, plan.samples, plan.dims, plan.categories)


def _run_rows(args, backend, first_trial, rows, size, last_trial, out, threads, g_out=None, z_out=None) -> None:
    """Call the backend's driver once: ``rows`` chunks of ``size`` trials from ``first_trial``.

    ``args`` is :func:`~carms_cli.discrete.kernels.args.kernel_args` of the plan.
    """
    record = g_out is not None
    if backend == "cuda":
        from carms_cli.discrete.kernels import cuda as gpu

        gpu.launch(first_trial, rows, size, last_trial, args, out, record, g_out, z_out)
        return
    from carms_cli.discrete.kernels.cpu import run_chunks

    if not record:
        g_out, z_out = np.zeros((0, 0, 0)), np.zeros((0, 0, 0), dtype=np.int64)
    run_chunks(first_trial, rows, size, last_trial, args, out, record, g_out, z_out, threads)


class PlanSource:
    """:class:`~carms_cli.core.engine.ChunkSource` of one plan on the ``"cpu"`` or ``"cuda"`` backend."""

    extra_names = EXTRA_NAMES

    def __init__(self, plan: Plan, backend: str = "cpu"):
        from carms_cli.discrete.kernels.args import kernel_args

        self.plan = plan
        self.backend = backend
        self.shape = (plan.dims, plan.categories)
        self.chunk_size = backend_chunk_size(backend, plan.samples, plan.dims, plan.categories)
        self.args = kernel_args(plan)

    def batch_rows(self, threads: int) -> int:
        """Return the chunk rows per batch: bounded by the buffer size, at least 4 per thread on the CPU."""
        cells = max(1, self.plan.dims * self.plan.categories * 3)
        if self.backend == "cuda":
            return max(1, (1 << 25) // cells)
        return max(4 * threads, min(256, (1 << 22) // cells))

    def run(self, first_trial: int, rows: int, last_trial: int, threads: int) -> ChunkRows:
        """Run ``rows`` chunks from ``first_trial`` and return their accumulators (one :class:`ChunkRows` row each)."""
        from carms_cli.discrete.kernels.args import row_buffers
        from carms_cli.discrete.kernels.cpu import chunk_moments
        from carms_cli.discrete.kernels.trial import (
            DUPLICATE_SUM,
            EVALUATION_SUM,
            Q_SQ_SUM,
            Q_SUM,
            UNIQUE_SQ_SUM,
            UNIQUE_SUM,
        )

        d_count, k = self.shape
        out = row_buffers(rows, d_count, k)
        _run_rows(self.args, self.backend, first_trial, rows, self.chunk_size, last_trial, out, threads)
        mean = np.zeros((rows, d_count, k))
        m2 = np.zeros((rows, d_count, k))
        chunk_moments(self.plan.probs, out[0], *out[1:6], mean, m2)
        columns = [Q_SUM, Q_SQ_SUM, EVALUATION_SUM, UNIQUE_SUM, UNIQUE_SQ_SUM, DUPLICATE_SUM]
        return ChunkRows(out[0], mean.reshape(rows, -1), m2.reshape(rows, -1), out[6][:, columns])


def run_plan(
    plan: Plan,
    trials: int,
    threads: int,
    progress: Callable[[int], None] | None = None,
    backend: str = "cpu",
) -> RawResult:
    """Run ``trials`` trials of ``plan``; ``progress(done)`` is called after every batch.

    ``backend`` is ``"cpu"`` (numba, a thread pool over chunks of :func:`chunk_size`) or
    ``"cuda"`` (one GPU thread per chunk of ``CUDA_CHUNK`` trials), both through the shared
    engine; ``"numpy"`` runs the vectorised NumPy backend
    (:mod:`carms_cli.discrete.kernels.numpy_backend`) on the same random stream.
    """
    if backend == "numpy":
        from carms_cli.discrete.kernels import numpy_backend

        return numpy_backend.run_plan(plan, trials, progress)
    from carms_cli.core.engine import run_source

    return run_source(PlanSource(plan, backend), trials, threads, progress)


def trial_estimates(plan: Plan, first_trial: int, count: int, backend: str = "cpu"):
    """Return the per-trial estimates g (count, D, K) and samples z (count, n, D).

    The same driver, code and random stream as :func:`run_plan`, recording every trial (for
    tests, debugging and sample-level checks).
    """
    if backend == "numpy":
        from carms_cli.discrete.kernels import numpy_backend

        return numpy_backend.trial_estimates(plan, first_trial, count)
    import numba

    from carms_cli.discrete.kernels.args import kernel_args, row_buffers

    d_count, k = plan.dims, plan.categories
    size = backend_chunk_size(backend, plan.samples, plan.dims, plan.categories)
    rows = max(1, -(-count // size))
    g = np.zeros((count, d_count, k))
    z = np.zeros((count, plan.samples, d_count), dtype=np.int64)
    out = row_buffers(rows, d_count, k)
    threads = numba.get_num_threads() if backend == "cpu" else 1
    _run_rows(kernel_args(plan), backend, first_trial, rows, size, first_trial + count, out, threads, g, z)
    return g, z


def sampler_probe(sampler):
    """Return the estimator :func:`sample_sets` runs to draw ``sampler``'s sets.

    A sampler's samples do not depend on the weighting (estimators sharing a sampler see the same
    samples). The copula constructions run a score-function probe; the others (antithetic pairs,
    UNORD's subsets, the Gumbel-noise draws) run the first registered estimator on them. ARSM
    draws no n samples (its evaluations are swaps of one Dirichlet draw): ValueError.
    """
    from carms_cli.discrete.estimators import EstimatorSpec, Weighting
    from carms_cli.discrete.registry import ESTIMATORS
    from carms_cli.discrete.sampling.samplers import Construction

    if sampler.construction in (Construction.INVERSE, Construction.GUMBEL, Construction.STICK):
        return EstimatorSpec("probe", "sampler probe", sampler, Weighting.SCORE, True, "")
    for spec in ESTIMATORS.values():
        if spec.sampler == sampler and spec.has_samples:
            return spec
    raise ValueError(f"sampler '{sampler.name}' draws no n-sample sets")


def sample_sets(sampler, p: np.ndarray, n: int, count: int, seed: int, batch: int = SET_BATCH, backend: str = "cpu"):
    """Yield batches of n-sample sets (shape (b, n)) of one variable drawn by the kernel itself.

    The random stream is the sampler's stream for ``seed``, as in ``carms variance``.
    """
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
    plan = build_plan(problem, sampler_probe(sampler))
    for first in range(0, count, batch):
        _, z = trial_estimates(plan, first, min(batch, count - first), backend)
        yield z[:, :, 0]
