"""``carms duplicates``: how often each sampler's n samples repeat, exact and sampled."""

from typing import Annotated

import numpy as np
import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    JsonOut,
    ProblemOptions,
    problem_options,
    write_output,
)
from carms_cli.cli.pmf_cmd import Variable
from carms_cli.core.errors import InputError


@problem_options("categories", "samples", "seed", "probs", "logits", "alpha", "max_memory")
def duplicates(
    problem: ProblemOptions = ProblemOptions(),
    variable: Variable = 0,
    trials: Annotated[
        int, typer.Option("--trials", "-t", help="Sampled sets per sampler for the Monte Carlo column.")
    ] = 100_000,
    backend: Backend = BackendName.cpu,
    json_out: JsonOut = None,
) -> None:
    """Duplicate-sample statistics of every sampler, exact and sampled.

    Distinct categories, all-distinct probability, coincident pairs and the share of evaluations a cache would save.

    Example: carms duplicates --categories 10 --samples 4
    """
    if trials < 2:
        raise InputError(f"--trials must be at least 2, got {trials}")
    budget = problem.budget()
    problem = problem.build(trials=1)
    from carms_cli.analysis.duplicates import duplicates_bytes, duplicates_record
    from carms_cli.core.budget import check_size

    check_size(
        lambda k: duplicates_bytes(k, problem.samples, trials),
        problem.categories,
        budget,
        f"duplicate statistics at K = {problem.categories:,}, n = {problem.samples}, {trials:,} sets",
        "K",
        lower=2,
    )
    from carms_cli.analysis.pmf import problem_row
    from carms_cli.core.backends import resolve_backend

    problem_row(problem, variable)  # a bad --variable is reported before a bad --backend
    used_backend, _ = resolve_backend(backend.value)
    record = duplicates_record(problem, variable, trials, used_backend)
    from carms_cli.present.table import fmt_number, plain_json, print_table

    if json_out is not None:
        write_output(json_out, plain_json(record.to_dict()), "JSON")
        if json_out == "-":
            return

    def pair(exact, mc, key, digits=4):
        value, sampled, se = getattr(exact, key), getattr(mc, key), getattr(mc, key + "_se")
        return fmt_number(value, digits), f"{sampled:.{digits}f} ±{se:.1g}"

    rows = []
    for entry in record.samplers:
        exact, mc = entry.exact, entry.monte_carlo
        rows.append(
            [
                entry.sampler,
                *pair(exact, mc, "mean_unique"),
                *pair(exact, mc, "prob_all_distinct"),
                *pair(exact, mc, "coincident_pairs"),
                fmt_number(exact.cache_saving, 3),
                f"{mc.cache_saving:.3f}",
            ]
        )
    print_table(
        ["sampler", "distinct", "(MC)", "P(all distinct)", "(MC)", "coincident pairs", "(MC)", "cache saves", "(MC)"],
        rows,
        header=[
            f"carms-cli duplicates · K={problem.categories} · n={problem.samples} · {trials:,} sets per sampler · "
            f"seed={problem.seed}",
            f"p ({problem.probs_source}, row {variable}): "
            f"{np.array2string(record.config.probs, precision=4, separator=', ')}",
        ],
        groups=[2, 2, 2, 2],
        notes={
            "distinct": "distinct: E[#distinct categories among the n samples]",
            "coincident pairs": "coincident pairs: E[#{i<j: z_i = z_j}] = n(n−1)/2·Σ_a P(a,a)",
            "cache saves": "cache saves: 1 − distinct/n of the f evaluations",
        },
        footer=[
            "exact: from the n-tuple pmf (pairs: the pair pmf) where computable, '–' otherwise",
            "(MC): sampled, ± one standard error",
        ],
    )
