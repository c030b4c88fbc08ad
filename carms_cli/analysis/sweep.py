"""``carms sweep``: one family's analysis over a grid of problems, one row per (grid point, estimator).

Every grid point gets its own seed, a pure function of ``--seed`` and the point's coordinates
(SHA-256 of a canonical text, folded to 63 bits), so any row can be re-run alone with the
command printed beside it — and adding a value to one axis leaves every other point's numbers
unchanged.

A family declares its sweep in a :class:`SweepFamily`: the grid axes (row fields, table titles,
which can be a plot's x axis, which one splits a figure into panels), the row fields, and the
pure function that turns one grid point into its rows. This module holds the discrete family's
(:data:`DISCRETE`: ``carms variance`` over K, n, D, α and objectives) and the family-neutral
parts (axis parsing, which axes vary, running the points locally or on Dask);
:mod:`carms_cli.analysis.continuous_sweep` holds the continuous family's.
"""

import hashlib
import itertools
import math
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from carms_cli.core.errors import InputError


@dataclass(frozen=True)
class SweepAxis:
    """One axis of a family's grid: its row field, its table title and whether it can be plotted on x."""

    field: str
    title: str
    numeric: bool = True


@dataclass(frozen=True)
class SweepFamily:
    """What a family declares for ``carms sweep``.

    Attributes
    ----------
    name : str
        The family (``discrete``, ``continuous``), written into the ``--json`` record.
    axes : tuple of SweepAxis
        The grid's axes in grid order (the last varies fastest); each is also a row field.
    row_fields : tuple of str
        Every row's fields, in order (JSON Lines, CSV and ``rows`` of ``--json``).
    run_point : callable
        ``run_point(point, **options) -> list[dict]``: the rows of one grid point, a pure function
        of its arguments (so it can run on a Dask worker).
    validate_point : callable
        ``validate_point(point, **options) -> list[str]``: refuse (InputError) a point that
        ``run_point`` would refuse, without running it; return its estimators' names.
    command : callable
        ``command(point, **options) -> str``: the re-run command every row of the point carries
        (``--resume`` keeps a row only if its command is this run's).
    reference : str
        The estimator variance ratios are taken against (its row field ``variance_ratio_to_<reference>``).
    panel_axis : str or None
        The axis whose values get one panel each in ``--plot`` (None: one panel).
    """

    name: str
    axes: tuple[SweepAxis, ...]
    row_fields: tuple[str, ...]
    run_point: Callable[..., list[dict]]
    validate_point: Callable[..., list[str]]
    command: Callable[..., str]
    reference: str
    panel_axis: str | None = None

    def axis(self, field: str) -> SweepAxis:
        """Return the axis whose row field is ``field``."""
        return next(axis for axis in self.axes if axis.field == field)

    def swept(self, coordinates: list[dict]) -> list[str]:
        """Return the fields of the axes that take more than one value over ``coordinates``."""
        return [axis.field for axis in self.axes if len({c[axis.field] for c in coordinates}) > 1]


def significant(value: float, digits: int = 12) -> float:
    """Round ``value`` to ``digits`` significant digits (grid values print short and re-parse exactly)."""
    return float(f"{value:.{digits}g}")


def parse_number_axis(text: str, option: str, positive: bool = False) -> tuple[list[float], bool]:
    """Parse a numeric axis: ``1`` · ``0.5,1,2`` · ``START:STOP:COUNT`` · ``START:STOP:COUNT:log``.

    A range has COUNT ≥ 2 evenly spaced values from START to STOP inclusive (``:log``: evenly
    spaced logarithms, START and STOP > 0); parts separated by commas are joined, duplicates
    dropped in order. Values are rounded to 12 significant digits, so they print short and the
    printed value re-runs exactly. Returns the values and whether any part was log-spaced.
    """
    values: list[float] = []
    logarithmic = False
    usage = f"{option} expects numbers like '1', '0.5,1,2', '-3:3:61' or '0.1:10:30:log', got '{text}'"
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        pieces = part.split(":")
        try:
            if len(pieces) == 1:
                values.append(float(part))
                continue
            if len(pieces) not in (3, 4) or (len(pieces) == 4 and pieces[3].lower() not in ("log", "lin")):
                raise InputError(usage)
            start, stop, count = float(pieces[0]), float(pieces[1]), int(pieces[2])
        except ValueError:
            raise InputError(usage) from None
        if count < 2:
            raise InputError(f"{option}: a range needs a COUNT of 2 or more, got '{part}'")
        if count > 100_000:
            raise InputError(f"{option}: at most 100000 values per range, got '{part}'")
        if len(pieces) == 4 and pieces[3].lower() == "log":
            if not (start > 0 and stop > 0):
                raise InputError(f"{option}: a log-spaced range needs START and STOP > 0, got '{part}'")
            logarithmic = True
            values.extend(np.geomspace(start, stop, count).tolist())
        else:
            values.extend(np.linspace(start, stop, count).tolist())
    values = [significant(v) for v in values]
    if not values:
        raise InputError(f"{option} is empty")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{option} must be finite, got '{text}'")
    if positive and not all(v > 0 for v in values):
        raise InputError(f"{option} must be positive, got '{text}'")
    return list(dict.fromkeys(values)), logarithmic


