"""The ``variance`` analysis of the discrete family: problem + estimators → Report (no presentation here)."""

from collections.abc import Callable

from carms_cli.core.records import Report, run_settings
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
        "objective_fingerprint": problem.objective.fingerprint,
        **run_settings([spec.name for spec in specs], significance, backend, backend_note, threads, chunks),
        "binary": problem.categories == 2,
        "gradient": "phi (p = sigmoid(phi) = P(z=1))" if problem.categories == 2 else "logits",
    }


#: D×K float64 arrays per estimator besides its plan's tables: the plan's p, 1/p, log p and exact
#: gradient, the engine's running mean and M2, and the statistics kept for the report.
PER_ESTIMATOR_ARRAYS = 16
#: D×K float64 arrays per chunk row of a batch: the kernel's three accumulators, chunk mean and M2.
PER_ROW_ARRAYS = 5


def run_bytes(categories: int, dims: int, specs: list[EstimatorSpec], threads: int, backend: str = "cpu") -> int:
    """Estimate the peak bytes of :func:`analyse_variance` at K categories and D variables, objective aside.

    Every plan is built first: each estimator's sampler tables
    (:func:`~carms_cli.discrete.plan.sampler_table_bytes`) and its D×K arrays, plus one batch of
    chunk rows (:meth:`~carms_cli.discrete.source.PlanSource.batch_rows`'s rule). The sizes alone
    decide it, so the largest K that fits a budget can be searched
    (:func:`carms_cli.core.budget.check_size`); each plan also carries the objective's tables
    (:func:`~carms_cli.discrete.plan.objective_table_bytes`).
    """
    from carms_cli.discrete.plan import sampler_table_bytes

    cells = dims * categories
    if backend == "cuda":
        rows = max(1, (1 << 25) // (3 * cells))
    elif backend == "numpy":
        from carms_cli.discrete.kernels.numpy_backend import BATCH_ELEMENTS

        rows = max(1, BATCH_ELEMENTS // cells)
    else:
        rows = max(4 * threads, min(256, (1 << 22) // (3 * cells)))
    plans = sum(sampler_table_bytes(spec, categories, dims) + PER_ESTIMATOR_ARRAYS * 8 * cells for spec in specs)
    return plans + rows * PER_ROW_ARRAYS * 8 * cells


def analyse_variance(
    problem: Problem,
    specs: list[EstimatorSpec],
    threads: int,
    significance: float = 1e-3,
    progress: Callable[[int], None] | None = None,
    exact: bool = False,
    backend: str = "cpu",
    backend_note: str | None = None,
    preparing: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Run every estimator for ``problem.trials`` trials and summarise them in one Report.

    ``progress(done)`` receives the number of trials finished over all estimators.
    Plans are built (and validated) for every estimator before any sampling starts;
    ``preparing(name, done, total)`` hears of each variable's tables as they are built. With
    ``exact``, each estimator's exact moments are enumerated where computable (else a note).
    """
    family = CategoricalFamily(problem)
    duplicates_cache: dict = {}  # estimators sharing a sampler: exact duplicate statistics once
    runs = []
    for spec in specs:
        step = None if preparing is None else (lambda done, name=spec.name: preparing(name, done, problem.dims))
        runs.append(DiscreteRun(family, spec, build_plan(problem, spec, step), backend, duplicates_cache))
    config = problem_config(problem, specs, threads, significance, backend, backend_note, [run.plan for run in runs])
    return run_estimators(family, runs, problem.trials, threads, config, significance, progress, exact)
