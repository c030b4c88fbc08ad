"""The CPU drivers' thread pool: contiguous runs of chunk rows per thread, padded private scratch.

A family's CPU driver calls its compiled, GIL-free chunk kernel once per chunk row from
``threads`` workers (the calling thread and a persistent pool). Chunk boundaries depend only on
the problem, never on the thread count, and every row is written by one call only, so results
are bitwise identical for any ``--threads``.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()

#: Bytes of padding around each scratch buffer: scratch is written on every trial, and two
#: threads' small buffers side by side in one cache line would contend for it (false sharing).
_PAD_BYTES = 128


def _pool(workers: int) -> ThreadPoolExecutor | None:
    """Return the persistent worker pool, grown to at least ``workers`` threads (None if none needed)."""
    global _POOL, _POOL_SIZE
    if workers < 1:
        return None
    with _POOL_LOCK:
        if _POOL_SIZE < workers:
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="carms-chunk")
            _POOL_SIZE = workers
        return _POOL


def private(shape, dtype=np.float64) -> np.ndarray:
    """Return a zeroed C-contiguous array of ``shape`` that shares no cache line with any other buffer."""
    pad = _PAD_BYTES // np.dtype(dtype).itemsize
    size = int(np.prod(shape))
    return np.zeros(size + 2 * pad, dtype=dtype)[pad : pad + size].reshape(shape)


def run_rows(n_rows: int, threads: int, work: Callable[[int, int], None]) -> None:
    """Call ``work(first_row, last_row)`` on contiguous runs of rows, one run per thread.

    Contiguous runs (a static schedule) because neighbouring accumulator rows share cache
    lines, and two threads updating them at once would slow each other down.
    """
    workers = max(1, min(threads, n_rows))
    bounds = [n_rows * w // workers for w in range(workers + 1)]
    pool = _pool(workers - 1)
    futures = [pool.submit(work, bounds[w], bounds[w + 1]) for w in range(1, workers)] if pool is not None else []
    try:
        work(bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()
