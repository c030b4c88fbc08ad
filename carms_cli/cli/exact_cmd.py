"""``carms exact``: exact bias and variance of every estimator by enumeration, no sampling."""

import numpy as np

from carms_cli.cli.options import (
    Alpha,
    Categories,
    Dims,
    Estimators,
    JsonOut,
    Logits,
    Objective,
    Probs,
    Samples,
    Seed,
    write_output,
)
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import VARIANCE_REFERENCE, parse_estimators


def exact_record(problem, specs) -> dict:
    """Exact moments of every estimator (``null`` fields and a ``note`` where not computable)."""
    from carms_cli.discrete.exact.moments import MAX_OUTCOMES, NotComputable, exact_moments

    gradient = problem.exact_gradient()
    entries = []
    for spec in specs:
        entry = {"name": spec.name, "unbiased_by_design": spec.unbiased_by_design, "note": None}
        try:
            moments = exact_moments(problem, spec)
        except NotComputable as reason:
            entry.update(
                mean=None,
                bias=None,
                bias_max_abs=None,
                variance=None,
                variance_total=None,
                median_log_variance=None,
                note=f"n/a: {reason}",
            )
        else:
            bias = moments.mean - gradient
            with np.errstate(divide="ignore"):
                log_var = np.log(moments.variance)
            entry.update(
                mean=moments.mean,
                bias=bias,
                bias_max_abs=float(np.max(np.abs(bias))),
                variance=moments.variance,
                variance_total=moments.variance_total,
                median_log_variance=float(np.median(log_var)),
            )
        entries.append(entry)
    base = next((e for e in entries if e["name"] == VARIANCE_REFERENCE and e["variance_total"]), None)
    for entry in entries:
        ok = base is not None and entry["variance_total"] is not None
        entry["variance_ratio_to_loorf"] = entry["variance_total"] / base["variance_total"] if ok else None
    return {
        "schema": "carms-cli/exact/1",
        "config": {
            "categories": problem.categories,
            "samples": problem.samples,
            "dims": problem.dims,
            "seed": problem.seed,
            "probs": problem.probs,
            "probs_source": problem.probs_source,
            "objective": problem.objective.spec,
            "exact_gradient": gradient,
            "max_outcomes": MAX_OUTCOMES,
        },
        "estimators": entries,
    }


def exact(
    categories: Categories = None,
    samples: Samples = 4,
    dims: Dims = None,
    seed: Seed = 0,
    probs: Probs = None,
    logits: Logits = None,
    alpha: Alpha = 1.0,
    objective: Objective = "linear",
    estimators: Estimators = None,
    json_out: JsonOut = None,
) -> None:
    """Exact mean (bias) and variance of each estimator by enumerating its joint pmf; no sampling.

    Example: carms exact --probs 0.1,0.2,0.3,0.4 --samples 3
    """
    problem = build_problem(
        categories=categories,
        samples=samples,
        dims=dims,
        probs=probs,
        logits=logits,
        alpha=alpha,
        objective=objective,
        trials=1,
        seed=seed,
    )
    specs = parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    record = exact_record(problem, specs)
    from carms_cli.present.table import fmt_number, header_lines_for, plain_json, print_table

    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
        if json_out == "-":
            return
    rows = [
        [
            e["name"] + ("" if e["unbiased_by_design"] else "*"),
            fmt_number(e["bias_max_abs"], 3),
            fmt_number(e["variance_total"]),
            fmt_number(e["variance_ratio_to_loorf"], 4),
            fmt_number(e["median_log_variance"], 3),
            e["note"] or "",
        ]
        for e in record["estimators"]
    ]
    print_table(
        ["estimator", "max|E g − ∇|", "exact var total", f"÷{VARIANCE_REFERENCE}", "med ln var", "note"],
        rows,
        header=header_lines_for("exact", problem),
        align="lrrrrl",
        footer=["* biased by design; n/a: the joint pmf has no closed form here or exceeds the enumeration cap"],
    )
