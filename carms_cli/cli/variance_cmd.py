"""``carms variance``: bias, variance and duplicate statistics of estimators on one problem."""

from dataclasses import replace
from typing import Annotated

import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    Baseline,
    CsvOut,
    Estimators,
    Explain,
    FailOnBias,
    JsonOut,
    Plot,
    ProblemOptions,
    Quiet,
    Significance,
    Threads,
    Tolerance,
    Trials,
    check_report_options,
    check_trials,
    max_variance_ratio_option,
    problem_options,
)
from carms_cli.cli.reporting import report_request, run_and_report
from carms_cli.core.errors import InputError
from carms_cli.discrete.registry import VARIANCE_REFERENCE, parse_estimators


@problem_options()
def variance(
    problem: ProblemOptions = ProblemOptions(),
    binary: Annotated[
        bool,
        typer.Option(
            "--binary", help="Binary variables (K = 2): report the gradient w.r.t. φ, p = sigmoid(φ) = P(z=1)."
        ),
    ] = False,
    trials: Trials = None,
    estimators: Estimators = None,
    threads: Threads = None,
    backend: Backend = BackendName.cpu,
    significance: Significance = 1e-3,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
    quiet: Quiet = False,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Also compute each estimator's exact variance by enumeration (where computable)."),
    ] = False,
    reference_mc_draws: Annotated[
        int,
        typer.Option(
            "--reference-mc-draws",
            help="Sample sets per call in carms-g-ref's Monte Carlo pair pmf (the reference code's num_mc).",
        ),
    ] = 100,
    plot: Plot = None,
    baseline: Baseline = None,
    tolerance: Tolerance = "variance:10%",
    max_variance_ratio: max_variance_ratio_option(VARIANCE_REFERENCE) = None,
    fail_on_bias: FailOnBias = False,
    explain: Explain = False,
) -> int:
    """Compare estimators on one problem: bias against the exact gradient, variance, duplicates, speed.

    Example: carms variance --categories 10 --samples 4
    """
    check_report_options(significance, json_out, csv_out, max_variance_ratio)
    check_trials(trials)
    objective_file = problem.objective.split(":", 1)[1] if problem.objective.startswith("file:") else None
    request = report_request(quiet=quiet, json_out=json_out, csv_out=csv_out, plot=plot, baseline=baseline,
                             tolerance=tolerance, significance=significance, fail_on_bias=fail_on_bias,
                             max_variance_ratio=max_variance_ratio, explain=explain,
                             inputs={"objective": objective_file})  # fmt: skip
    if reference_mc_draws < 1:
        raise InputError(f"--reference-mc-draws must be at least 1, got {reference_mc_draws}")
    budget = problem.budget()
    if binary and problem.categories not in (None, 2):
        raise InputError(f"--binary means --categories 2, got --categories {problem.categories}")
    problem = problem.build(trials, categories=2) if binary else problem.build(trials)
    specs = [
        replace(spec, mc_pmf_draws=reference_mc_draws) if spec.mc_pmf_draws else spec
        for spec in parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    ]
    request.check_reference([spec.name for spec in specs], VARIANCE_REFERENCE)
    from carms_cli.analysis.variance import analyse_variance, run_bytes
    from carms_cli.cli.reporting import PreparationNote
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.budget import check_size
    from carms_cli.core.engine import set_threads
    from carms_cli.discrete.plan import objective_table_bytes

    used_backend, backend_note = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    objective = len(specs) * objective_table_bytes(problem.objective)
    check_size(
        lambda k: run_bytes(k, problem.dims, specs, used_threads, used_backend) + objective,
        problem.categories,
        budget,
        f"this run ({len(specs)} estimator{'s' if len(specs) > 1 else ''} at K = {problem.categories:,}, "
        f"D = {problem.dims:,}, {used_threads} threads)",
        "K",
        lower=2,
    )
    return run_and_report(
        lambda progress: analyse_variance(
            problem,
            specs,
            used_threads,
            significance,
            progress=progress,
            exact=exact,
            backend=used_backend,
            backend_note=backend_note,
            preparing=PreparationNote(enabled=not quiet),
        ),
        problem.trials * len(specs),
        request,
    )
