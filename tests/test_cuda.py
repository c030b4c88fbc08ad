"""The CUDA backend without a GPU: the Numba CUDA simulator, PTX compilation, clear errors.

Simulator runs happen in subprocesses because ``NUMBA_ENABLE_CUDASIM`` must be set before numba
is imported. They use small trial counts and launch shapes of 1–2 blocks × 4–32 threads.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carms_cli.discrete.registry import ESTIMATORS

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
IGNORED = {
    "wall_seconds",
    "trials_per_second",
    "seconds_per_estimate",
    "backend",
    "backend_note",
    "threads",
    "chunk_size",
}


def _python(script: str, simulate: bool, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulate:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


RUN_BOTH = """
    from carms_cli.cli.app import main
    from carms_cli.discrete.kernels import cuda as gpu
    common = ["variance", "-k", "4", "-d", "2", "-n", "3", "-o", "pairwise", "-t", "{trials}", "--seed", "7",
              "-e", "all", "-q", "--reference-mc-draws", "5"]
    out = {{}}
    main(common + ["--backend", "cpu", "--json", "{out}/cpu.json"])
    for name, threads, blocks in [("a", 32, 2), ("b", 4, 1)]:  # b: 4 threads stride over 12 rows
        gpu.LAUNCH.threads_per_block, gpu.LAUNCH.max_blocks = threads, blocks
        code = main(common + ["--backend", "cuda", "--json", f"{out}/cuda_{{name}}.json"])
        assert code == 0, code
    print("done")
"""


def _numbers(record, path=""):
    if isinstance(record, dict):
        for key, value in record.items():
            if key not in IGNORED:
                yield from _numbers(value, f"{path}.{key}")
    elif isinstance(record, list):
        for index, value in enumerate(record):
            yield from _numbers(value, f"{path}[{index}]")
    elif isinstance(record, (int, float)) and not isinstance(record, bool):
        yield path, float(record)


@needs_numba_cuda
def test_simulated_cuda_backend_equals_cpu_for_every_estimator_and_launch_shape(tmp_path):
    result = _python(RUN_BOTH.format(trials=3000, out=tmp_path), simulate=True)
    assert result.returncode == 0, result.stderr[-3000:]
    cpu = json.loads((tmp_path / "cpu.json").read_text())
    shape_a = json.loads((tmp_path / "cuda_a.json").read_text())
    shape_b = json.loads((tmp_path / "cuda_b.json").read_text())
    assert shape_a["config"]["backend"] == "cuda"
    assert [e["name"] for e in shape_a["estimators"]] == [n for n, s in ESTIMATORS.items() if not s.binary_only]
    # launch shape: bitwise identical
    assert list(_numbers(shape_a)) == list(_numbers(shape_b))
    # against the CPU: equal to 1e-12 relative (merge order of 256- vs 4096-trial chunks differs)
    expected = dict(_numbers(cpu))
    got = dict(_numbers(shape_a))
    assert got.keys() == expected.keys()
    for key, value in got.items():
        assert abs(value - expected[key]) <= 1e-12 * max(abs(value), abs(expected[key]), 1.0), key


@needs_numba_cuda
def test_simulated_cuda_samples_equal_cpu_samples():
    script = """
        import numpy as np
        from carms_cli.discrete.source import trial_estimates
        from carms_cli.discrete.plan import build_plan
        from carms_cli.discrete.problem import build_problem
        from carms_cli.discrete.registry import ESTIMATORS
        problem = build_problem(categories=5, samples=4, dims=2, objective="table", trials=1, seed=3)
        from carms_cli.discrete.registry import applicable
        binary = build_problem(probs="0.3,0.7;0.6,0.4", samples=4, objective="pairwise", trials=1, seed=3)
        for name, spec in ESTIMATORS.items():
            if applicable(spec, 5, 4):
                continue
            plan = build_plan(problem, spec)
            g_cpu, z_cpu = trial_estimates(plan, 500, 200)
            g_gpu, z_gpu = trial_estimates(plan, 500, 200, backend="cuda")
            assert np.array_equal(z_cpu, z_gpu), name
            assert np.array_equal(g_cpu, g_gpu), name
        for name in ("arm", "disarm", "arms", "arms-gauss", "loorf"):
            plan = build_plan(binary, ESTIMATORS[name])
            g_cpu, z_cpu = trial_estimates(plan, 0, 300)
            g_gpu, z_gpu = trial_estimates(plan, 0, 300, backend="cuda")
            assert np.array_equal(z_cpu, z_gpu) and np.array_equal(g_cpu, g_gpu), name
        wide = build_problem(categories=24, samples=3, objective="table", trials=1, seed=5)  # K > 16
        for name in ("loorf", "carms", "carms-gauss"):  # guide table; orders from prefix sums
            plan = build_plan(wide, ESTIMATORS[name])
            g_cpu, z_cpu = trial_estimates(plan, 0, 300)
            g_gpu, z_gpu = trial_estimates(plan, 0, 300, backend="cuda")
            assert np.array_equal(z_cpu, z_gpu) and np.array_equal(g_cpu, g_gpu), name
        print("ok")
    """
    result = _python(script, simulate=True)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_cuda_backend_without_a_gpu_is_one_error_line_and_exit_2():
    script = """
        from carms_cli.core.backends import cuda_status
        print(cuda_status()[0])
    """
    probe = _python(script, simulate=False)
    assert probe.returncode == 0, probe.stderr
    if probe.stdout.strip() == "True":
        pytest.skip("a CUDA GPU is available here")
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    result = subprocess.run(
        [sys.executable, "-m", "carms_cli", "variance", "--backend", "cuda", "-t", "100"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --backend cuda: ")
    auto = subprocess.run(
        [
            sys.executable,
            "-m",
            "carms_cli",
            "variance",
            "--backend",
            "auto",
            "-t",
            "2000",
            "-e",
            "carms",
            "--json",
            "-",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert auto.returncode == 0, auto.stderr
    config = json.loads(auto.stdout)["config"]
    assert config["backend"] == "cpu" and config["backend_note"].startswith("auto: ")


PTX_SCRIPT = """
    import numpy as np
    from numba import cuda
    from numba.core.typing.typeof import typeof
    import numba.cuda.dispatcher as dispatcher
    from carms_cli.discrete.kernels.args import Outputs, kernel_args, row_buffers
    from carms_cli.discrete.kernels import cuda as gpu
    from carms_cli.discrete.plan import build_plan
    from carms_cli.discrete.problem import build_problem
    from carms_cli.discrete.registry import ESTIMATORS

    class Device:  # no GPU here: give device-function compilation a target architecture
        compute_capability = (8, 0)

    dispatcher.get_current_device = lambda: Device()
    problem = build_problem(categories=4, samples=3, dims=2, objective="pairwise")
    plan = build_plan(problem, ESTIMATORS["carms-g-ref"])
    scratch = gpu._scratch(2, plan.construction, 3, 4, 2, 5)
    g, z = np.zeros((2, 2, 4)), np.zeros((2, 3, 2), dtype=np.int64)
    count, *sums = row_buffers(2, 2, 4)
    values = [0, 2, 64, 100, *kernel_args(plan), *scratch, count, Outputs(*sums, g, z), True]
    ptx, _ = cuda.compile_ptx(gpu.run_chunks_cuda.py_func, tuple(typeof(v) for v in values), cc=(8, 0))
    assert ".entry" in ptx
    print("ptx", len(ptx))
