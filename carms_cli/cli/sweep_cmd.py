"""``carms sweep``: one family's analysis over a grid, one row per (grid point, estimator).

``--family discrete`` (the default) runs ``carms variance`` over K, n, D, α and objectives;
``--family continuous`` runs ``carms continuous`` over the distribution's parameters, the
objective's k, the reported parameter, n and D. The grid's axes and row fields are declared by
the family (:class:`carms_cli.analysis.sweep.SweepFamily`); running, outputs and the table are
shared.
"""

import csv
import io
import json
import sys
from enum import Enum
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
from carms_cli.core.errors import InputError, Interrupted


class FamilyName(str, Enum):
    """The family a sweep runs."""

    discrete = "discrete"
    continuous = "continuous"


#: Options of one family only: parameter name → (option as typed, its family).
_FAMILY_OPTIONS = {
    "categories": ("-k/--categories", FamilyName.discrete),
    "probs": ("--probs", FamilyName.discrete),
    "dist": ("--dist", FamilyName.continuous),
    "mu": ("--mu", FamilyName.continuous),
    "sigma": ("--sigma", FamilyName.continuous),
    "rate": ("--rate", FamilyName.continuous),
    "kappa": ("--kappa", FamilyName.continuous),
    "a_values": ("--a", FamilyName.continuous),
    "b_values": ("--b", FamilyName.continuous),
    "k_values": ("--k", FamilyName.continuous),
    "param": ("--param", FamilyName.continuous),
    "exact": ("--exact", FamilyName.continuous),
    "exact_only": ("--exact-only", FamilyName.continuous),
}


