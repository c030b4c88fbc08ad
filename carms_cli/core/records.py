"""Records of the family contract, from a chunk's accumulators to the run's Report.

Every family (discrete today; continuous and models next) fills the same records, so the
engine, statistics, presenters, gates, ``compare`` and ``sweep`` serve them all:

* :class:`ChunkRows` — what a family's kernel gives the engine per chunk of trials: the trial
  count, the chunk mean and centred sum of squares ``Σ(g − ḡ)²`` of the estimate g over a flat
  parameter vector, ``Σq`` and ``Σq²`` of ``q = ‖g − r‖²`` about a reference point r (the exact
  gradient where known), the evaluation count and family-declared integer extras;
* :class:`RawResult` — those rows merged over a whole run;
* :class:`EstimatorResult` — one estimator's statistics (shared fields) plus the family's
  ``details`` (discrete: sampler, copula, duplicate statistics);
* :class:`Report` — the run: config, exact gradient, results, and what the family says about
  presenting them (header lines, extra columns, the reference estimator).
"""

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from carms_cli import __version__

SCHEMA = "carms-cli/variance/1"


def content_fingerprint(**parts) -> str:
    """Return ``sha256:HEX`` of named arrays and strings: what an objective holds, not what it is called.

    Arrays enter as their name, shape and little-endian float64 bytes, so the fingerprint depends
    on the values only (not on dtype, memory order or platform); ``None`` parts enter as absent.
    """
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(parts):
        value = parts[name]
        digest.update(f"{name}|".encode())
        if value is None:
            digest.update(b"none|")
        elif isinstance(value, str):
            digest.update(f"str|{value}|".encode())
        else:
            array = np.ascontiguousarray(value, dtype="<f8")
            digest.update(f"{array.shape}|".encode())
            digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()

#: Columns of :attr:`ChunkRows.scalars`: Σq, Σq², evaluations, then the family's extras.
Q_SUM, Q_SQ_SUM, EVALUATIONS = 0, 1, 2
FIRST_EXTRA = 3


def run_settings(
    estimators: list[str], significance: float, backend: str, backend_note: str | None, threads: int, chunk_size
) -> dict:
    """Return the run's settings that every comparison's config records after its problem's fields.

    The estimators in order, the family-wise level of the bias test, the backend as resolved (and
    the note of why, where it is not the one asked for), the CPU threads (the numbers do not depend
    on them), the trials per chunk, and this carms-cli's version.
    """
    return {
        "estimators": estimators,
        "significance": significance,
        "backend": backend,
        "backend_note": backend_note,
        "threads": threads,
        "chunk_size": chunk_size,
        "version": __version__,
    }


