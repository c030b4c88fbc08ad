"""Plain-text number formatting shared by the families' header lines and the presenters."""

import math

import numpy as np


def fmt_fixed(value: float | None, decimals: int = 3) -> str:
    """``value`` with a fixed number of decimals, or "–" when absent (None or NaN)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{decimals}f}"


def fmt_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, or "–" when absent (None or NaN)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}g}"


def format_matrix(values: np.ndarray, limit: int = 12) -> str:
    """Format a matrix on one line: its first 4 rows of at most ``limit`` entries, 4 significant digits."""
    rows = []
    for row in values[:4]:
        items = [f"{x:.4g}" for x in row[:limit]]
        if row.size > limit:
            items.append("…")
        rows.append("[" + ", ".join(items) + "]")
    if values.shape[0] > 4:
        rows.append(f"… ({values.shape[0]} rows)")
    return "; ".join(rows)
