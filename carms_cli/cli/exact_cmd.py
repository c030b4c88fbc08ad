"""``carms exact``: exact bias and variance of every estimator by enumeration, no sampling."""

from carms_cli.cli.options import (
    Estimators,
    JsonOut,
    ProblemOptions,
    problem_options,
    write_output,
)
from carms_cli.discrete.registry import VARIANCE_REFERENCE, parse_estimators


@problem_options()
def exact(
    problem: ProblemOptions = ProblemOptions(),
    estimators: Estimators = None,
    json_out: JsonOut = None,
) -> None:
    """Exact mean (bias) and variance of each estimator by enumerating its joint pmf; no sampling.

    Example: carms exact --probs 0.1,0.2,0.3,0.4 --samples 3
    """
    problem = problem.build(trials=1)
    specs = parse_estimators(estimators, problem.categories, problem.samples, problem.dims, problem.objective)
    from carms_cli.analysis.exact import exact_record
    from carms_cli.present.table import fmt_number, header_lines_for, plain_json, print_table

    record = exact_record(problem, specs)
    if json_out is not None:
        write_output(json_out, plain_json(record.to_dict()), "JSON")
        if json_out == "-":
            return
    rows = [
        [
            e.name + ("" if e.unbiased_by_design else "*"),
            fmt_number(e.bias_max_abs, 3),
            fmt_number(e.variance_total),
            fmt_number(e.variance_ratio_to_loorf, 4),
            fmt_number(e.median_log_variance, 3),
            e.note or "",
        ]
        for e in record.estimators
    ]
    print_table(
        ["estimator", "max|E g − ∇|", "exact var total", f"÷{VARIANCE_REFERENCE}", "med ln var", "note"],
        rows,
        header=header_lines_for("exact", problem),
        align="lrrrrl",
        footer=["* biased by design; n/a: no computable joint pmf here (see the note) or over the enumeration cap"],
    )