"""


@needs_numba_cuda
def test_real_kernels_compile_to_ptx_where_the_toolkit_wheels_are_installed():
    if importlib.util.find_spec("nvidia") is None:
        pytest.skip("CUDA toolkit wheels are not installed: pip install 'numba-cuda[cu12]' to run this check")
    result = _python(PTX_SCRIPT, simulate=False)
    if result.returncode != 0 and "NVVM" in result.stderr and "not found" in result.stderr.lower():
        pytest.skip("NVVM not found: pip install 'numba-cuda[cu12]'")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ptx")


@needs_numba_cuda
def test_a_numba_cuda_that_cannot_compile_with_this_numpy_is_not_usable():
    """numba-cuda 0.30.4 with NumPy 2.5 fails at its first compile (``np.row_stack`` is gone):
    detection reports that as a reason (→ exit 2 for ``--backend cuda``), not an internal error."""
    script = """
        import importlib
        from carms_cli.core import backends
        real = importlib.import_module
        def broken(name, *args):
            if name == backends.CUDA_ARRAY_MODULE:
                raise AttributeError("module 'numpy' has no attribute 'row_stack'")
            return real(name, *args)
        backends.importlib.import_module = broken
        print(backends.cuda_status()[1])
    """
    result = _python(script, simulate=True)
    assert result.returncode == 0, result.stderr[-2000:]
    if result.stdout.startswith(("no usable", "numba-cuda is not installed")):
        pytest.skip("numba-cuda has no CUDA array module here")
    assert result.stdout.startswith("numba-cuda ") and "cannot compile kernels with NumPy" in result.stdout
    assert "row_stack" in result.stdout
