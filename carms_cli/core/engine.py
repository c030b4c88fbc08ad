"""Run one estimator's chunk source in bounded-memory batches of chunks, for any family.

A family hands the engine a :class:`ChunkSource`: fixed-size chunks of trials whose boundaries
depend on the problem only, each filling one row of :class:`~carms_cli.core.records.ChunkRows`.
The engine asks for a batch of rows at a time, folds them in chunk order into running
``(count, mean, M2)`` accumulators (:func:`~carms_cli.core.merge.merge_rows`) and sums
the scalar columns in the same order, so a run's numbers do not depend on the number of threads
or on the target. Memory is fixed by the batch size, not by the number of trials.
"""

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.core.merge import merge_rows, sum_in_order
from carms_cli.core.records import EVALUATIONS, FIRST_EXTRA, Q_SQ_SUM, Q_SUM, ChunkRows, RawResult


class ChunkSource(Protocol):
    """One estimator on one problem, as a sequence of chunks of trials (a family implements it).

    Attributes
    ----------
    shape : tuple of int
        Shape of the estimate g (the engine merges it flattened, in C order).
    extra_names : tuple of str
        Names of the family's integer extras, in the order of ``scalars[:, FIRST_EXTRA:]``.
    chunk_size : int
        Trials per chunk: a function of the problem and target only, never of the threads.
    """

    shape: tuple[int, ...]
    extra_names: tuple[str, ...]
    chunk_size: int

    def batch_rows(self, threads: int) -> int:
        """Chunk rows per batch (bounds memory; enough rows to keep ``threads`` threads busy)."""
        ...

    def run(self, first_trial: int, rows: int, last_trial: int, threads: int) -> ChunkRows:
        """Run chunk rows ``0 .. rows − 1`` and return their accumulators.

        Row r runs trials ``first_trial + r·chunk_size`` up to the next chunk or ``last_trial``
        (a row past ``last_trial`` is empty).
        """
        ...


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


def run_source(
    source: ChunkSource, trials: int, threads: int, progress: Callable[[int], None] | None = None
) -> RawResult:
    """Run ``trials`` trials of ``source``; ``progress(done)`` is called after every batch.

    The first call compiles the source's kernels and the merge (or loads them from the cache)
    on one empty chunk; that time is not counted in ``seconds``.
    """
    size = source.chunk_size
    total_chunks = -(-trials // size)
    per_batch = min(source.batch_rows(threads), total_chunks)
    parameters = int(np.prod(source.shape))
    extras = len(source.extra_names)

    source.run(0, 1, 0, threads)  # compile or load from the cache, outside the timing

    mean = np.zeros(parameters)
    m2 = np.zeros(parameters)
    count = 0
    q_sum = q_sq_sum = 0.0
    evaluation_sum = 0
    extra_sums = [0] * extras
    started = time.perf_counter()
    for first in range(0, total_chunks, per_batch):
        rows = source.run(first * size, min(per_batch, total_chunks - first), trials, threads)
        count = merge_rows(rows.count, rows.mean, rows.m2, count, mean, m2)
        # fixed-order sums: identical for any thread count or batch size
        q_sum = sum_in_order(q_sum, rows.scalars[:, Q_SUM])
        q_sq_sum = sum_in_order(q_sq_sum, rows.scalars[:, Q_SQ_SUM])
        evaluation_sum += int(rows.scalars[:, EVALUATIONS].astype(np.int64).sum())
        for index in range(extras):
            extra_sums[index] += int(rows.scalars[:, FIRST_EXTRA + index].astype(np.int64).sum())
        if progress is not None:
            progress(count)
    seconds = time.perf_counter() - started
    return RawResult(
        trials=count,
        mean=mean.reshape(source.shape),
        m2=m2.reshape(source.shape),
        q_sum=q_sum,
        q_sq_sum=q_sq_sum,
        evaluation_sum=evaluation_sum,
        extras=dict(zip(source.extra_names, extra_sums, strict=True)),
        seconds=seconds,
    )
