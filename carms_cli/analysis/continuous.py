"""The ``continuous`` analysis: a continuous problem and its estimators → one Report (no presentation here)."""

from collections.abc import Callable

from carms_cli.continuous.family import ContinuousFamily, ContinuousRun
from carms_cli.continuous.problem import ContinuousProblem
from carms_cli.continuous.registry import ContinuousSpec
from carms_cli.continuous.source import chunk_size
from carms_cli.core.records import Report, content_fingerprint, run_settings
from carms_cli.core.stats import run_estimators


def problem_config(
    problem: ContinuousProblem,
    specs: list[ContinuousSpec],
    threads: int,
    significance: float,
    backend: str = "cpu",
    backend_note: str | None = None,
) -> dict:
    """Every resolved input of the run, as JSON-ready values."""
    # trials per chunk of each estimator: a function of the problem, estimator and backend
    chunks = {spec.name: chunk_size(backend, spec, problem) for spec in specs}
    return {
        "command": "continuous",
        "distribution": problem.distribution,
        "values": {name: values.tolist() for name, values in problem.values.items()},
        "parameters": list(problem.parameters),
        "coordinates": problem.coordinate_names(),
        "samples": problem.samples,
        "dims": problem.dims,
        "trials": problem.trials,
        "seed": problem.seed,
        "objective": problem.objective.spec,
        "objective_description": problem.objective.description,
        # what the objective computes (its kernel code and parameters): its spec rounds k to 6 digits
        "objective_fingerprint": content_fingerprint(
            code=str(int(problem.objective.code)), params=problem.objective.params
        ),
        **run_settings([spec.name for spec in specs], significance, backend, backend_note, threads, chunks),
    }


def analyse_continuous(
    problem: ContinuousProblem,
    specs: list[ContinuousSpec],
    threads: int,
    significance: float = 1e-3,
    progress: Callable[[int], None] | None = None,
    exact: bool = False,
    backend: str = "cpu",
    backend_note: str | None = None,
) -> Report:
    """Run every estimator for ``problem.trials`` trials and summarise them in one Report.

    With ``exact``, each estimator's exact moments are computed by quadrature where computable
    (else a note saying why).
    """
    family = ContinuousFamily(problem)
    runs = [ContinuousRun(family, spec, backend) for spec in specs]
    config = problem_config(problem, specs, threads, significance, backend, backend_note)
    return run_estimators(family, runs, problem.trials, threads, config, significance, progress, exact)
