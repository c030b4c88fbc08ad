"""``carms warmup``: compile (or load) every kernel once, for installers and CI images."""

import time

import numpy as np

from carms_cli.cli import app
from carms_cli.cli.options import Backend, BackendName


@app.command()
def warmup(backend: Backend = BackendName.cpu) -> None:
    """Compile the kernels into the on-disk cache so that the first real run starts warm.

    Example: carms warmup
    """
    from carms_cli.backends import resolve_backend
    from carms_cli.engine import run_plan, set_threads, trial_estimates
    from carms_cli.kernels import kernel_cache_dir
    from carms_cli.plan import build_plan
    from carms_cli.problem import build_problem
    from carms_cli.registry import ESTIMATORS
    from carms_cli.report import print_lines

    used_backend, _ = resolve_backend(backend.value)
    started = time.perf_counter()
    # one chunk kernel, specialised three times on the CPU (CARMS-I, the other copula
    # constructions, the peers ARSM/UNORD/Gumbel): one small run per specialisation loads them all
    problem = build_problem(categories=3, samples=2, trials=10, seed=0)
    for name in ("carms", "carms-g", "unord"):
        plan = build_plan(problem, ESTIMATORS[name])
        run_plan(plan, problem.trials, set_threads(None), backend=used_backend)
        trial_estimates(plan, 0, 2, backend=used_backend)
    if used_backend == "cpu":  # the Gaussian CARMS-I pair pmf's kernel (large K only)
        from carms_cli.categorical import compiled_gaussian_pair_pmf, reference_orders

        compiled_gaussian_pair_pmf(np.full(3, 1.0 / 3.0), reference_orders(3), 4)
    seconds = time.perf_counter() - started
    print_lines([f"kernels ready for backend {used_backend} in {seconds:.1f} s (cache: {kernel_cache_dir()})"])
