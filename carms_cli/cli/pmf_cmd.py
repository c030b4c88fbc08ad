"""``carms pmf``: the exact pair pmf, the independent product and the importance ratio."""

from typing import Annotated

import numpy as np
import typer

from carms_cli.cli.options import (
    Alpha,
    Backend,
    BackendName,
    Categories,
    ConstructionName,
    CopulaName,
    JsonOut,
    Logits,
    Probs,
    Samples,
    Seed,
    write_output,
)
from carms_cli.core.errors import InputError
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction, find_sampler

Construction_ = Annotated[
    ConstructionName,
    typer.Option("--construction", help="inverse (CARMS-I), gumbel (CARMS-G) or stick (stick-breaking)."),
]
Copula_ = Annotated[CopulaName, typer.Option("--copula", help="Copula across the n samples.")]
Variable = Annotated[int, typer.Option("--variable", help="Which row of --probs/--logits to use (0-based).")]


def resolve_sampler(construction: ConstructionName, copula: CopulaName):
    return find_sampler(Construction[construction.value.upper()], Copula[copula.value.upper()])


def resolve_row(problem, variable: int) -> np.ndarray:
    if not 0 <= variable < problem.dims:
        raise InputError(f"--variable must be in 0..{problem.dims - 1}, got {variable}")
    return problem.probs[variable]


def empirical_pair_pmf(sampler, p: np.ndarray, n: int, count: int, seed: int, backend: str = "cpu"):
    """Frequency of ordered pairs (z_i, z_j), i ≠ j, over ``count`` sampled sets, with standard errors.

    Per set, ``X(a, b) = #{i ≠ j : z_i = a, z_j = b} / (n(n−1))`` (mean P(a, b)); sets are
    independent, so the standard error is ``sd(X)/√count``.
    """
    from carms_cli.discrete.source import sample_sets

    k = p.size
    total = np.zeros((k, k))
    total_sq = np.zeros((k, k))
    batch = max(1, min(1 << 15, 4_000_000 // (k * k)))
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    for z in sample_sets(sampler, p, n, count, seed, batch, backend):
        counts = np.zeros((z.shape[0], k, k))
        rows = np.arange(z.shape[0])
        for i, j in pairs:
            np.add.at(counts, (rows, z[:, i], z[:, j]), 1.0)
        counts /= len(pairs)
        total += counts.sum(axis=0)
        total_sq += (counts**2).sum(axis=0)
    mean = total / count
    se = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0) / max(count - 1, 1))
    return mean, se


def pmf(
    categories: Categories = None,
    samples: Samples = 4,
    seed: Seed = 0,
    probs: Probs = None,
    logits: Logits = None,
    alpha: Alpha = 1.0,
    construction: Construction_ = ConstructionName.inverse,
    copula: Copula_ = CopulaName.dirichlet,
    variable: Variable = 0,
    check: Annotated[
        int | None,
        typer.Option("--check", help="Also sample T sets and compare pair frequencies with the exact table."),
    ] = None,
    backend: Backend = BackendName.cpu,
    json_out: JsonOut = None,
) -> None:
    """Exact pair pmf P(a,b) of two of the n samples, p_a·p_b, and the ratio w(a,b) = p_a p_b / P(a,b).

    Example: carms pmf --probs 0.1,0.2,0.3,0.4 --samples 3 --construction stick
    """
    if check is not None and check <= 0:
        raise InputError(f"--check must be positive, got {check}")
    problem = build_problem(
        categories=categories, samples=samples, probs=probs, logits=logits, alpha=alpha, trials=1, seed=seed
    )
    p = resolve_row(problem, variable)
    sampler = resolve_sampler(construction, copula)
    from carms_cli.discrete.exact.pmf import pair_pmf
    from carms_cli.discrete.plan import importance_ratios

    joint = pair_pmf(sampler, p, samples)
    ratio = importance_ratios(p, joint, sampler, variable)
    record = {
        "schema": "carms-cli/pmf/1",
        "config": {
            "categories": problem.categories,
            "samples": samples,
            "probs": p,
            "probs_source": problem.probs_source,
            "construction": construction.value,
            "copula": copula.value,
            "sampler": sampler.name,
            "seed": seed,
        },
        "pair_pmf": joint,
        "independent_product": np.outer(p, p),
        "ratio": ratio,
        "row_sum_max_error": float(np.max(np.abs(joint.sum(axis=1) - p))),
        "check": None,
    }
    if check is not None:
        from carms_cli.core.backends import resolve_backend

        used_backend, _ = resolve_backend(backend.value)
        frequency, se = empirical_pair_pmf(sampler, p, samples, check, seed, used_backend)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, (frequency - joint) / se, np.where(np.abs(frequency - joint) > 0, np.inf, 0.0))
        worst = np.unravel_index(np.argmax(np.abs(z)), z.shape)
        record["check"] = {
            "sets": check,
            "backend": used_backend,
            "frequency": frequency,
            "std_error": se,
            "max_abs_z": float(np.abs(z).max()),
            "max_abs_z_at": [int(worst[0]), int(worst[1])],
        }
    from carms_cli.present.table import plain_json, print_matrices

    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
        if json_out == "-":
            return
    header = [
        f"pair pmf of sampler {sampler.name}: K={problem.categories}, n={samples}",
        f"p ({problem.probs_source}, row {variable}): {np.array2string(p, precision=4, separator=', ')}",
        f"row sums Σ_b P(a,b) = p_a to {record['row_sum_max_error']:.1e}",
    ]
    matrices = [
        ("P(a,b) = P(z_i=a, z_j=b), i≠j", joint),
        ("p_a·p_b", np.outer(p, p)),
        ("w(a,b) = p_a p_b / P(a,b)", ratio),
    ]
    if record["check"]:
        matrices.append((f"empirical P(a,b) from {check:,} sampled sets", record["check"]["frequency"]))
    print_matrices(matrices, header=header)
    if record["check"]:
        c = record["check"]
        a, b = c["max_abs_z_at"]
        print_matrices([], header=[f"largest |z| of empirical vs exact: {c['max_abs_z']:.2f} at ({a}, {b})"])
