"""``carms continuous``: bias and variance of pathwise, score-function and measure-valued estimators."""

from typing import Annotated

import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    Baseline,
    CsvOut,
    Explain,
    FailOnBias,
    JsonOut,
    Plot,
    Quiet,
    Seed,
    Significance,
    Threads,
    Tolerance,
    Trials,
    check_report_options,
    max_variance_ratio_option,
)
from carms_cli.cli.reporting import report_request, run_and_report
from carms_cli.continuous.objectives import OBJECTIVE_HELP
from carms_cli.continuous.registry import DEFAULT_ESTIMATORS, ESTIMATORS, REFERENCE

_OBJECTIVES = "; ".join(f"{name}: {text}" for name, text in OBJECTIVE_HELP.items())


def continuous(
    dist: Annotated[
        str,
        typer.Option(
            "--dist",
            help="Distribution: gaussian, exponential, gamma, vonmises or beta per coordinate, or dirichlet "
            "(one Dirichlet over the D = K coordinates).",
        ),
    ] = "gaussian",
    mu: Annotated[
        str | None,
        typer.Option("--mu", help="Gaussian means μ or von Mises locations μ: one value, or D comma-separated."),
    ] = None,
    sigma: Annotated[
        str | None, typer.Option("--sigma", help="Gaussian standard deviations σ > 0: one value, or D.")
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Exponential rate λ or Gamma rate β (> 0): one value, or D.")
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha", help="Gamma shape α > 0: one value, or D; dirichlet: the K concentrations α_1,…,α_K (≥ 0.06)."
        ),
    ] = None,
    kappa: Annotated[
        str | None, typer.Option("--kappa", help="von Mises concentration κ > 0: one value, or D (default 2).")
    ] = None,
    a: Annotated[str | None, typer.Option("--a", help="Beta first shape a ≥ 0.06: one value, or D.")] = None,
    b: Annotated[str | None, typer.Option("--b", help="Beta second shape b ≥ 0.06: one value, or D.")] = None,
    param: Annotated[
        str | None,
        typer.Option(
            "--param",
            help="Gradient reported: gaussian mu, sigma, log-sigma (σ·∂/∂σ) or all (default); exponential: rate; "
            "gamma: rate (default) or alpha (the shape, also 'shape'; its pathwise estimator is implicit); "
            "vonmises: kappa (default; implicit), mu (pathwise) or all; "
            "beta: a, b or all (default; also 'both'); dirichlet: alpha.",
        ),
    ] = None,
    objective: Annotated[
        str, typer.Option("--objective", "-o", help=f"Objective NAME[:PARAMS]. {_OBJECTIVES}.")
    ] = "cos:1",
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples n per estimate.")] = 4,
    dims: Annotated[
        int | None, typer.Option("--dims", "-d", help="Coordinates D (default 1, or the length of the lists).")
    ] = None,
    trials: Trials = None,
    seed: Seed = 0,
    estimators: Annotated[
        str | None,
        typer.Option(
            "--estimators",
            "-e",
            help=f"Comma-separated estimators, or 'all' (default: {','.join(DEFAULT_ESTIMATORS)}; known: "
            f"{', '.join(ESTIMATORS)}).",
        ),
    ] = None,
    threads: Threads = None,
    backend: Backend = BackendName.cpu,
    significance: Significance = 1e-3,
    exact: Annotated[
        bool, typer.Option("--exact", help="Also compute each estimator's exact variance by quadrature.")
    ] = False,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
    quiet: Quiet = False,
    plot: Plot = None,
    baseline: Baseline = None,
    tolerance: Tolerance = "variance:10%",
    max_variance_ratio: max_variance_ratio_option(REFERENCE) = None,
    fail_on_bias: FailOnBias = False,
    explain: Explain = False,
) -> int:
    """Compare gradient estimators for continuous distributions: bias against the exact gradient, variance, cost.

    Example: carms continuous --dist gaussian --mu 1 --sigma 1 --objective cos:1 -n 4
    """
    check_report_options(significance, json_out, csv_out, max_variance_ratio)
    request = report_request(quiet=quiet, json_out=json_out, csv_out=csv_out, plot=plot, baseline=baseline,
                             tolerance=tolerance, significance=significance, fail_on_bias=fail_on_bias,
                             max_variance_ratio=max_variance_ratio, explain=explain)  # fmt: skip
    from carms_cli.continuous.problem import build_problem
    from carms_cli.continuous.registry import parse_estimators

    given = {"mu": mu, "sigma": sigma, "rate": rate, "alpha": alpha, "kappa": kappa, "a": a, "b": b}
    problem = build_problem(dist, given, param, objective, samples, dims, trials, seed)
    specs = parse_estimators(estimators, problem)
    request.check_reference([spec.name for spec in specs], REFERENCE)
    from carms_cli.analysis.continuous import analyse_continuous
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads

    used_backend, backend_note = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    return run_and_report(
        lambda progress: analyse_continuous(
            problem, specs, used_threads, significance, progress, exact, used_backend, backend_note
        ),
        problem.trials * len(specs),
        request,
    )
