"""The ``variance`` analysis: problem + estimators → Report (no presentation here)."""

from collections.abc import Callable

import numpy as np

from carms_cli import __version__
from carms_cli.core.engine import chunk_size, run_plan
from carms_cli.core.stats import Report, summarise, with_exact, with_reference_ratios
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.exact.duplicates import exact_duplicates, multiset_count
from carms_cli.discrete.exact.moments import NotComputable, exact_moments
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import VARIANCE_REFERENCE

#: Largest D_unique · K^n · |Π| · 2^n work spent on exact duplicate statistics in a run.
MAX_EXACT_DUPLICATE_WORK = 5e7


def cuda_chunk() -> int:
    from carms_cli.discrete.kernels.cuda import CUDA_CHUNK

    return CUDA_CHUNK


def _chunk_size(backend: str, problem: Problem) -> int | None:
    """Trials per chunk of the backend; None for NumPy, whose batches are sized per plan."""
    if backend == "numpy":
        return None
    return cuda_chunk() if backend == "cuda" else chunk_size(problem.samples, problem.dims, problem.categories)


def exact_duplicate_means(problem: Problem, spec: EstimatorSpec) -> tuple[float | None, float | None]:
    """Exact (mean distinct, P(any coincide)) averaged over the variables, or (None, None)."""
    from carms_cli.discrete.exact.inverse import order_set_size
    from carms_cli.discrete.sampling.samplers import Construction

    if spec.sampler.construction in (Construction.SWAPS, Construction.SUBSETS):
        return None, None  # no per-variable n-sample pmf (ARSM: no samples; UNORD: drawn jointly)

    rows = {row.tobytes(): row for row in problem.probs}
    k, n = problem.categories, problem.samples
    # CARMS-I evaluates one box per multiset of categories; other samplers build the whole pmf
    tuples = multiset_count(k, n) if spec.sampler.construction == Construction.INVERSE else k**n
    work = len(rows) * tuples * order_set_size(spec.sampler.orders, k) * 2**n
    if spec.sampler.copula.name != "INDEPENDENT" and work > MAX_EXACT_DUPLICATE_WORK:
        return None, None
    try:
        stats = {key: exact_duplicates(spec.sampler, row, n) for key, row in rows.items()}
    except NotComputable:
        return None, None
    per_variable = [stats[row.tobytes()] for row in problem.probs]
    return (
        float(np.mean([s.mean_unique for s in per_variable])),
        float(np.mean([s.prob_any_coincide for s in per_variable])),
    )


def problem_config(
    problem: Problem,
    specs: list[EstimatorSpec],
    threads: int,
    significance: float,
    backend: str = "cpu",
    backend_note: str | None = None,
) -> dict:
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
        "backend": backend,
        "backend_note": backend_note,
        "threads": threads,
        "chunk_size": _chunk_size(backend, problem),
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
    exact_gradient = problem.exact_gradient()
    plans = [build_plan(problem, spec) for spec in specs]
    results = []
    duplicates_by_sampler: dict[str, tuple[float | None, float | None]] = {}  # shared samplers: once
    for index, (spec, plan) in enumerate(zip(specs, plans, strict=True)):
        offset = index * problem.trials

        def report_progress(done, offset=offset):
            if progress is not None:
                progress(offset + done)

        raw = run_plan(plan, problem.trials, threads, report_progress, backend)
        if spec.sampler.name not in duplicates_by_sampler:
            duplicates_by_sampler[spec.sampler.name] = exact_duplicate_means(problem, spec)
        result = summarise(spec, raw, problem, exact_gradient, significance, duplicates_by_sampler[spec.sampler.name])
        if exact:
            try:
                result = with_exact(result, exact_moments(problem, spec), exact_gradient, None)
            except NotComputable as reason:
                result = with_exact(result, None, exact_gradient, f"n/a: {reason}")
        results.append(result)
    return Report(
        config=problem_config(problem, specs, threads, significance, backend, backend_note),
        exact_gradient=exact_gradient[:, 1:] if problem.categories == 2 else exact_gradient,
        results=with_reference_ratios(results, VARIANCE_REFERENCE),
    )
