"""``carms implicit``: implicit-reparameterization derivatives checked against mpmath, draw by draw, and timed."""

from typing import Annotated

import typer

from carms_cli.cli.options import CsvOut, JsonOut, MaxMemory, Quiet, Seed, check_outputs, write_output
from carms_cli.core.errors import EXIT_GATE, EXIT_OK


def implicit(
    dist: Annotated[
        str,
        typer.Option(
            "--dist",
            help="Distribution: gamma (∂x/∂α of Gamma(α, 1)), beta (∂x/∂a, ∂x/∂b), dirichlet (∂x_i/∂α_j) "
            "or vonmises (∂x/∂κ of vM(0, κ)).",
        ),
    ] = "gamma",
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="gamma: comma-separated shapes α (default 1e-3,0.1,1,10,1e6; the accuracy target covers 1e-4 … 1e6). "
            "dirichlet: one vector α₁,…,α_K, several separated by '/' (default 0.5,1,2).",
        ),
    ] = None,
    a: Annotated[str | None, typer.Option("--a", help="beta: comma-separated shapes a (default 0.5,2,20).")] = None,
    b: Annotated[
        str | None,
        typer.Option("--b", help="beta: comma-separated shapes b (default 0.5,5,100), paired with --a in order."),
    ] = None,
    kappa: Annotated[
        str | None,
        typer.Option(
            "--kappa", help="vonmises: comma-separated concentrations κ (default 0.1,1,10,100; target 1e-3 … 1e4)."
        ),
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", "-N", help="Draws per parameter set, each checked against the mpmath reference.")
    ] = 500,
    dtype: Annotated[
        str, typer.Option("--dtype", help="float64, or float32 (the derivative in float32 arithmetic).")
    ] = "float64",
    seed: Seed = 0,
    batch: Annotated[
        int,
        typer.Option("--batch", help="Draws per timing (cut to about 0.25 s per repetition, at least 1000)."),
    ] = 1_000_000,
    repeats: Annotated[int, typer.Option("--repeats", "-r", help="Timing repetitions; the fastest counts.")] = 3,
    max_error: Annotated[
        float | None,
        typer.Option("--max-error", help="Exit 1 if a row's max relative error (normal x) exceeds this."),
    ] = None,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
    max_memory: MaxMemory = None,
    quiet: Quiet = False,
) -> int:
    """Check implicit-reparameterization derivatives against mpmath, draw by draw, and time them.

    Example: carms implicit --dist gamma --alpha 1e-3,0.1,1,10,1e6 --draws 2000;
    carms implicit --dist beta --a 0.5,2 --b 0.5,3; carms implicit --dist dirichlet --alpha 0.5,1,2;
    carms implicit --dist vonmises --kappa 0.1,1,10,100
    """
    check_outputs({"--json": json_out, "--csv": csv_out}, {})
    from carms_cli.analysis.implicit import DISTRIBUTIONS, implicit_csv, implicit_record, parse_parameters
    from carms_cli.present.table import ProgressBar, plain_json

    parameter_sets = parse_parameters(dist, {"alpha": alpha, "a": a, "b": b, "kappa": kappa})
    if draws >= 2 and batch >= 1000:  # smaller ones are refused below with their own message
        from carms_cli.analysis.implicit import implicit_bytes
        from carms_cli.core.budget import check_size, parse_memory

        check_size(
            lambda count: implicit_bytes(count, batch),
            draws,
            parse_memory(max_memory),
            f"checking {draws:,} draws per parameter set (timing batch up to {batch:,})",
            "--draws",
            lower=2,
        )
    bar = ProgressBar(DISTRIBUTIONS[dist].work(parameter_sets, draws), enabled=not quiet)
    try:
        record = implicit_record(dist, parameter_sets, dtype, draws, seed, batch, repeats, max_error, bar)
    finally:
        bar.close()
    if not quiet and "-" not in (json_out, csv_out):
        _PRINTERS[record["config"]["distribution"]](record)
    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
    if csv_out is not None:
        write_output(csv_out, implicit_csv(record), "CSV")
    return EXIT_OK if record["passed"] else EXIT_GATE


