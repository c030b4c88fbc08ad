"""``carms variance``: bias, variance and duplicate statistics of estimators on one problem."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from carms_cli.cli import EXIT_GATE, EXIT_OK, app
from carms_cli.errors import InputError
from carms_cli.objectives import OBJECTIVE_HELP
from carms_cli.problem import build_problem
from carms_cli.registry import ESTIMATORS, parse_estimators

_OBJECTIVES = "; ".join(f"{name}: {text}" for name, text in OBJECTIVE_HELP.items())


def _write(target: str, text: str, what: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {what} to '{target}': {exc.strerror or exc}") from None


@app.command()
def variance(
    categories: Annotated[
        int | None,
        typer.Option(
            "--categories", "-k", help="Categories K per variable (default 10, or the length of --probs rows)."
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", "-n", help="Samples n per estimate (= function evaluations).")
    ] = 4,
    dims: Annotated[
        int | None,
        typer.Option("--dims", "-d", help="Independent categorical variables D (default 1, or the rows of --probs)."),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials", "-t", help="Independent n-sample estimates per estimator (default max(10^4, 4·10^6/(n·D)))."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of everything random: probabilities, objective tables and samples.")
    ] = 0,
    probs: Annotated[
        str | None,
        typer.Option(
            "--probs", help="Probabilities 'p1,p2,...', rows ';'-separated (one row per variable, or one row for all)."
        ),
    ] = None,
    logits: Annotated[
        str | None, typer.Option("--logits", help="Logits instead of --probs (same layout); p = softmax(logits).")
    ] = None,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Without --probs/--logits, draw each row of p from a symmetric Dirichlet(alpha)."),
    ] = 1.0,
    objective: Annotated[
        str, typer.Option("--objective", "-o", help=f"Objective NAME[:PARAM]. {_OBJECTIVES}.")
    ] = "linear",
    estimators: Annotated[
        str | None,
        typer.Option("--estimators", "-e", help=f"Comma-separated estimators (default all: {', '.join(ESTIMATORS)})."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default all). Results do not depend on it.")
    ] = None,
    significance: Annotated[
        float, typer.Option("--significance", help="Family-wise level of the Bonferroni-corrected bias test.")
    ] = 1e-3,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON record to PATH ('-' for stdout).")
    ] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write one CSV row per estimator to PATH ('-' for stdout).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table and no progress bar.")] = False,
    fail_on_bias: Annotated[
        bool,
        typer.Option("--fail-on-bias", help="Exit 1 if an estimator that is unbiased by design fails the bias test."),
    ] = False,
) -> int:
    """Compare estimators on one problem: bias against the exact gradient, variance, duplicates, speed.

    Example: carms variance --categories 10 --samples 4
    """
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    if json_out == "-" and csv_out == "-":
        raise InputError("--json - and --csv - cannot both write to stdout")
    specs = parse_estimators(estimators)
    problem = build_problem(
        categories=categories,
        samples=samples,
        dims=dims,
        probs=probs,
        logits=logits,
        alpha=alpha,
        objective=objective,
        trials=trials,
        seed=seed,
    )
    from carms_cli.analysis import analyse_variance
    from carms_cli.engine import set_threads
    from carms_cli.report import ProgressBar, print_report, to_csv, to_json

    used_threads = set_threads(threads)
    bar = ProgressBar(problem.trials * len(specs), enabled=not quiet)
    try:
        report = analyse_variance(problem, specs, used_threads, significance, progress=bar)
    finally:
        bar.close()
    if not quiet and "-" not in (json_out, csv_out):
        print_report(report)
    if json_out is not None:
        _write(json_out, to_json(report), "JSON")
    if csv_out is not None:
        _write(csv_out, to_csv(report), "CSV")
    if fail_on_bias:
        failed = [r for r in report.results if r.unbiased_by_design and r.unbiased is False]
        if failed:
            names = ", ".join(f"{r.name} (max|z| {r.bias_max_abs_z:.3g})" for r in failed)
            print(f"Gate failed: biased {names}", file=sys.stderr)
            return EXIT_GATE
    return EXIT_OK
