"""What every distribution of ``carms implicit`` shares: its random stream, precisions and timer.

Kept apart from :mod:`carms_cli.analysis.implicit` (which imports each distribution's module) so
the distributions' modules can use them without an import cycle.
"""

import time
from collections.abc import Callable

import numpy as np

#: Random stream of the command's draws (the continuous estimators use 101–108).
STREAM = 201
#: Supported precisions.
DTYPES = {"float64": np.float64, "float32": np.float32}


def best_seconds(run: Callable[[], None], repeats: int) -> float:
    """Return the fastest of ``repeats`` timed calls of ``run``, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