def sweep(
    ctx: typer.Context,
    family: Annotated[
        FamilyName,
        typer.Option(
            "--family",
            help="discrete: 'carms variance' over K, n, D, α; continuous: 'carms continuous' over k, the "
            "distribution's parameters, n, D.",
        ),
    ] = FamilyName.discrete,
    categories: Annotated[str, typer.Option("--categories", "-k", help="K values: '10', '2,5,10' or '2..8'.")] = "10",
    samples: Annotated[str, typer.Option("--samples", "-n", help="n values, as for -k.")] = "4",
    dims: Annotated[str, typer.Option("--dims", "-d", help="D values, as for -k.")] = "1",
    alpha: Annotated[
        str,
        typer.Option(
            "--alpha",
            help="Dirichlet(α) concentrations: '0.3,1,10' (continuous: --dist gamma: Gamma shapes α; --dist dirichlet: "
            "symmetric concentrations α ≥ 0.06, K = --dims ≥ 2).",
        ),
    ] = "1",
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            "-o",
            help="Objectives separated by ';': 'linear;quadratic:0.3' (continuous: 'square;cos', k from --k; "
            "default cos).",
        ),
    ] = "linear",
    probs: Annotated[
        str | None,
        typer.Option(
            "--probs", help="Fixed probabilities for every point (as for variance) instead of Dirichlet draws."
        ),
    ] = None,
    dist: Annotated[
        str,
        typer.Option(
            "--dist", help="Continuous: the distribution, gaussian, exponential, gamma, vonmises, beta or dirichlet."
        ),
    ] = "gaussian",
    mu: Annotated[
        str | None,
        typer.Option("--mu", help="Continuous: Gaussian means μ: '1', '0,1,2', '-2:2:9' (START:STOP:COUNT)."),
    ] = None,
    sigma: Annotated[
        str | None, typer.Option("--sigma", help="Continuous: Gaussian σ > 0, as for --mu ('0.1:10:20:log').")
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Continuous: Exponential or Gamma rates > 0, as for --mu.")
    ] = None,
    kappa: Annotated[
        str | None, typer.Option("--kappa", help="Continuous: von Mises concentrations κ > 0, as for --mu.")
    ] = None,
    a_values: Annotated[
        str | None, typer.Option("--a", help="Continuous: Beta first shapes a ≥ 0.06, as for --mu.")
    ] = None,
    b_values: Annotated[
        str | None, typer.Option("--b", help="Continuous: Beta second shapes b ≥ 0.06, as for --mu.")
    ] = None,
    k_values: Annotated[
        str | None,
        typer.Option(
            "--k",
            help="Continuous: the objective's k: '1', '0.5,1,2', '-3:3:61' (linear), '0.1:10:30:log' (log-spaced).",
        ),
    ] = None,
    param: Annotated[
        str | None,
        typer.Option(
            "--param",
            help="Continuous: reported parameters, one run each: 'mu,sigma' (Gaussian default), log-sigma, all; rate; "
            "alpha (Gamma shape; Dirichlet); kappa (von Mises default), mu; 'a,b' (Beta default).",
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
    exact: Annotated[
        bool, typer.Option("--exact", help="Continuous: also each estimator's exact variance, by quadrature.")
    ] = False,
    exact_only: Annotated[
        bool,
        typer.Option("--exact-only", help="Continuous: only the exact variances, by quadrature; nothing sampled."),
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Run points on Dask: a scheduler address, or 'local[:N]' for N local workers."),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Variance against the one swept parameter: PATH (.png/.svg) or '-' (terminal); continuous: one "
            "panel per --param.",
        ),
    ] = None,
    jsonl_out: Annotated[
        str | None, typer.Option("--jsonl", help="Stream one JSON object per row to PATH ('-' for stdout).")
    ] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write the rows as CSV to PATH ('-' for stdout).")
    ] = None,
    json_out: JsonOut = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep the completed points of an interrupted sweep's --jsonl file and run only the others.",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a --jsonl file that already holds rows (without it or --resume, such a file is refused).",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Run 'variance' (or 'continuous') over every combination of the given axes' values.

    Each point's seed derives from --seed and its coordinates; every row carries the command that
    re-runs it alone. Example: carms sweep -k 10 -n 2..8 -e loorf,carms

    Continuous: carms sweep --family continuous -o square --k=-3:3:61 -n 1 --exact-only --plot fig.png
    """
    given = {name for name in _FAMILY_OPTIONS if ctx.get_parameter_source(name).name != "DEFAULT"}
    for name in sorted(given):
        option, owner = _FAMILY_OPTIONS[name]
        if owner != family:
            raise InputError(f"{option} is an option of --family {owner.value}, not of --family {family.value}")
    stdout_users = [o for o in (jsonl_out, csv_out, json_out) if o == "-"]
    if len(stdout_users) > 1:
        raise InputError("only one of --jsonl, --csv and --json can write to stdout")
    check_outputs({"--jsonl": jsonl_out, "--csv": csv_out, "--json": json_out, "--plot": plot}, {}, plot)
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    if trials is not None and trials <= 0:
        raise InputError(f"--trials must be positive, got {trials}")
    if family == FamilyName.discrete:
        declared, points, options = _discrete_grid(categories, samples, dims, alpha, objective, probs)
        log_x = False
    else:
        objective_given = ctx.get_parameter_source("objective").name != "DEFAULT"
        alpha_given = ctx.get_parameter_source("alpha").name != "DEFAULT"
        declared, points, options, log_x = _continuous_grid(
            dist,
            {
                "mu": mu,
                "sigma": sigma,
                "rate": rate,
                "alpha": alpha if alpha_given else None,
                "kappa": kappa,
                "a": a_values,
                "b": b_values,
            },
            objective if objective_given else "cos",
            k_values,
            param,
            samples,
            dims,
        )
        options.update(exact=exact or exact_only, exact_only=exact_only)
    coordinates = [_coordinates(point) for point in points]
    swept = declared.swept(coordinates)
    plotted = [name for name in swept if name != declared.panel_axis]
    if plot is not None and len(plotted) != 1:
        raise InputError(
            f"--plot needs exactly one swept parameter, got {len(plotted)} ({', '.join(plotted) or 'none'})"
        )
    if plot is not None and not declared.axis(plotted[0]).numeric:
        numeric = ", ".join(axis.field for axis in declared.axes if axis.numeric)
        if declared.name == "discrete":
            numeric = "K, n, D or alpha"
        raise InputError(f"--plot needs a numeric swept parameter ({numeric}), not the {plotted[0]}")
    # every point is validated before any is run (issue 19, item 7): bad input fails fast, not after an hour
    point_options = {"seed": seed, "trials": trials, "estimators": estimators, **options}
    expected = [declared.validate_point(point, **point_options) for point in points]
    commands = [declared.command(point, **point_options) for point in points]
    kept: dict[int, list[dict]] = {}
    if resume and overwrite:
        raise InputError("--resume keeps the --jsonl file's completed points, --overwrite replaces them: choose one")
    if not resume and not overwrite:
        _refuse_to_replace_rows(jsonl_out)
    if resume:
        if jsonl_out in (None, "-"):
            raise InputError("--resume needs --jsonl PATH: the JSON Lines file of the interrupted sweep")
        kept = _completed_points(jsonl_out, commands, expected)
    from carms_cli.analysis.sweep import sweep_point_rows
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads
    from carms_cli.present.table import ProgressBar, plain_json

    used_backend, _ = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    stream = None
    if jsonl_out is not None:
        try:
            if jsonl_out == "-":
                stream = sys.stdout
            else:
                if resume:  # the completed points only (a point cut short is run again), then append
                    from carms_cli.core.files import write_text_atomic

                    write_text_atomic(jsonl_out, "".join(_jsonl(rows) for rows in kept.values()))
                stream = open(jsonl_out, "a" if resume else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot write JSON Lines to '{jsonl_out}': {exc.strerror or exc}") from None
    to_run = [index for index in range(len(points)) if index not in kept]
    bar = ProgressBar(len(to_run), enabled=not quiet)
    done: dict[int, list[dict]] = dict(kept)
    written = len(kept)
    try:
        point_iter = sweep_point_rows(
            [points[index] for index in to_run],
            progress=bar,
            dask=dask,
            run_point=declared.run_point,
            threads=threads if dask else used_threads,
            significance=significance,
            backend=used_backend,
            **point_options,
        )
        for index, point_rows in zip(to_run, point_iter, strict=False):
            done[index] = point_rows
            if stream is not None:
                stream.write(_jsonl(point_rows))  # one write per point: a point's rows stay together
                stream.flush()
                written += 1
    except KeyboardInterrupt:
        if stream is not None and stream is not sys.stdout:
            raise Interrupted(
                f"{written} of {len(points)} grid points are in '{jsonl_out}'; add --resume to run the others"
            ) from None
        raise
    finally:
        bar.close()
        if stream is not None and stream is not sys.stdout:
            stream.close()
    rows = [row for index in range(len(points)) for row in done[index]]
    if plot is not None and plot != "-":
        if declared.name == "discrete":
            from carms_cli.present.charts import write_sweep_figure

            write_sweep_figure(rows, swept[0], plot)
        else:
            from carms_cli.present.charts import write_continuous_sweep_figure

            write_continuous_sweep_figure(rows, plotted[0], plot, log_x=log_x and plotted[0] == "k")
    if csv_out is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        write_output(csv_out, buffer.getvalue(), "CSV")
    if json_out is not None:
        record = {
            "schema": "carms-cli/sweep/1",
            "family": declared.name,
            "seed": seed,
            "points": len(points),
            "rows": rows,
        }
        write_output(json_out, plain_json(record), "JSON")
    if plot == "-":
        _terminal_plot(declared, rows, plotted[0])
    if quiet or stdout_users:
        return
    _print_rows(declared, rows, len(points), seed)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _refuse_to_replace_rows(path: str | None) -> None:
    """Refuse (exit 2) a --jsonl file that already holds rows: an earlier sweep's work is not replaced silently."""
    from pathlib import Path

    if path in (None, "-"):
        return
    try:
        target = Path(path)
        if not target.is_file() or target.stat().st_size == 0:
            return
        with target.open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
    except OSError:
        return  # unreadable: the write itself says why
    if lines:
        raise InputError(
            f"'{path}' already holds {lines:,} row{'s' if lines > 1 else ''} of an earlier sweep: add --resume to keep "
            "its completed points and run only the others, or --overwrite to replace it"
        )


