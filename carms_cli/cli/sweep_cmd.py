"""``carms sweep``: ``carms variance`` over a grid, one row per (grid point, estimator)."""

import csv
import io
import json
import sys
from typing import Annotated

import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    Estimators,
    JsonOut,
    Quiet,
    Seed,
    Threads,
    check_outputs,
    write_output,
)
from carms_cli.core.errors import InputError


def sweep(
    categories: Annotated[str, typer.Option("--categories", "-k", help="K values: '10', '2,5,10' or '2..8'.")] = "10",
    samples: Annotated[str, typer.Option("--samples", "-n", help="n values, as for -k.")] = "4",
    dims: Annotated[str, typer.Option("--dims", "-d", help="D values, as for -k.")] = "1",
    alpha: Annotated[str, typer.Option("--alpha", help="Dirichlet(α) concentrations: '0.3,1,10'.")] = "1",
    objective: Annotated[
        str, typer.Option("--objective", "-o", help="Objectives separated by ';': 'linear;quadratic:0.3'.")
    ] = "linear",
    probs: Annotated[
        str | None,
        typer.Option(
            "--probs", help="Fixed probabilities for every point (as for variance) instead of Dirichlet draws."
        ),
    ] = None,
    estimators: Estimators = None,
    trials: Annotated[
        int | None, typer.Option("--trials", "-t", help="Trials per point (default a quarter of variance's default).")
    ] = None,
    seed: Seed = 0,
    threads: Threads = None,
    backend: Backend = BackendName.cpu,
    significance: Annotated[float, typer.Option("--significance", help="Level of each point's bias test.")] = 1e-3,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Run points on Dask: a scheduler address, or 'local[:N]' for N local workers."),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option("--plot", help="Variance against the one swept parameter: PATH (.png/.svg) or '-' (terminal)."),
    ] = None,
    jsonl_out: Annotated[
        str | None, typer.Option("--jsonl", help="Stream one JSON object per row to PATH ('-' for stdout).")
    ] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write the rows as CSV to PATH ('-' for stdout).")
    ] = None,
    json_out: JsonOut = None,
    quiet: Quiet = False,
) -> None:
    """Run 'variance' over every combination of the given K, n, D, α and objectives.

    Each point's seed derives from --seed and its coordinates; every row carries the command that
    re-runs it alone. Example: carms sweep -k 10 -n 2..8 -e loorf,carms
    """
    from carms_cli.analysis.sweep import grid, parse_float_list, parse_int_list, parse_objectives

    stdout_users = [o for o in (jsonl_out, csv_out, json_out) if o == "-"]
    if len(stdout_users) > 1:
        raise InputError("only one of --jsonl, --csv and --json can write to stdout")
    check_outputs({"--jsonl": jsonl_out, "--csv": csv_out, "--json": json_out, "--plot": plot}, {}, plot)
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    if trials is not None and trials <= 0:
        raise InputError(f"--trials must be positive, got {trials}")
    points = grid(
        parse_int_list(categories, "--categories"),
        parse_int_list(samples, "--samples"),
        parse_int_list(dims, "--dims"),
        parse_float_list(alpha, "--alpha"),
        parse_objectives(objective),
    )
    swept = [
        name
        for name, values in zip(
            ("categories", "samples", "dims", "alpha", "objective"),
            (categories, samples, dims, alpha, objective),
            strict=True,
        )
        if len({getattr(p, name) for p in points}) > 1
    ]
    if plot is not None and len(swept) != 1:
        raise InputError(f"--plot needs exactly one swept parameter, got {len(swept)} ({', '.join(swept) or 'none'})")
    if plot is not None and swept[0] == "objective":
        raise InputError("--plot needs a numeric swept parameter (K, n, D or alpha), not the objective")
    # validate every point before running any (bad input must fail fast, not after an hour)
    from carms_cli.analysis.sweep import point_seed
    from carms_cli.discrete.problem import build_problem
    from carms_cli.discrete.registry import parse_estimators

    for point in points:
        problem = build_problem(
            categories=point.categories,
            samples=point.samples,
            dims=point.dims,
            alpha=point.alpha,
            objective=point.objective,
            trials=1,
            seed=point_seed(seed, point),
        )
        parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    from carms_cli.analysis.sweep import sweep_rows
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads
    from carms_cli.present.table import ProgressBar, fmt_number, plain_json, print_table

    used_backend, _ = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    stream = None
    if jsonl_out is not None:
        try:
            stream = sys.stdout if jsonl_out == "-" else open(jsonl_out, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot write JSON Lines to '{jsonl_out}': {exc.strerror or exc}") from None
    bar = ProgressBar(len(points), enabled=not quiet)
    rows = []
    try:
        rows_iter = sweep_rows(
            points,
            progress=bar,
            dask=dask,
            seed=seed,
            trials=trials,
            estimators=estimators,
            threads=threads if dask else used_threads,
            significance=significance,
            backend=used_backend,
            probs=probs,
        )
        for row in rows_iter:
            rows.append(row)
            if stream is not None:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
                stream.flush()
    finally:
        bar.close()
        if stream is not None and stream is not sys.stdout:
            stream.close()
    if plot is not None and plot != "-":
        from carms_cli.present.charts import write_sweep_figure

        write_sweep_figure(rows, swept[0], plot)
    if csv_out is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        write_output(csv_out, buffer.getvalue(), "CSV")
    if json_out is not None:
        record = {"schema": "carms-cli/sweep/1", "seed": seed, "points": len(points), "rows": rows}
        write_output(json_out, plain_json(record), "JSON")
    if plot == "-":
        from carms_cli.present.table import ascii_chart, print_lines

        series = [
            (
                name,
                [r[swept[0]] for r in rows if r["estimator"] == name],
                [r["variance_total"] for r in rows if r["estimator"] == name],
            )
            for name in dict.fromkeys(r["estimator"] for r in rows)
        ]
        print_lines([f"log10 total variance (y) against {swept[0]} (x)"] + ascii_chart(series))
    if quiet or stdout_users:
        return
    table = [
        [
            str(r["categories"]),
            str(r["samples"]),
            str(r["dims"]),
            f"{r['alpha']:g}",
            r["objective"],
            r["estimator"],
            {True: "ok", False: "BIASED", None: "untested"}[r["unbiased"]],
            fmt_number(r["variance_total"]),
            fmt_number(r["variance_ratio_to_loorf"], 3),
            r["command"],
        ]
        for r in rows
    ]
    print_table(
        ["K", "n", "D", "α", "objective", "estimator", "bias", "var total", "÷loorf", "re-run alone"],
        table,
        header=[f"carms-cli sweep · {len(points)} grid points · seed {seed}"],
        align="rrrrlllrrl",
        keys=6,
    )
