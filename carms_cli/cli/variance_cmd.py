"""``carms variance``: bias, variance and duplicate statistics of estimators on one problem."""

import sys
from dataclasses import replace
from typing import Annotated

import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    CsvOut,
    Estimators,
    JsonOut,
    ProblemOptions,
    Quiet,
    Threads,
    Trials,
    check_outputs,
    check_trials,
    problem_options,
    write_output,
)
from carms_cli.core.errors import EXIT_GATE, EXIT_OK, InputError
from carms_cli.core.gates import bias_gate, require_reference, variance_ratio_gate
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
    significance: Annotated[
        float, typer.Option("--significance", help="Family-wise level of the Bonferroni-corrected bias test.")
    ] = 1e-3,
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
    plot: Annotated[
        str | None,
        typer.Option("--plot", help="Bar chart of total variance per estimator: PATH (.png/.svg) or '-' (terminal)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Compare with this earlier --json record (see 'carms compare'); exit 1 on a regression."
        ),
    ] = None,
    tolerance: Annotated[
        str, typer.Option(
            "--tolerance",
            help="With --baseline: variance increase allowed, as a percentage 'variance:10%' or a ratio "
            "'variance:x1.10' (a bare number is refused).",
        )
    ] = "variance:10%",
    max_variance_ratio: Annotated[
        float | None,
        typer.Option("--max-variance-ratio", help="Exit 1 if an estimator's total variance exceeds R times loorf's."),
    ] = None,
    fail_on_bias: Annotated[
        bool,
        typer.Option("--fail-on-bias", help="Exit 1 if an estimator that is unbiased by design fails the bias test."),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Explain every column of the table in full (instead of the short legend)."),
    ] = False,
) -> int:
    """Compare estimators on one problem: bias against the exact gradient, variance, duplicates, speed.

    Example: carms variance --categories 10 --samples 4
    """
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    check_trials(trials)
    if json_out == "-" and csv_out == "-":
        raise InputError("--json - and --csv - cannot both write to stdout")
    if max_variance_ratio is not None and not max_variance_ratio > 0:
        raise InputError(f"--max-variance-ratio must be positive, got {max_variance_ratio}")
    objective_file = problem.objective.split(":", 1)[1] if problem.objective.startswith("file:") else None
    check_outputs(
        {"--json": json_out, "--csv": csv_out, "--plot": plot},
        {"--baseline": baseline, "objective": objective_file},
        plot,
    )
    baseline_record = None
    if baseline is not None:
        from carms_cli.analysis.compare import parse_tolerance
        from carms_cli.cli.compare_cmd import load_record

        baseline_record = load_record(baseline, "baseline")
        tolerance_value = parse_tolerance(tolerance)
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
    if max_variance_ratio is not None:
        require_reference([spec.name for spec in specs], VARIANCE_REFERENCE, "--max-variance-ratio")
    from carms_cli.analysis.variance import analyse_variance, variance_bytes
    from carms_cli.cli.reporting import PreparationNote
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.budget import check_memory
    from carms_cli.core.engine import set_threads
    from carms_cli.present.export import to_csv, to_json
    from carms_cli.present.table import ProgressBar, print_report

    used_backend, backend_note = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    check_memory(
        variance_bytes(problem, specs, used_threads, used_backend),
        budget,
        f"this run ({len(specs)} estimator{'s' if len(specs) > 1 else ''} at K = {problem.categories:,}, "
        f"D = {problem.dims:,}, {used_threads} threads)",
    )
    bar = ProgressBar(problem.trials * len(specs), enabled=not quiet)
    try:
        report = analyse_variance(
            problem,
            specs,
            used_threads,
            significance,
            progress=bar,
            exact=exact,
            backend=used_backend,
            backend_note=backend_note,
            preparing=PreparationNote(enabled=not quiet),
        )
    finally:
        bar.close()
    if not quiet and "-" not in (json_out, csv_out):
        print_report(report, explain=explain)
    if plot == "-":
        from carms_cli.present.table import bar_chart, print_lines

        print_lines(
            ["total variance (log scale):"]
            + bar_chart([r.name for r in report.results], [r.variance_total for r in report.results])
        )
    elif plot is not None:
        from carms_cli.present.charts import write_variance_figure

        write_variance_figure(report.results, plot)
    if json_out is not None:
        write_output(json_out, to_json(report), "JSON")
    if csv_out is not None:
        write_output(csv_out, to_csv(report), "CSV")
    code = EXIT_OK
    if baseline_record is not None:
        from carms_cli.analysis.compare import compare_records
        from carms_cli.cli.compare_cmd import report_comparison
        from carms_cli.core.records import report_record

        comparisons = compare_records(baseline_record, report_record(report), tolerance_value, significance)
        if report_comparison(comparisons, tolerance_value, None, show=not quiet) != EXIT_OK:
            print("Gate failed: regression against the baseline", file=sys.stderr)
            code = EXIT_GATE
    if fail_on_bias:
        for message in bias_gate(report):
            print(f"Gate failed: {message}", file=sys.stderr)
            code = EXIT_GATE
    if max_variance_ratio is not None:
        for message in variance_ratio_gate(report, max_variance_ratio):
            print(f"Gate failed: {message}", file=sys.stderr)
            code = EXIT_GATE
    return code