class ChunkRows(NamedTuple):
    """Accumulators of ``R`` consecutive chunks of trials (row r = chunk r, in trial order).

    Attributes
    ----------
    count : np.ndarray, shape (R,), int64
        Trials in each chunk (0 for an empty chunk, which the merge skips).
    mean : np.ndarray, shape (R, P)
        Chunk mean ``Σg / m`` of each of the P parameters.
    m2 : np.ndarray, shape (R, P)
        Chunk centred sum of squares ``Σ(g − ḡ)²`` (the numerically stable form of Σg²).
    scalars : np.ndarray, shape (R, 3 + E)
        ``Σq``, ``Σq²``, the evaluation count and the E family-declared integer extras.
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    scalars: np.ndarray


class RawResult(NamedTuple):
    """Merged accumulators of one estimator's run; arrays have the family's parameter shape."""

    trials: int
    mean: np.ndarray
    m2: np.ndarray  # Σ (g − ḡ)²
    q_sum: float  # Σ ‖g − r‖²
    q_sq_sum: float  # Σ ‖g − r‖⁴
    evaluation_sum: int  # Σ over trials of the function evaluations of the estimate
    extras: dict  # family-declared integer sums (discrete: unique_sum, unique_sq_sum, duplicate_sum)
    seconds: float


@dataclass(frozen=True)
class EstimatorResult:
    """Everything measured for one estimator (arrays have the reported parameter shape)."""

    name: str
    summary: str
    unbiased_by_design: bool
    #: mean function evaluations per estimate, as counted by the kernel
    evaluations_per_estimate: float
    trials: int
    mean: np.ndarray
    variance: np.ndarray
    std_error: np.ndarray
    bias_z: np.ndarray
    bias_max_abs_z: float | None
    bias_threshold_z: float | None
    bias_tested_coordinates: int
    unbiased: bool | None
    variance_total: float
    variance_total_ci95: tuple[float, float]
    median_log_variance: float
    #: total variance ÷ the reference estimator's (the family's; loorf for the discrete family)
    variance_ratio_to_loorf: float | None
    #: the family's name of the tested coordinate with the largest |z| (None if none is tested)
    bias_worst_coordinate: str | None
    wall_seconds: float
    trials_per_second: float
    #: variance_total × evaluations_per_estimate: the variance of an estimate that costs one
    #: evaluation's worth of budget (compare estimators at equal evaluations)
    variance_times_evaluations: float = 0.0
    #: wall seconds per estimate (variance_total × this compares at equal time)
    seconds_per_estimate: float = 0.0
    variance_exact: np.ndarray | None = None
    variance_exact_total: float | None = None
    variance_exact_z_max: float | None = None
    bias_exact_max_abs: float | None = None
    exact_note: str | None = None
    #: family-declared fields, written into the JSON record beside the shared ones
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """A family's extra column, read from a result's JSON entry at ``path``.

    Titled ``header`` in the table (None: CSV only) and ``csv`` in CSV (None: table only); shown
    with ``digits`` significant digits, or ``decimals`` fixed decimals. ``note`` is its entry in
    the table's short legend, ``"header: a few words"``; the family's :meth:`legend` lines give
    the full explanation (``--explain``), and stand in for the short legend where a note is missing.
    """

    header: str | None
    csv: str | None
    path: tuple[str, ...]
    digits: int = 4
    decimals: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Report:
    """One run: the resolved problem, one result per estimator, and how a family presents it.

    ``header`` holds the lines that state the problem (enough to repeat the run), ``columns``
    the family's extra columns, ``legend`` what goes untested and what its columns show,
    ``reference`` the estimator that variance ratios are taken against, ``untested_reason`` why
    a coordinate may go untested and ``evaluations_note`` what counts as an evaluation.
    """

    config: dict
    exact_gradient: np.ndarray
    results: list[EstimatorResult] = field(default_factory=list)
    schema: str = SCHEMA
    version: str = __version__
    header: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    legend: tuple[str, ...] = ()
    reference: str | None = None
    untested_reason: str = ""
    #: what counts as one evaluation where it is not plain (shown in the legend)
    evaluations_note: str = ""
    #: how the family computes exact variances ("enumerated", "by quadrature"), for the legend
    exact_method: str = "exact"


def plain(value):
    """JSON-ready values: arrays to lists, non-finite floats to None, dataclasses to dicts."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def result_entry(result: EstimatorResult) -> dict:
    """One estimator's JSON entry: the shared fields with the family's details after ``summary``."""
    shared = {name: getattr(result, name) for name in result.__dataclass_fields__ if name != "details"}
    entry = {}
    for name, value in shared.items():
        entry[name] = value
        if name == "summary":
            entry.update(result.details)
    return plain(entry)


def report_record(report: Report) -> dict:
    """Return the versioned JSON record of a run (documented in the README)."""
    return plain(
        {
            "schema": report.schema,
            "version": report.version,
            "config": {**report.config, "exact_gradient": report.exact_gradient},
            "estimators": [result_entry(result) for result in report.results],
        }
    )


def lookup(entry: dict, path: tuple[str, ...]):
    """``entry[path[0]][path[1]]…``, or None where a step is missing."""
    for key in path:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry
