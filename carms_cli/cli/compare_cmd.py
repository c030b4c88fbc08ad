"""``carms compare``: a CI gate between two ``carms variance --json`` records."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from carms_cli.cli.options import JsonOut, write_output
from carms_cli.core.errors import EXIT_GATE, EXIT_OK, InputError

Tolerance = Annotated[
    str,
    typer.Option(
        "--tolerance",
        help="Variance increase allowed before failing: a percentage 'variance:10%' or a ratio 'variance:x1.10' "
        "(the same; a bare number is refused as ambiguous).",
    ),
]
Significance = Annotated[
    float, typer.Option("--significance", help="Family-wise level of the one-sided variance-ratio tests.")
]


def load_record(path: str, what: str) -> dict:
    """Read the JSON record at ``path``; an unreadable or non-JSON file is an InputError naming ``what``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the {what} '{path}': {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the {what} '{path}' is not JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InputError(f"the {what} '{path}' is not UTF-8 text (a JSON record is)") from None


def report_comparison(comparisons, tolerance: float, json_out: str | None, show: bool = True) -> int:
    """Print the table and the summary line (or write JSON); exit 1 on a regression."""
    from carms_cli.analysis.compare import summary_line
    from carms_cli.present.table import fmt_number, plain_json, print_table

    summary = summary_line(comparisons, tolerance)
    regressed = any(c.status == "regressed" for c in comparisons)
    if json_out is not None:
        record = {
            "schema": "carms-cli/compare/1",
            "tolerance": tolerance,
            "regressed": regressed,
            "summary": summary,
            "estimators": [asdict(c) for c in comparisons],
        }
        write_output(json_out, plain_json(record), "JSON")
    if json_out != "-":

        def verdict(flag):
            return {True: "ok", False: "BIASED", None: "–"}[flag]

        rows = [
            [
                c.name,
                c.status.upper() if c.status == "regressed" else c.status,
                fmt_number(c.variance_baseline),
                fmt_number(c.variance_current),
                fmt_number(c.ratio, 4),
                fmt_number(c.z, 3),
                f"{verdict(c.bias_baseline)} → {verdict(c.bias_current)}",
                c.reason,
            ]
            for c in comparisons
        ]
        print_table(
            ["estimator", "status", "var baseline", "var current", "ratio", "z", "bias", "why"],
            rows,
            footer=[summary],
            align="llrrrrll",
        )
    return EXIT_GATE if regressed else EXIT_OK


def compare(
    baseline: Annotated[str, typer.Argument(help="The baseline 'carms variance --json' record.")],
    current: Annotated[str, typer.Argument(help="The current 'carms variance --json' record.")],
    tolerance: Tolerance = "variance:10%",
    significance: Significance = 1e-3,
    json_out: JsonOut = None,
) -> int:
    """Compare two runs of the same problem; exit 1 on a significant regression, 2 if not comparable.

    Example: carms compare baseline.json current.json --tolerance variance:10%
    """
    from carms_cli.analysis.compare import compare_records, parse_tolerance

    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    tol = parse_tolerance(tolerance)
    comparisons = compare_records(load_record(baseline, "baseline"), load_record(current, "current"), tol, significance)
    return report_comparison(comparisons, tol, json_out)
