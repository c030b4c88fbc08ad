"""The memory budget: estimate what a run will allocate from the problem alone, refuse it up front.

Commands that allocate problem-sized tables (``variance``, ``exact``, ``pmf``, ``duplicates``,
``bench``) estimate their peak memory from the problem's sizes before allocating anything and
refuse (exit 2, with the estimate) a run above the budget: ``--max-memory`` (e.g. ``4G``,
``512M``), by default :data:`DEFAULT_FRACTION` of the machine's physical memory. The estimates
are upper bounds of the large arrays only (the interpreter and the compiled kernels add about
0.3 GB), so they refuse early rather than late.
"""

import os
import re
from collections.abc import Callable

from carms_cli.core.errors import InputError

#: Share of the physical memory a run may use by default.
DEFAULT_FRACTION = 0.5
#: Budget when the physical memory cannot be read (not Linux, macOS or a POSIX sysconf).
FALLBACK_BUDGET = 8 << 30
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def physical_memory() -> int | None:
    """Return the machine's physical memory in bytes (None when it cannot be read)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def default_budget() -> int:
    """Return :data:`DEFAULT_FRACTION` of the physical memory (:data:`FALLBACK_BUDGET` if unknown)."""
    total = physical_memory()
    return int(total * DEFAULT_FRACTION) if total else FALLBACK_BUDGET


def parse_memory(text: str | None) -> int:
    """Return the budget in bytes: ``4G``, ``512M``, ``1.5GiB``, ``2000000`` (bytes); None → the default."""
    if text is None:
        return default_budget()
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not match:
        raise InputError(f"--max-memory expects a size like '4G', '512M' or '1.5GiB', got '{text}'")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if not value >= 1 << 20:
        raise InputError(f"--max-memory must be at least 1M, got '{text}'")
    return int(value)


def fmt_bytes(count: float) -> str:
    """Return a byte count for people: ``1.5 GiB``, ``320 MiB``, ``12 KiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count:.0f} B"


def largest_fitting(estimate: Callable[[int], float], budget: int, upper: int, lower: int = 1) -> int:
    """Return the largest size ``s`` in ``[lower, upper]`` with ``estimate(s) ≤ budget`` (0 when none does).

    ``estimate`` must not decrease with the size (a bisection over ``[lower, upper]``).
    """
    if estimate(lower) > budget:
        return 0
    low, high = lower, upper  # estimate(low) fits; the answer lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if estimate(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def check_memory(estimate: float, budget: int, what: str, fits: str | None = None) -> None:
    """Raise InputError (exit 2) when ``estimate`` bytes exceed ``budget``, saying both and how to change it.

    ``fits`` names the largest request that fits (e.g. ``"the largest --categories that fits is 1,200"``);
    without it the message asks for a smaller problem.
    """
    if estimate > budget:
        raise InputError(
            f"{what} would need about {fmt_bytes(estimate)} of memory, more than the budget of {fmt_bytes(budget)} "
            f"(--max-memory; default half the physical memory): {fits or 'choose a smaller problem'}"
        )


def check_size(estimate: Callable[[int], float], size: int, budget: int, what: str, name: str, lower: int = 1) -> None:
    """:func:`check_memory` for a request whose memory grows with one size (e.g. K).

    ``estimate(size)`` is the bytes at that size; a refusal names the largest size (``name``, e.g.
    ``K``) in ``[lower, size]`` that fits, or says that none does.
    """
    need = estimate(size)
    if need <= budget:
        return
    largest = largest_fitting(estimate, budget, size, lower)
    fits = (
        f"the largest {name} that fits is {largest:,}"
        if largest
        else f"not even {name} = {lower:,} fits (raise --max-memory)"
    )
    check_memory(need, budget, what, fits)