class GridPoint(NamedTuple):
    """One problem of the grid: K categories, n samples, D variables, Dirichlet(α) concentration, objective."""

    categories: int
    samples: int
    dims: int
    alpha: float
    objective: str


def parse_int_list(text: str, option: str) -> list[int]:
    """``5`` · ``2,5,10`` · ``2..8`` (inclusive) · mixtures like ``2..4,10``."""
    values: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if ".." in part:
                low, high = (int(x) for x in part.split(".."))
                if high < low:
                    raise InputError(f"{option}: empty range '{part}'")
                values.extend(range(low, high + 1))
            elif part:
                values.append(int(part))
    except InputError:
        raise
    except ValueError:
        raise InputError(f"{option} expects integers like '5', '2,5,10' or '2..8', got '{text}'") from None
    if not values:
        raise InputError(f"{option} is empty")
    return list(dict.fromkeys(values))


def parse_float_list(text: str, option: str) -> list[float]:
    """``0.1`` · ``0.1,1,10``: comma-separated numbers, duplicates dropped in order."""
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"{option} expects numbers like '0.1,1,10', got '{text}'") from None
    if not values:
        raise InputError(f"{option} is empty")
    return list(dict.fromkeys(values))


def parse_objectives(text: str) -> list[str]:
    """Objectives separated by ';' (a ',' may belong to a file path)."""
    values = [p.strip() for p in text.split(";") if p.strip()]
    if not values:
        raise InputError("--objective is empty")
    return list(dict.fromkeys(values))


def grid(categories, samples, dims, alphas, objectives) -> list[GridPoint]:
    """Return every combination of the axis values (the last axis varies fastest)."""
    return [GridPoint(*point) for point in itertools.product(categories, samples, dims, alphas, objectives)]


def point_seed(seed: int, point: GridPoint) -> int:
    """Seed of one grid point: a function of ``seed`` and the coordinates only."""
    text = f"{seed}|{point.categories}|{point.samples}|{point.dims}|{point.alpha!r}|{point.objective}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def rerun_command(point: GridPoint, seed: int, trials: int, estimators: str | None, probs: str | None = None) -> str:
    """Return the ``carms variance`` command that reproduces one grid point's rows."""
    parts = [
        "carms",
        "variance",
        "-k",
        str(point.categories),
        "-n",
        str(point.samples),
        "-d",
        str(point.dims),
        "--alpha",
        repr(point.alpha),
        "-o",
        point.objective,
        "-t",
        str(trials),
        "--seed",
        str(seed),
    ]
    if probs:
        parts += ["--probs", probs]
    if estimators:
        parts += ["-e", estimators]
    return shlex.join(parts)


def trials_of(point: GridPoint, trials: int | None) -> int:
    """Return the point's trials: ``trials``, or a quarter of ``carms variance``'s default."""
    from carms_cli.discrete.problem import default_trials

    return trials if trials is not None else default_trials(point.samples, point.dims) // 4


def point_command(point: GridPoint, seed: int, trials: int | None, estimators: str | None, probs=None, **_) -> str:
    """Return the re-run command of one grid point's rows (as :func:`point_rows` writes it)."""
    return rerun_command(point, point_seed(seed, point), trials_of(point, trials), estimators, probs)


def validate_point(point: GridPoint, seed: int, estimators: str | None, probs=None, **_) -> list[str]:
    """Refuse (InputError) a point :func:`point_rows` would refuse, without running it; return its estimators.

    Checks the problem (with ``--probs``), each estimator's applicability, the size of its tables
    and the work of its exact pair pmf (:func:`carms_cli.discrete.plan.check_plan`).
    """
    from carms_cli.discrete.plan import check_plan
    from carms_cli.discrete.registry import parse_estimators

    problem = point_problem(point, seed, probs, trials=1)
    specs = parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    for spec in specs:
        check_plan(problem, spec)
    return [spec.name for spec in specs]


