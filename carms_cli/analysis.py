"""The ``variance`` analysis: problem + estimators → Report (no presentation here)."""

from collections.abc import Callable

from carms_cli import __version__
from carms_cli.engine import chunk_size, run_plan
from carms_cli.estimators import EstimatorSpec
from carms_cli.exact import independent_mean_unique, independent_prob_coincide
from carms_cli.plan import build_plan
from carms_cli.problem import Problem
from carms_cli.registry import VARIANCE_REFERENCE
from carms_cli.samplers import INDEPENDENT
from carms_cli.stats import Report, summarise, with_reference_ratios


def problem_config(problem: Problem, specs: list[EstimatorSpec], threads: int, significance: float) -> dict:
    """Every resolved input of the run, as JSON-ready values."""
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
        "backend": "cpu",
        "threads": threads,
        "chunk_size": chunk_size(problem.samples, problem.dims),
        "version": __version__,
    }


def analyse_variance(
    problem: Problem,
    specs: list[EstimatorSpec],
    threads: int,
    significance: float = 1e-3,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Run every estimator for ``problem.trials`` trials and summarise them in one Report.

    ``progress(done)`` receives the number of trials finished over all estimators.
    Plans are built (and validated) for every estimator before any sampling starts.
    """
    exact_gradient = problem.exact_gradient()
    plans = [build_plan(problem, spec) for spec in specs]
    results = []
    for index, (spec, plan) in enumerate(zip(specs, plans, strict=True)):
        offset = index * problem.trials

        def report_progress(done, offset=offset):
            if progress is not None:
                progress(offset + done)

        raw = run_plan(plan, problem.trials, threads, report_progress)
        exact_duplicates = (None, None)
        if spec.sampler == INDEPENDENT:
            exact_duplicates = (
                independent_mean_unique(problem.probs, problem.samples),
                independent_prob_coincide(problem.probs, problem.samples),
            )
        results.append(summarise(spec, raw, problem, exact_gradient, significance, exact_duplicates))
    return Report(
        config=problem_config(problem, specs, threads, significance),
        exact_gradient=exact_gradient,
        results=with_reference_ratios(results, VARIANCE_REFERENCE),
    )
