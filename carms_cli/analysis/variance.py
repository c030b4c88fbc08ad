"""The ``variance`` analysis of the discrete family: problem + estimators → Report (no presentation here)."""

from collections.abc import Callable

from carms_cli import __version__
from carms_cli.core.records import Report
from carms_cli.core.stats import run_estimators
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.family import CategoricalFamily, DiscreteRun
from carms_cli.discrete.plan import Plan, build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.source import backend_chunk_size, plan_chunk_size


def problem_config(
    problem: Problem,
    specs: list[EstimatorSpec],
    threads: int,
    significance: float,
    backend: str = "cpu",
    backend_note: str | None = None,
    plans: list[Plan] | None = None,
) -> dict:
    """Every resolved input of the run, as JSON-ready values.

    ``chunk_size`` is the numba kernel's trials per chunk (one value for the problem) or, with
    ``backend="numpy"``, the NumPy backend's trials per batch of each estimator's plan
    (``{estimator: trials}``; ``plans`` in the order of ``specs``, built here when not given).
    """
    if backend == "numpy":
        plans = plans if plans is not None else [build_plan(problem, spec) for spec in specs]
        chunks = {spec.name: plan_chunk_size(plan, backend) for spec, plan in zip(specs, plans, strict=True)}
    else:
        chunks = backend_chunk_size(backend, problem.samples, problem.dims, problem.categories)
    return {
        "categories": problem.categories,
        "samples": problem.samples,
        "dims": problem.dims,
        "trials": problem.trials,
        "seed": problem.seed,
        "probs": problem.probs.tolist(),
        "probs_source": problem.probs_source,
        "objective": problem.objective.spec,
        "objective_description": problem.objective.description,
        "objective_additive": problem.objective.additive,
        "estimators": [spec.name for spec in specs],
        "significance": significance,
        "backend": backend,
        "backend_note": backend_note,
        "threads": threads,
        "chunk_size": chunks,
        "version": __version__,
        "binary": problem.categories == 2,
        "gradient": "phi (p = sigmoid(phi) = P(z=1))" if problem.categories == 2 else "logits",
    }


def analyse_variance(
    problem: Problem,
    specs: list[EstimatorSpec],
    threads: int,
    significance: float = 1e-3,
    progress: Callable[[int], None] | None = None,
    exact: bool = False,
    backend: str = "cpu",
    backend_note: str | None = None,
) -> Report:
    """Run every estimator for ``problem.trials`` trials and summarise them in one Report.

    ``progress(done)`` receives the number of trials finished over all estimators.
    Plans are built (and validated) for every estimator before any sampling starts. With
    ``exact``, each estimator's exact moments are enumerated where computable (else a note).
    """
    family = CategoricalFamily(problem)
    duplicates_cache: dict = {}  # estimators sharing a sampler: exact duplicate statistics once
    runs = [DiscreteRun(family, spec, build_plan(problem, spec), backend, duplicates_cache) for spec in specs]
    config = problem_config(problem, specs, threads, significance, backend, backend_note, [run.plan for run in runs])
    return run_estimators(family, runs, problem.trials, threads, config, significance, progress, exact)