def point_problem(point: GridPoint, seed: int, probs: str | None, trials: int):
    """Return the discrete Problem of a grid point, with its derived seed."""
    from carms_cli.discrete.problem import build_problem

    return build_problem(
        categories=point.categories,
        samples=point.samples,
        dims=point.dims,
        probs=probs,
        alpha=point.alpha,
        objective=point.objective,
        trials=trials,
        seed=point_seed(seed, point),
    )


def point_rows(
    point: GridPoint,
    seed: int,
    trials: int | None,
    estimators: str | None,
    threads: int | None,
    significance: float,
    backend: str = "cpu",
    probs: str | None = None,
) -> list[dict]:
    """Return the rows of one grid point: a pure function of its arguments (so it can run anywhere)."""
    from carms_cli.analysis.variance import analyse_variance
    from carms_cli.core.engine import set_threads
    from carms_cli.core.records import plain, report_record
    from carms_cli.discrete.registry import parse_estimators

    used_threads = set_threads(threads)
    point_trials = trials_of(point, trials)
    derived = point_seed(seed, point)
    problem = point_problem(point, seed, probs, point_trials)
    specs = parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    record = report_record(analyse_variance(problem, specs, used_threads, significance, backend=backend))
    command = rerun_command(point, derived, point_trials, estimators, probs)
    return [
        plain(
            {
                **point._asdict(),
                "trials": point_trials,
                "seed": derived,
                "estimator": entry["name"],
                "unbiased_by_design": entry["unbiased_by_design"],
                "unbiased": entry["unbiased"],
                "bias_max_abs_z": entry["bias_max_abs_z"],
                "variance_total": entry["variance_total"],
                "variance_total_ci95_low": entry["variance_total_ci95"][0],
                "variance_total_ci95_high": entry["variance_total_ci95"][1],
                "variance_ratio_to_loorf": entry["variance_ratio_to_loorf"],
                "median_log_variance": entry["median_log_variance"],
                "mean_unique": entry["duplicates"]["mean_unique"],
                "trials_per_second": entry["trials_per_second"],
                "command": command,
            }
        )
        for entry in record["estimators"]
    ]


def sweep_point_rows(points, progress=None, dask: str | None = None, run_point=None, **options) -> Iterator[list[dict]]:
    """Yield the rows of every point, one list per point, in grid order; ``options`` go to ``run_point``.

    ``run_point`` defaults to :func:`point_rows`. With ``dask`` (a scheduler address, or
    ``local`` / ``local:N`` for a LocalCluster of N worker processes on loopback), points run on
    a Dask distributed cluster; results are identical to the local run because every point is a
    pure function of its seed and coordinates.
    """
    run_point = run_point or point_rows
    if dask is None:
        for done, point in enumerate(points, start=1):
            yield run_point(point, **options)
            if progress is not None:
                progress(done)
        return
    from carms_cli.analysis.distributed import dask_client

    with dask_client(dask) as client:
        futures = client.map(run_point, points, pure=False, **options)
        for done, future in enumerate(futures, start=1):
            yield future.result()
            if progress is not None:
                progress(done)


def sweep_rows(points, progress=None, dask: str | None = None, run_point=None, **options) -> Iterator[dict]:
    """Rows of every point, in grid order (see :func:`sweep_point_rows`)."""
    for rows in sweep_point_rows(points, progress, dask, run_point, **options):
        yield from rows


#: The discrete family's sweep: ``carms variance`` over K, n, D, α and objectives.
DISCRETE = SweepFamily(
    name="discrete",
    axes=(
        SweepAxis("categories", "K"),
        SweepAxis("samples", "n"),
        SweepAxis("dims", "D"),
        SweepAxis("alpha", "α"),
        SweepAxis("objective", "objective", numeric=False),
    ),
    row_fields=(
        *GridPoint._fields,
        "trials",
        "seed",
        "estimator",
        "unbiased_by_design",
        "unbiased",
        "bias_max_abs_z",
        "variance_total",
        "variance_total_ci95_low",
        "variance_total_ci95_high",
        "variance_ratio_to_loorf",
        "median_log_variance",
        "mean_unique",
        "trials_per_second",
        "command",
    ),
    run_point=point_rows,
    validate_point=validate_point,
    command=point_command,
    reference="loorf",
)
