"""``carms duplicates``: how often each sampler's n samples repeat, exact and sampled."""

from typing import Annotated

import numpy as np
import typer

from carms_cli.cli.options import (
    Alpha,
    Backend,
    BackendName,
    Categories,
    JsonOut,
    Logits,
    Probs,
    Samples,
    Seed,
    write_output,
)
from carms_cli.cli.pmf_cmd import Variable, resolve_row
from carms_cli.core.errors import InputError
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.sampling.samplers import SAMPLERS


def duplicates_record(p: np.ndarray, n: int, trials: int, seed: int, backend: str = "cpu") -> list[dict]:
    """Exact and Monte Carlo duplicate statistics of every sampler for one variable."""
    from carms_cli.discrete.exact.duplicates import exact_duplicates, sampled_duplicates
    from carms_cli.discrete.exact.pmf import NotComputable, pair_pmf
    from carms_cli.discrete.source import sample_sets

    entries = []
    for sampler in SAMPLERS:
        entry = {"sampler": sampler.name, "summary": sampler.summary, "exact": None, "exact_note": None}
        try:
            exact = exact_duplicates(sampler, p, n)
        except NotComputable as reason:
            entry["exact_note"] = f"n/a: {reason}"
            pairs = n * (n - 1) / 2 * float(np.trace(pair_pmf(sampler, p, n)))
            entry["exact"] = {"coincident_pairs": pairs}
        else:
            entry["exact"] = {
                "mean_unique": exact.mean_unique,
                "prob_all_distinct": exact.prob_all_distinct,
                "coincident_pairs": exact.coincident_pairs,
                "cache_saving": exact.cache_saving(n),
            }
        z = np.concatenate(list(sample_sets(sampler, p, n, trials, seed, backend=backend)))
        mc = sampled_duplicates(z)
        entry["monte_carlo"] = {
            "sets": trials,
            "mean_unique": mc.mean_unique,
            "mean_unique_se": mc.mean_unique_se,
            "prob_all_distinct": mc.prob_all_distinct,
            "prob_all_distinct_se": mc.prob_all_distinct_se,
            "coincident_pairs": mc.coincident_pairs,
            "coincident_pairs_se": mc.coincident_pairs_se,
            "cache_saving": mc.cache_saving(n),
        }
        entries.append(entry)
    return entries


def duplicates(
    categories: Categories = None,
    samples: Samples = 4,
    seed: Seed = 0,
    probs: Probs = None,
    logits: Logits = None,
    alpha: Alpha = 1.0,
    variable: Variable = 0,
    trials: Annotated[
        int, typer.Option("--trials", "-t", help="Sampled sets per sampler for the Monte Carlo column.")
    ] = 100_000,
    backend: Backend = BackendName.cpu,
    json_out: JsonOut = None,
) -> None:
    """Duplicate-sample statistics of every sampler: distinct categories, all-distinct probability,
    coincident pairs and the share of evaluations a cache would save, exact and sampled.

    Example: carms duplicates --categories 10 --samples 4
    """
    if trials < 2:
        raise InputError(f"--trials must be at least 2, got {trials}")
    problem = build_problem(
        categories=categories, samples=samples, probs=probs, logits=logits, alpha=alpha, trials=1, seed=seed
    )
    p = resolve_row(problem, variable)
    from carms_cli.core.backends import resolve_backend

    used_backend, _ = resolve_backend(backend.value)
    record = {
        "schema": "carms-cli/duplicates/1",
        "config": {
            "categories": problem.categories,
            "samples": samples,
            "probs": p,
            "probs_source": problem.probs_source,
            "seed": seed,
            "trials": trials,
        },
        "backend": used_backend,
        "samplers": duplicates_record(p, samples, trials, seed, used_backend),
    }
    from carms_cli.present.table import fmt_number, plain_json, print_table

    if json_out is not None:
        write_output(json_out, plain_json(record), "JSON")
        if json_out == "-":
            return

    def pair(exact, mc, key, digits=4):
        e = exact.get(key) if exact else None
        return fmt_number(e, digits), f"{mc[key]:.{digits}f} ±{mc[key + '_se']:.1g}"

    rows = []
    for entry in record["samplers"]:
        exact, mc = entry["exact"], entry["monte_carlo"]
        rows.append(
            [
                entry["sampler"],
                *pair(exact, mc, "mean_unique"),
                *pair(exact, mc, "prob_all_distinct"),
                *pair(exact, mc, "coincident_pairs"),
                fmt_number(exact.get("cache_saving"), 3),
                f"{mc['cache_saving']:.3f}",
            ]
        )
    print_table(
        ["sampler", "distinct", "(MC)", "P(all distinct)", "(MC)", "coincident pairs", "(MC)", "cache saves", "(MC)"],
        rows,
        header=[
            f"carms-cli duplicates · K={problem.categories} · n={samples} · {trials:,} sets per sampler · seed={seed}",
            f"p ({problem.probs_source}, row {variable}): {np.array2string(p, precision=4, separator=', ')}",
        ],
        footer=[
            "distinct: E[#distinct categories among the n samples]; coincident pairs: E[#{i<j: z_i = z_j}] = "
            "n(n−1)/2·Σ_a P(a,a); cache saves: 1 − distinct/n of the f evaluations",
            "exact from the n-tuple pmf (pairs from the pair pmf) where closed-form, '–' otherwise; (MC) ± one "
            "standard error",
        ],
    )
