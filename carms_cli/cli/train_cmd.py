"""``carms train``: the ARMS toy's trajectory, variance against p for each estimator."""

import math
from typing import Annotated

import typer

from carms_cli.cli.options import (
    Backend,
    BackendName,
    JsonOut,
    Quiet,
    Seed,
    Threads,
    check_record_outputs,
    write_records,
)
from carms_cli.core.errors import InputError
from carms_cli.discrete.registry import parse_estimators

DEFAULT_TRAIN_ESTIMATORS = "loorf,arm,disarm,arms,arms-gauss"


def parse_sizes(text: str) -> list[int]:
    """``4`` or ``2,4,6`` or ``2..10`` (even steps are the caller's business)."""
    sizes: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if ".." in part:
                low, high = (int(x) for x in part.split(".."))
                if high < low:
                    raise InputError(f"--samples: empty range '{part}'")
                sizes.extend(range(low, high + 1))
            else:
                sizes.append(int(part))
    except InputError:
        raise
    except ValueError:
        raise InputError(f"--samples expects integers like '4', '2,4,6' or '2..10', got '{text}'") from None
    if not sizes or any(n < 2 or n > 64 for n in sizes):
        raise InputError(f"--samples values must be in 2..64, got '{text}'")
    return list(dict.fromkeys(sizes))


def train(
    samples: Annotated[
        str, typer.Option("--samples", "-n", help="Evaluations per estimate: '4', '2,4,6' or '2..10' (one panel each).")
    ] = "4",
    estimators: Annotated[
        str, typer.Option("--estimators", "-e", help="Comma-separated binary-capable estimators.")
    ] = DEFAULT_TRAIN_ESTIMATORS,
    p_init: Annotated[
        float, typer.Option("--p-init", help="Starting P(z=1); the reference run effectively starts at 0.1/1.1.")
    ] = 0.1,
    target: Annotated[float, typer.Option("--target", help="Stop a trajectory once p reaches this.")] = 0.9,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate of the ascent φ ← φ + lr·mean.")] = 1.0,
    steps: Annotated[int, typer.Option("--steps", help="At most this many steps per trajectory.")] = 2000,
    replicates: Annotated[
        int, typer.Option("--replicates", help="Independent estimates per step (mean and variance).")
    ] = 1000,
    objective: Annotated[
        str, typer.Option("--objective", "-o", help="Objective at K = 2 (the ARMS toy: quadratic:0.49).")
    ] = "quadratic:0.49",
    seed: Seed = 0,
    threads: Threads = None,
    backend: Backend = BackendName.cpu,
    plot: Annotated[
        str | None, typer.Option("--plot", help="Also write the figure to PATH (.png or .svg; needs carms-cli[plot]).")
    ] = None,
    json_out: JsonOut = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write one row per (n, estimator, step) to PATH ('-' for stdout).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Gradient ascent on φ (p = sigmoid(φ)) with each estimator; variance across replicates per step.

    Example: carms train --samples 2,4 --lr 10 --steps 200
    """
    sizes = parse_sizes(samples)
    for name, value, low, high in (("--p-init", p_init, 0.0, 1.0), ("--target", target, 0.0, 1.0)):
        if not low < value < high:
            raise InputError(f"{name} must be in (0, 1), got {value}")
    if not (math.isfinite(lr) and lr > 0):
        raise InputError(f"--lr must be a positive number, got {lr}")
    if steps < 1 or replicates < 2:
        raise InputError("--steps must be at least 1 and --replicates at least 2")
    check_record_outputs(json_out, csv_out, {}, plot)
    specs = parse_estimators(estimators, 2, min(sizes))
    for n in sizes:
        for spec in specs:
            parse_estimators(spec.name, 2, n)  # every (n, estimator) must be valid
    from carms_cli.analysis.train import train_record
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads
    from carms_cli.discrete.objectives import build_objective
    from carms_cli.present.export import train_csv
    from carms_cli.present.table import ProgressBar

    build_objective(objective, 1, 2, seed)  # validate before the long run
    used_backend, _ = resolve_backend(backend.value)
    used_threads = set_threads(threads)
    bar = ProgressBar(len(sizes) * len(specs), enabled=not quiet)
    try:
        record = train_record(
            specs,
            sizes,
            p_init=p_init,
            objective=objective,
            lr=lr,
            steps=steps,
            target=target,
            replicates=replicates,
            seed=seed,
            threads=used_threads,
            backend=used_backend,
            progress=lambda done, total: bar(done),
        )
    finally:
        bar.close()
    if plot is not None:
        from carms_cli.present.charts import write_train_figure

        write_train_figure(record.trajectories, plot)
    write_records(record, json_out, csv_out, quiet, train_csv, _print_train)


def _print_train(record) -> None:
    """Print a row per (n, estimator) trajectory and, per n, the chart of log10 variance against p."""
    from carms_cli.analysis.train import TRAIN_REFERENCE
    from carms_cli.present.table import ascii_chart, print_table

    c = record.config
    rows = [
        [
            f"n={s.samples}",
            s.estimator,
            str(s.steps),
            f"{s.final_p:.3f}" if s.final_p is not None else "–",
            f"{s.variance:.3g}" if s.variance else "–",
            f"{s.variance_exact:.3g}" if s.variance_exact else "–",
            f"{s.variance_ratio_to_loorf:.3f}" if s.variance_ratio_to_loorf else "–",
        ]
        for s in record.summaries()
    ]
    header = [
        f"carms-cli train · objective {c.objective} · p from {c.p_init} to {c.target} · lr {c.lr} · "
        f"{c.replicates} replicates per step · seed {c.seed}",
    ]
    notes = {
        "variance": "variance: geometric mean over the trajectory of the variance across replicates",
        "exact": "exact: the same for the enumerated variance",
        f"÷{TRAIN_REFERENCE}": f"÷{TRAIN_REFERENCE}: ratio of geometric means",
    }
    footer = []
    for n in c.samples:
        series = [(t.estimator, t.p, t.variance) for t in record.trajectories if t.samples == n and t.p]
        footer.append(f"n = {n}: log10 variance (y) against p (x)")
        footer.extend(ascii_chart(series))
    print_table(
        ["n", "estimator", "steps", "final p", "variance", "exact", f"÷{TRAIN_REFERENCE}"],
        rows,
        header=header,
        footer=footer,
        align="llrrrrr",
        keys=2,
        notes=notes,
    )
