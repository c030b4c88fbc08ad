"""``carms implicit``: implicit-reparameterization derivatives checked against mpmath, draw by draw, and timed."""

from typing import Annotated

import typer

from carms_cli.cli.options import CsvOut, JsonOut, MaxMemory, Quiet, Seed, check_outputs, write_output
from carms_cli.core.errors import EXIT_GATE, EXIT_OK


def implicit(
    dist: Annotated[str, typer.Option("--dist", help="Distribution: gamma (∂x/∂α of Gamma(α, 1) variates).")] = "gamma",
    alpha: Annotated[
        str, typer.Option("--alpha", help="Comma-separated shapes α (the accuracy target covers 1e-4 … 1e6).")
    ] = "1e-3,0.1,1,10,1e6",
    draws: Annotated[
        int, typer.Option("--draws", "-N", help="Draws per α, each checked against the mpmath reference.")
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
    """Check implicit-reparameterization derivatives ∂x/∂α against mpmath, draw by draw, and time them.

    Example: carms implicit --dist gamma --alpha 1e-3,0.1,1,10,1e6 --draws 2000
    """
    check_outputs({"--json": json_out, "--csv": csv_out}, {})
    from carms_cli.analysis.implicit import implicit_csv, implicit_record, parse_alphas
    from carms_cli.present.table import ProgressBar, plain_json

    alphas = parse_alphas(alpha)
    if draws >= 2 and batch >= 1000:  # smaller ones are refused below with their own message
        from carms_cli.analysis.implicit import implicit_bytes
        from carms_cli.core.budget import check_size, parse_memory

        check_size(
            lambda count: implicit_bytes(count, batch),
            draws,
            parse_memory(max_memory),
            f"checking {draws:,} draws per α (timing batch up to {batch:,})",
            "--draws",
            lower=2,
        )
    bar = ProgressBar(draws * len(alphas), enabled=not quiet)
    try:
        record = implicit_record(dist, alphas, dtype, draws, seed, batch, repeats, max_error, bar)
    finally:
        bar.close()
    if not quiet and "-" not in (json_out, csv_out):
        _print_implicit(record)
    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
    if csv_out is not None:
        write_output(csv_out, implicit_csv(record), "CSV")
    return EXIT_OK if record["passed"] else EXIT_GATE


def _error(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _z(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _print_implicit(record: dict) -> None:
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
    batches = sorted({row["timing_batch"] for row in record["rows"]})
    footer.append(f"timing batch: {', '.join(f'{b:,}' for b in batches)} draws; {c['repeats']} repetitions")
    if c["max_error"] is not None:
        failed = [f"{row['alpha']:g}" for row in record["rows"] if not row["passed"]]
        verdict = f"exceeded at α = {', '.join(failed)}" if failed else "every row passes"
        footer.append(f"--max-error {c['max_error']:g}: {verdict}")
    print_table(columns, rows, header=header, footer=footer, groups=[2, 2, 1, 2, 2], notes=notes)
