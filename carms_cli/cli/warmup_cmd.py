"""``carms warmup``: compile (or load) every kernel once, for installers and CI images."""

import time

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
    # one driver per target, specialised twice on the CPU (copula constructions, and the peers
    # ARSM/UNORD/Gumbel): one small run per specialisation and code path loads everything
    problem = build_problem(categories=3, samples=2, trials=10, seed=0)
    for name in ("carms", "unord"):
        plan = build_plan(problem, ESTIMATORS[name])
        run_plan(plan, problem.trials, set_threads(None), backend=used_backend)
        trial_estimates(plan, 0, 2, backend=used_backend)
    seconds = time.perf_counter() - started
    print_lines([f"kernels ready for backend {used_backend} in {seconds:.1f} s (cache: {kernel_cache_dir()})"])
