"""``carms list``: every registered estimator, objective and copula."""

from typing import Annotated

import typer

from carms_cli.cli.options import write_output


def list_(
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the catalogue as JSON to PATH ('-' for stdout).")
    ] = None,
) -> None:
    """List every estimator (with whether it is unbiased by design), objective and copula, of both families."""
    from carms_cli.analysis.catalogue import catalogue
    from carms_cli.present.table import plain_json, print_table

    record = catalogue()
    if json_out is not None:
        write_output(json_out, plain_json(record.to_dict()), "JSON")
        if json_out == "-":
            return
    print_table(
        ["estimator", "construction", "copula", "default", "unbiased by design", "summary"],
        [
            [
                e.name,
                e.construction,
                e.copula,
                "yes" if e.default else "",
                "yes" if e.unbiased_by_design else "NO",
                e.summary,
            ]
            for e in record.estimators
        ],
        align="llllll",
    )
    print_table(["objective", "f(z)"], [[o.name, o.summary] for o in record.objectives], align="ll")
    print_table(["copula", "coupling of the n samples"], [[c.name, c.summary] for c in record.copulas], align="ll")
    print_table(
        ["continuous estimator", "distributions", "parameters", "default", "summary"],
        [
            [e.name, ", ".join(e.distributions), ", ".join(e.parameters), "yes" if e.default else "", e.summary]
            for e in record.continuous_estimators
        ],
        align="lllll",
    )
    print_table(
        ["continuous objective", "f(x)"], [[o.name, o.summary] for o in record.continuous_objectives], align="ll"
    )
