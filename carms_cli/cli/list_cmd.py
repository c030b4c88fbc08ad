"""``carms list``: every registered estimator, objective and copula."""

from typing import Annotated

import typer

from carms_cli.cli.options import write_output
from carms_cli.discrete.objectives import OBJECTIVE_HELP
from carms_cli.discrete.registry import DEFAULT_ESTIMATORS, ESTIMATORS

COPULA_HELP = {
    "independent": "n iid uniforms (no coupling)",
    "dirichlet": "U_i = (1 − D_i)^(n−1), D ~ Dirichlet(1_n): exclusive lower tail, pair correlation −0.47 at n = 3",
    "gaussian": "U_i = Φ(Z_i), Z ~ N(0, Σ) with correlation −1/(n−1) (sum zero)",
}


def catalogue() -> dict:
    """The registry as a plain record."""
    return {
        "schema": "carms-cli/list/1",
        "estimators": [
            {
                "name": spec.name,
                "summary": spec.summary,
                "sampler": spec.sampler.name,
                "construction": spec.sampler.construction.name.lower(),
                "copula": spec.sampler.copula.name.lower(),
                "unbiased_by_design": spec.unbiased_by_design,
                "default": spec.name in DEFAULT_ESTIMATORS,
                "reference": spec.reference,
            }
            for spec in ESTIMATORS.values()
        ],
        "objectives": [{"name": name, "summary": text} for name, text in OBJECTIVE_HELP.items()],
        "copulas": [{"name": name, "summary": text} for name, text in COPULA_HELP.items()],
    }


def list_(
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the catalogue as JSON to PATH ('-' for stdout).")
    ] = None,
) -> None:
    """List every estimator (with whether it is unbiased by design), objective and copula."""
    record = catalogue()
    from carms_cli.present.table import plain_json, print_table

    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
        if json_out == "-":
            return
    print_table(
        ["estimator", "construction", "copula", "default", "unbiased by design", "summary"],
        [
            [
                e["name"],
                e["construction"],
                e["copula"],
                "yes" if e["default"] else "",
                "yes" if e["unbiased_by_design"] else "NO",
                e["summary"],
            ]
            for e in record["estimators"]
        ],
        align="llllll",
    )
    print_table(["objective", "f(z)"], [[o["name"], o["summary"]] for o in record["objectives"]], align="ll")
    print_table(
        ["copula", "coupling of the n samples"], [[c["name"], c["summary"]] for c in record["copulas"]], align="ll"
    )
