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

from carms_cli.errors import InputError

AXES = ("categories", "samples", "dims", "alpha", "objective")


class GridPoint(NamedTuple):
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
    except ValueError:
        raise InputError(f"{option} expects integers like '5', '2,5,10' or '2..8', got '{text}'") from None
    if not values:
        raise InputError(f"{option} is empty")
    return list(dict.fromkeys(values))


def parse_float_list(text: str, option: str) -> list[float]:
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
    return [GridPoint(*point) for point in itertools.product(categories, samples, dims, alphas, objectives)]


def point_seed(seed: int, point: GridPoint) -> int:
    """Seed of one grid point: a function of ``seed`` and the coordinates only."""
    text = f"{seed}|{point.categories}|{point.samples}|{point.dims}|{point.alpha!r}|{point.objective}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def rerun_command(point: GridPoint, seed: int, trials: int, estimators: str | None, probs: str | None = None) -> str:
    """The ``carms variance`` command that reproduces one grid point's rows."""
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


def sweep_rows(
    points,
    seed: int,
    trials: int | None,
    estimators: str | None,
    threads: int,
    significance: float,
    backend: str = "cpu",
    progress=None,
    probs: str | None = None,
) -> Iterator[dict]:
    """Run every point and yield one flat row per (point, estimator), in grid order.

    ``probs`` fixes the probabilities of every point (otherwise each point draws its own from
    Dirichlet(α) with its seed)."""
    from carms_cli.analysis import analyse_variance
    from carms_cli.problem import build_problem, default_trials
    from carms_cli.registry import parse_estimators
    from carms_cli.report import report_record

    done = 0
    for point in points:
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
        specs = parse_estimators(estimators, problem.categories, problem.samples)
        report = analyse_variance(problem, specs, threads, significance, backend=backend)
        record = report_record(report)
        command = rerun_command(point, derived, point_trials, estimators, probs)
        for entry in record["estimators"]:
            yield {
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
        done += 1
        if progress is not None:
            progress(done)
