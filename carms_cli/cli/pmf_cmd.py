"""``carms pmf``: the exact pair pmf, the independent product and the importance ratio."""

from typing import Annotated

import numpy as np
import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    ConstructionName,
    CopulaName,
    JsonOut,
    ProblemOptions,
    Quiet,
    problem_options,
    write_output,
)
from carms_cli.core.errors import InputError

Construction_ = Annotated[
    ConstructionName,
    typer.Option("--construction", help="inverse (CARMS-I), gumbel (CARMS-G) or stick (stick-breaking)."),
]
Copula_ = Annotated[CopulaName, typer.Option("--copula", help="Copula across the n samples.")]
Variable = Annotated[int, typer.Option("--variable", help="Which row of --probs/--logits to use (0-based).")]


@problem_options("categories", "samples", "seed", "probs", "logits", "alpha", "max_memory")
def pmf(
    problem: ProblemOptions = ProblemOptions(),
    construction: Construction_ = ConstructionName.inverse,
    copula: Copula_ = CopulaName.dirichlet,
    variable: Variable = 0,
    check: Annotated[
        int | None,
        typer.Option("--check", help="Also sample T sets and compare pair frequencies with the exact table."),
    ] = None,
    backend: Backend = BackendName.cpu,
    json_out: JsonOut = None,
    quiet: Quiet = False,
) -> None:
    """Exact pair pmf P(a,b) of two of the n samples, p_a·p_b, and the ratio w(a,b) = p_a p_b / P(a,b).

    Example: carms pmf --probs 0.1,0.2,0.3,0.4 --samples 3 --construction stick
    """
    if check is not None and check <= 0:
        raise InputError(f"--check must be positive, got {check}")
    budget = problem.budget()
    problem = problem.build(trials=1)
    from carms_cli.analysis.pmf import pmf_bytes, pmf_record, problem_row
    from carms_cli.core.budget import check_memory

    shown = "" if json_out == "-" else " and their printed table"
    need = pmf_bytes(problem.categories, printed=json_out != "-")
    check_memory(need, budget, f"the K×K pair pmf tables at K = {problem.categories:,}{shown}")

    problem_row(problem, variable)  # a bad --variable is reported before a bad --backend
    used_backend = "cpu"
    if check is not None:
        from carms_cli.core.backends import resolve_backend

        used_backend, _ = resolve_backend(backend.value)

    from carms_cli.present.table import ProgressBar, plain_json, print_matrices

    bar = ProgressBar(check or 0, enabled=not quiet, unit="sets")
    try:
        record = pmf_record(problem, variable, construction.value, copula.value, check, used_backend, bar)
    finally:
        bar.close()

    if json_out is not None:
        write_output(json_out, plain_json(record.to_dict()), "JSON")
    if json_out == "-" or quiet:
        return
    p, sampled = record.config.probs, record.check
    header = [
        f"pair pmf of sampler {record.config.sampler}: K={problem.categories}, n={problem.samples}",
        f"p ({problem.probs_source}, row {variable}): {np.array2string(p, precision=4, separator=', ')}",
        f"row sums Σ_b P(a,b) = p_a to {record.row_sum_max_error:.1e}",
    ]
    matrices = [
        ("P(a,b) = P(z_i=a, z_j=b), i≠j", record.pair_pmf),
        ("p_a·p_b", record.independent_product),
        ("w(a,b) = p_a p_b / P(a,b)", record.ratio),
    ]
    if sampled:
        matrices.append((f"empirical P(a,b) from {check:,} sampled sets", sampled.frequency))
    bar = ProgressBar(len(matrices), enabled=not quiet, label="printing", unit="tables")
    try:
        print_matrices(matrices, header=header, progress=bar)
    finally:
        bar.close()
    if sampled:
        a, b = sampled.max_abs_z_at
        print_matrices([], header=[f"largest |z| of empirical vs exact: {sampled.max_abs_z:.2f} at ({a}, {b})"])
