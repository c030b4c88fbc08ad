"""``carms warmup``: compile (or load) the kernels once, for installers and CI images."""

import time
from typing import Annotated

import numpy as np
import typer

from carms_cli.cli.options import Backend, BackendName


def warmup(
    samples: Annotated[
        str,
        typer.Option(
            "--samples",
            "-n",
            help="Sample counts n to compile the CARMS-I/independent kernel for (as for sweep: 4, 2,4 or 2..8).",
        ),
    ] = "4",
    backend: Backend = BackendName.cpu,
) -> None:
    """Compile the kernels into the on-disk cache so that the first real run starts warm.

    Example: carms warmup --samples 2..8
    """
    from carms_cli.analysis.sweep import parse_int_list
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads
    from carms_cli.core.jit import kernel_cache_dir
    from carms_cli.discrete.plan import build_plan
    from carms_cli.discrete.problem import build_problem
    from carms_cli.discrete.registry import ESTIMATORS
    from carms_cli.discrete.source import run_plan, trial_estimates
    from carms_cli.present.table import print_lines

    counts = parse_int_list(samples, "--samples")
    for n in counts:  # the same check as a run's, before anything compiles
        build_problem(categories=3, samples=n, trials=1)
    used_backend, _ = resolve_backend(backend.value)
    threads = set_threads(None)
    started = time.perf_counter()

    def run(name: str, n: int, dims: int) -> None:
        plan = build_plan(build_problem(categories=3, samples=n, dims=dims, trials=10, seed=0), ESTIMATORS[name])
        run_plan(plan, 10, threads, backend=used_backend)
        trial_estimates(plan, 0, 2, backend=used_backend)

    # the CPU kernel's CARMS-I/independent specialisation is compiled per small n and for D = 1
    # (see kernels/cpu.py): one run with one variable and one with two per requested n; the
    # other copula constructions (carms-g) and the peers (unord) are one specialisation each
    for n in counts:
        run("carms", n, 1)
        run("carms", n, 2)
    run("carms-g", 2, 1)
    run("unord", 2, 1)
    if used_backend == "cpu":  # the Gaussian CARMS-I pair pmf's kernel (large K only)
        from carms_cli.discrete.exact.inverse import compiled_gaussian_pair_pmf, reference_orders

        compiled_gaussian_pair_pmf(np.full(3, 1.0 / 3.0), reference_orders(3), 4)
    seconds = time.perf_counter() - started
    print_lines(
        [
            f"kernels ready for backend {used_backend} at n = {samples} in {seconds:.1f} s "
            f"(cache: {kernel_cache_dir()})"
        ]
    )
