"""Checks shared by the continuous test modules: every backend draws the numba kernels' numbers.

The NumPy backend must give the CPU kernels' running statistics to rounding; the CUDA backend,
run under numba's simulator in a fresh process (``NUMBA_ENABLE_CUDASIM`` is read at import),
those of the NumPy backend.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from carms_cli.continuous.source import ContinuousSource
from carms_cli.core.engine import run_source

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None


def assert_numpy_backend_agrees(problem, spec, shift, trials: int) -> None:
    """The NumPy backend (one thread) reproduces the CPU kernel's (two threads) mean, M2 and counts."""
    cpu = run_source(ContinuousSource(problem, spec, shift, "cpu"), trials, 2)
    vectorised = run_source(ContinuousSource(problem, spec, shift, "numpy"), trials, 1)
    assert np.allclose(cpu.mean, vectorised.mean, rtol=1e-9, atol=1e-12), spec.name
    assert np.allclose(cpu.m2, vectorised.m2, rtol=1e-8), spec.name
    assert cpu.extras == vectorised.extras and cpu.evaluation_sum == vectorised.evaluation_sum, spec.name


def assert_simulated_cuda_agrees(problem: str) -> None:
    """Under the CUDA simulator, the CUDA backend gives the NumPy backend's statistics.

    ``problem`` is the Python expression (a ``build_problem`` call) of a problem of 48 trials; the
    implicit and score-loo estimators are checked on it, one block of 32 threads.
    """
    script = f"""
        import numpy as np
        from carms_cli.continuous.kernels import cuda as gpu
        from carms_cli.continuous.problem import build_problem
        from carms_cli.continuous.registry import ESTIMATORS
        from carms_cli.continuous.source import ContinuousSource
        from carms_cli.core.engine import run_source
        problem = {problem}
        gpu.LAUNCH.threads_per_block, gpu.LAUNCH.max_blocks = 32, 1
        for name in ("implicit", "score-loo"):
            shift = np.linspace(-0.3, 0.3, problem.size)
            a = run_source(ContinuousSource(problem, ESTIMATORS[name], shift, "numpy"), 48, 1)
            b = run_source(ContinuousSource(problem, ESTIMATORS[name], shift, "cuda"), 48, 1)
            assert np.allclose(a.mean, b.mean, rtol=1e-9, atol=1e-12), name
            assert np.allclose(a.m2, b.m2, rtol=1e-8) and a.extras == b.extras, name
        print("ok")
    """
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