def _completed_points(path: str, commands: list[str], expected: list[list[str]]) -> dict[int, list[dict]]:
    """Return the rows of the points that ``path`` (an earlier run's JSON Lines) holds in full, by point index.

    A row belongs to a point when its ``command`` is the one this run writes for the point (same
    coordinates, seed, trials, estimators and options); a point is complete when it has a row for
    each of its estimators, in order. A last line cut short by the interruption is dropped (its
    point runs again); rows of another sweep are refused.
    """
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--resume cannot read '{path}': {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # the interrupted write's partial last line
    index_of = {command: index for index, command in enumerate(commands)}
    found: dict[int, list[dict]] = {}
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
        except ValueError:
            raise InputError(f"--resume: line {number} of '{path}' is not a JSON row of carms sweep") from None
        index = index_of.get(row.get("command")) if isinstance(row, dict) else None
        if index is None:
            raise InputError(
                f"--resume: line {number} of '{path}' is a row of another sweep (its command differs from every "
                "point's here: same options as the interrupted run?)"
            )
        found.setdefault(index, []).append(row)
    return {
        index: rows for index, rows in sorted(found.items()) if [r.get("estimator") for r in rows] == expected[index]
    }


def _coordinates(point) -> dict:
    return point.coordinates() if hasattr(point, "coordinates") else point._asdict()


def _discrete_grid(categories, samples, dims, alpha, objective, probs):
    """Return the discrete family's declaration, its points and its point options."""
    from carms_cli.analysis.sweep import DISCRETE, grid, parse_float_list, parse_int_list, parse_objectives

    points = grid(
        parse_int_list(categories, "--categories"),
        parse_int_list(samples, "--samples"),
        parse_int_list(dims, "--dims"),
        parse_float_list(alpha, "--alpha"),
        parse_objectives(objective),
    )
    return DISCRETE, points, {"probs": probs}


#: Default --param of a continuous sweep where it is not ``carms continuous``'s: each parameter's own run (its
#: variance alone), not their total.
_DEFAULT_PARAMETERS = {"gaussian": ("mu", "sigma"), "beta": ("a", "b")}


def _continuous_grid(dist, value_texts, objective, k_values, param, samples, dims):
    """Return the continuous family's declaration, its points, its point options and whether k is log-spaced."""
    from carms_cli.analysis import continuous_sweep
    from carms_cli.analysis.sweep import parse_int_list, parse_number_axis, parse_objectives
    from carms_cli.continuous.problem import DEFAULT_PARAMETER, build_problem

    distribution = dist.strip().lower()
    declared = continuous_sweep.family(distribution)
    dims_values = parse_int_list(dims, "--dims")
    if distribution == "dirichlet" and min(dims_values) < 2:
        raise InputError(
            "--dist dirichlet sweeps a symmetric Dirichlet(α, …, α) with K = --dims components: give --dims ≥ 2, "
            f"got {', '.join(map(str, dims_values))}"
        )
    defaults = build_problem(distribution, {}, None, "cos", 1, 2 if distribution == "dirichlet" else 1, None, 0).values
    value_axes = {}
    for name, text in value_texts.items():
        if text is not None and name not in continuous_sweep.VALUE_AXES[distribution]:
            names = ", ".join(f"--{n}" for n in continuous_sweep.VALUE_AXES[distribution])
            raise InputError(f"--{name} does not apply to --dist {distribution} (its parameters: {names})")
    for name in continuous_sweep.VALUE_AXES[distribution]:
        text = value_texts[name]
        value_axes[name] = (
            [float(defaults[name][0])] if text is None else parse_number_axis(text, f"--{name}", name != "mu")[0]
        )
    ks, log_x = (None, False) if k_values is None else parse_number_axis(k_values, "--k")
    pairs = [pair for spec in parse_objectives(objective) for pair in continuous_sweep.split_objective(spec, ks)]
    params = [p.strip().lower() for p in (param or "").split(",") if p.strip()]
    if not params:
        params = list(_DEFAULT_PARAMETERS.get(distribution, (DEFAULT_PARAMETER[distribution],)))
    points = continuous_sweep.grid(
        distribution,
        value_axes,
        list(dict.fromkeys(pairs)),
        list(dict.fromkeys(params)),
        parse_int_list(samples, "--samples"),
        dims_values,
    )
    return declared, points, {}, log_x


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _print_rows(declared, rows: list[dict], points: int, seed: int) -> None:
    """Print the rows: the axes and the estimator name each row, then the family's results."""
    from carms_cli.present.table import fmt_number, print_table

    axes = declared.axes
    keys = [[_cell(r[axis.field]) for axis in axes] + [r["estimator"]] for r in rows]
    titles = [axis.title for axis in axes] + ["estimator"]
    align = "".join("r" if axis.numeric else "l" for axis in axes) + "l"
    ratio = f"variance_ratio_to_{declared.reference}"
    if declared.name == "discrete":
        header = [f"carms-cli sweep · {points} grid points · seed {seed}"]
        sampled, exact_shown = True, False
    else:
        sampled = any(r["trials"] is not None for r in rows)
        exact_shown = any(r["variance_exact_total"] is not None or r["exact_note"] for r in rows)
        what = "exact variances by quadrature, nothing sampled" if not sampled else "Monte Carlo"
        if sampled and exact_shown:
            what += " and exact variances by quadrature"
        header = [f"carms-cli sweep · continuous · {rows[0]['distribution']} · {points} grid points · seed {seed}"]
        header.append(what)
    columns, cells, more = [], [[] for _ in rows], ""
    if sampled:
        columns += ["bias", "var total"]
        more += "lr"
        for row, r in zip(cells, rows, strict=True):
            row += [{True: "ok", False: "BIASED", None: "untested"}[r["unbiased"]], fmt_number(r["variance_total"])]
    if exact_shown:
        columns += ["exact var"] + (["z(var)"] if sampled else [])
        more += "r" + ("r" if sampled else "")
        for row, r in zip(cells, rows, strict=True):
            row.append(fmt_number(r["variance_exact_total"]) if r["variance_exact_total"] is not None else "n/a")
            if sampled:
                row.append(fmt_number(r["variance_exact_z_max"], 3))
    columns += [f"÷{declared.reference}", "re-run alone"]
    more += "rl"
    for row, r in zip(cells, rows, strict=True):
        row += [fmt_number(r[ratio], 3), r["command"]]
    print_table(
        titles + columns,
        [key + row for key, row in zip(keys, cells, strict=True)],
        header=header,
        align=align + more,
        keys=len(titles),
    )


def _terminal_plot(declared, rows: list[dict], x_field: str) -> None:
    """Draw log10 variance against the swept parameter as text (one chart per panel)."""
    from carms_cli.present.table import ascii_chart, print_lines

    if declared.name == "discrete":
        series = [
            (
                name,
                [r[x_field] for r in rows if r["estimator"] == name],
                [r["variance_total"] for r in rows if r["estimator"] == name],
            )
            for name in dict.fromkeys(r["estimator"] for r in rows)
        ]
        print_lines([f"log10 total variance (y) against {x_field} (x)"] + ascii_chart(series))
        return
    lines = []
    for panel in dict.fromkeys(r[declared.panel_axis] for r in rows):
        chosen = [r for r in rows if r[declared.panel_axis] == panel]
        exact = all(r["trials"] is None for r in chosen)
        field = "variance_exact_total" if exact else "variance_total"
        series = [
            (
                name,
                [r[x_field] for r in chosen if r["estimator"] == name and r[field] is not None],
                [r[field] for r in chosen if r["estimator"] == name and r[field] is not None],
            )
            for name in dict.fromkeys(r["estimator"] for r in chosen)
        ]
        what = "exact variance" if exact else "variance"
        lines += [f"log10 {what} of the {panel} gradient (y) against {x_field} (x)"] + ascii_chart(series) + [""]
    print_lines(lines[:-1])