def _error(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _z(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _closing_lines(record: dict, failed: list[str], where: str = "", separator: str = ", ") -> list[str]:
    """Return a table's last footer lines: the timing batches, and the ``--max-error`` verdict if one was asked.

    ``failed`` names the rows over the limit; the verdict reads ``exceeded at {where}{failed, joined}``.
    """
    c = record["config"]
    batches = sorted({row["timing_batch"] for row in record["rows"]})
    lines = [f"timing batch: {', '.join(f'{b:,}' for b in batches)} draws; {c['repeats']} repetitions"]
    if c["max_error"] is not None:
        verdict = f"exceeded at {where}{separator.join(failed)}" if failed else "every row passes"
        lines.append(f"--max-error {c['max_error']:g}: {verdict}")
    return lines


def _print_gamma(record: dict) -> None:
    from carms_cli.present.table import print_table

    c = record["config"]
    header = [
        f"carms-cli {record['version']} · implicit · Gamma(α, 1) ∂x/∂α in {c['dtype']} · {c['draws']:,} draws per α "
        f"checked against {c['reference']} · seed {c['seed']}",
    ]
    columns = ["α", "max rel err", "median rel err", "x = 0", "subnormal", "terms", "ns sample", "ns +∂x/∂α",
               "E[∂x/∂α] (z)", "E[∂x/∂α / x] (z)"]  # fmt: skip
    rows = []
    for row in record["rows"]:
        rows.append(
            [
                f"{row['alpha']:g}",
                _error(row["max_rel_error"]),
                _error(row["median_rel_error"]),
                str(row["underflows"]),
                str(row["subnormals"]),
                f"{row['terms_mean']:.0f} / {row['terms_max']}",
                f"{row['ns_sample']:.0f}",
                f"{row['ns_sample_derivative']:.0f}",
                f"{row['mean_derivative']:.4g} ({_z(row['mean_derivative_z'])})",
                "–" if row["mean_ratio"] is None else f"{row['mean_ratio']:.4g} ({_z(row['mean_ratio_z'])})",
            ]
        )
    notes = {
        "max rel err": "rel err: |g − mpmath|/|mpmath| at the dtype-rounded (α, x), over normal x",
        "x = 0": "x = 0: draws that underflowed (∂x/∂α = 0 there); subnormal x counted apart",
        "terms": "terms: series, continued-fraction or Temme-polynomial terms, mean / max",
        "ns sample": "ns: per draw on one thread, sampler alone and with ∂x/∂α (fastest of the repetitions)",
        "E[∂x/∂α] (z)": "E[∂x/∂α] = 1 and E[∂x/∂α / x] = ψ′(α) over the timing batch, z-scores in brackets",
    }
    footer = []
    for row in record["rows"]:
        if row["subnormal_max_rel_error"] is not None:
            footer.append(f"α = {row['alpha']:g}: max rel err over the {row['subnormals']} subnormal x "
                          f"{row['subnormal_max_rel_error']:.1e}")  # fmt: skip
        if row["mean_ratio"] is None:
            footer.append(f"α = {row['alpha']:g}: E[∂x/∂α / x] not tested: {row['timing_underflows']:,} x of the "
                          f"timing batch underflowed to 0 ({row['timing_subnormals']:,} subnormal)")  # fmt: skip
    footer += _closing_lines(record, [f"{row['alpha']:g}" for row in record["rows"] if not row["passed"]], "α = ")
    print_table(columns, rows, header=header, footer=footer, groups=[2, 2, 1, 2, 2], notes=notes)


def _print_beta(record: dict) -> None:
    """Print the Beta or Dirichlet table: a row per parameter set, path and parameter θ_j (the column ∂x/∂θ_j)."""
    from carms_cli.present.table import print_table

    c = record["config"]
    beta = c["distribution"] == "beta"
    name = "Beta(a, b) ∂x/∂a, ∂x/∂b" if beta else "Dirichlet(α) ∂x_i/∂α_j"
    header = [
        f"carms-cli {record['version']} · implicit · {name} in {c['dtype']} · {c['draws']:,} draws per parameter set "
        f"checked against {c['reference']} · seed {c['seed']}",
    ]
    columns = ["θ", "path", "∂", "max rel err", "median rel err", "underflow", "subnormal", "terms", "ns sample",
               "ns +∂", "E[∂] (z)", "target", "max |z|", "var"]  # fmt: skip
    rows = []
    for row in record["rows"]:
        label = f"∂x/∂{row['wrt']}" if beta else f"∂x/∂α{row['wrt'].removeprefix('alpha')}"
        rows.append(
            [
                ",".join(f"{value:g}" for value in row["parameters"]),
                row["path"],
                label,
                _error(row["max_rel_error"]),
                _error(row["median_rel_error"]),
                str(row["underflows"]),
                str(row["subnormals"]),
                "–" if row["terms_mean"] is None else f"{row['terms_mean']:.0f} / {row['terms_max']}",
                f"{row['ns_sample']:.0f}",
                f"{row['ns_sample_derivative']:.0f}",
                f"{row['mean_derivative']:.4g} ({_z(row['mean_z'])})",
                f"{row['mean_target']:.4g}",
                "–" if row["max_abs_z"] is None else f"{row['max_abs_z']:.2f}",
                f"{row['variance']:.3g}",
            ]
        )
    entry = "∂x/∂a or ∂x/∂b" if beta else "∂x_j/∂α_j"
    notes = {
        "path": "path: gamma-ratio through G/ΣG and ∂G/∂α; cdf: −∂_θ I_x/q of the (marginal) Beta, E[gamma-ratio | x]",
        "max rel err": "rel err: |value − mpmath|/|mpmath| at the dtype-rounded parameters and x (or G), normal values",
        "underflow": "underflow: values with x = 0 or 1 (gamma-ratio: a G or ΣG underflowed); subnormal x (G) apart",
        "terms": "terms: series or continued-fraction terms per draw, mean / max",
        "ns sample": "ns: per draw on one thread, sampler alone and with the path's Jacobian (fastest repetition)",
        "E[∂] (z)": f"E[∂]: mean {entry} over the timing batch (z-score); target (δ_ij α₀ − α_i)/α₀²; max |z|: any i",
        "var": "var: variance of one draw's derivative (the cdf path's is lower)",
    }
    footer = []
    for row in record["rows"]:
        if row["subnormal_max_rel_error"] is not None:
            theta = ",".join(f"{v:g}" for v in row["parameters"])
            footer.append(f"{theta} {row['path']} ∂/∂{row['wrt']}: max rel err over the {row['subnormals']} subnormal "
                          f"values {row['subnormal_max_rel_error']:.1e}")  # fmt: skip
    failed = sorted({",".join(f"{v:g}" for v in row["parameters"]) for row in record["rows"] if not row["passed"]})
    footer += _closing_lines(record, failed, separator="; ")
    print_table(
        columns, rows, header=header, footer=footer, align="lll" + "r" * 11, keys=3, groups=[2, 2, 1, 2, 4], notes=notes
    )


def _print_vonmises(record: dict) -> None:
    from carms_cli.present.table import print_table

    c = record["config"]
    header = [
        f"carms-cli {record['version']} · implicit · von Mises(0, κ) ∂x/∂κ in {c['dtype']} · {c['draws']:,} draws "
        f"per κ checked against {c['reference']} · seed {c['seed']}",
    ]
    columns = ["κ", "max rel err", "median rel err", "nodes", "rejected", "ns sample", "ns +∂x/∂κ",
               "E[−sin x·∂x/∂κ] (z)", "1 − A/κ − A²"]  # fmt: skip
    rows = []
    for row in record["rows"]:
        rows.append(
            [
                f"{row['kappa']:g}",
                _error(row["max_rel_error"]),
                _error(row["median_rel_error"]),
                f"{row['terms_mean']:.0f} / {row['terms_max']}",
                f"{row['rejection_rate']:.3f}",
                f"{row['ns_sample']:.0f}",
                f"{row['ns_sample_derivative']:.0f}",
                f"{row['mean_cos_slope']:.6g} ({_z(row['cos_slope_z'])})",
                f"{row['cos_slope_target']:.6g}",
            ]
        )
    notes = {
        "max rel err": "rel err: |g − mpmath|/|mpmath| at the same (κ, x)",
        "nodes": "nodes: Gauss–Legendre nodes (or terms of the tail series in 1/κ), mean / max",
        "rejected": "rejected: Best–Fisher rejections per variate",
        "ns sample": "ns: per draw on one thread, sampler alone and with ∂x/∂κ (fastest of the repetitions)",
        "E[−sin x·∂x/∂κ] (z)": "E[−sin x·∂x/∂κ] = ∂_κ E[cos x] = 1 − A/κ − A² (A = I₁/I₀) over the timing batch, z",
    }
    footer = []
    for row in record["rows"]:
        if row["zeros"]:
            footer.append(f"κ = {row['kappa']:g}: {row['zeros']} draws at x = 0 or ±π, where ∂x/∂κ = 0 exactly")
    footer += _closing_lines(record, [f"{row['kappa']:g}" for row in record["rows"] if not row["passed"]], "κ = ")
    print_table(columns, rows, header=header, footer=footer, groups=[2, 1, 1, 2, 2], notes=notes)


#: The table of each distribution.
_PRINTERS = {"gamma": _print_gamma, "beta": _print_beta, "dirichlet": _print_beta, "vonmises": _print_vonmises}
