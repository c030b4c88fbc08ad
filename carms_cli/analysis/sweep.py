"""``carms sweep``: ``variance`` over a grid of problems, one row per (grid point, estimator).

Every grid point gets its own seed, a pure function of ``--seed`` and the point's coordinates
(SHA-256 of a canonical text, folded to 63 bits), so any row can be re-run alone with the
``carms variance`` command printed beside it — and adding a value to one axis leaves every other
point's numbers unchanged.
"""

import hashlib
import itertools
import shlex
from collections.abc import Iterator
from typing import NamedTuple

from carms_cli.core.errors import InputError


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
    from carms_cli.discrete.problem import build_problem, default_trials
    from carms_cli.discrete.registry import parse_estimators

    used_threads = set_threads(threads)
    point_trials = trials if trials is not None else default_trials(point.samples, point.dims) // 4
    derived = point_seed(seed, point)
    problem = build_problem(
        categories=point.categories,
        samples=point.samples,
        dims=point.dims,
        probs=probs,
        alpha=point.alpha,
        objective=point.objective,
        trials=point_trials,
        seed=derived,
    )
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


def sweep_rows(points, progress=None, dask: str | None = None, **options) -> Iterator[dict]:
    """Rows of every point, in grid order. ``options`` go to :func:`point_rows`.

    With ``dask`` (a scheduler address, or ``local`` / ``local:N`` for a LocalCluster of N worker
    processes on loopback), points run on a Dask distributed cluster; results are identical to
    the local run because every point is a pure function of its seed and coordinates.
    """
    if dask is None:
        for done, point in enumerate(points, start=1):
            yield from point_rows(point, **options)
            if progress is not None:
                progress(done)
        return
    from carms_cli.analysis.distributed import dask_client

    with dask_client(dask) as client:
        futures = client.map(point_rows, points, pure=False, **options)
        for done, future in enumerate(futures, start=1):
            yield from future.result()
            if progress is not None:
                progress(done)
