"""What every distribution of ``carms implicit`` shares: its random stream, precisions and timer.

Kept apart from :mod:`carms_cli.analysis.implicit` (which imports each distribution's module) so
the distributions' modules can use them without an import cycle.
"""

import time
from collections.abc import Callable

import numpy as np

from carms_cli.core.errors import InputError

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


def parse_values(text: str, option: str, limits: tuple[float, float], example: str) -> list[float]:
    """Return the distinct comma-separated numbers of ``option``, each finite and within ``limits``."""
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"{option} expects comma-separated numbers like '{example}', got '{text}'") from None
    if not values:
        raise InputError(f"{option} is empty")
    low, high = limits
    for value in values:
        if not np.isfinite(value) or not low <= value <= high:
            raise InputError(f"{option} values must lie in [{low:g}, {high:g}], got {value:g}")
    return list(dict.fromkeys(values))


def counting_calls(progress: Callable[[], None]) -> Callable[[int], None]:
    """Turn ``progress()`` (one call per reference check) into ``advance(done)`` (checks done so far)."""
    count = [0]

    def advance(done: int) -> None:
        while count[0] < done:
            count[0] += 1
            progress()

    return advance
