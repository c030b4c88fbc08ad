"""The continuous family's kernels: ABI, branches, random layout, backends and samplers.

* every chunk kernel takes ``start, stop``, :class:`KernelArgs`' fields, the scratch and the
  outputs in one order, and the CUDA wrapper hands them on in that order;
* every estimator code has a kernel and a NumPy branch;
* a trial never reads a counter of the next trial's block (the layout's U is enough);
* the NumPy backend draws the kernel's numbers (estimates agree to 1e−9), results do not
  depend on ``--threads``, and the simulated CUDA backend equals the NumPy backend;
* the Gamma sampler (Marsaglia–Tsang on sub-keys) passes a Kolmogorov–Smirnov test against
  scipy.stats at fixed seeds, for shapes below and above 1.
"""

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from carms_cli.continuous.codes import EstimatorCode
from carms_cli.continuous.kernels import numpy_backend, numpy_simplex, trial
from carms_cli.continuous.kernels.args import OUTPUTS, SCRATCH, KernelArgs
from carms_cli.continuous.kernels.chunks import KERNELS
from carms_cli.continuous.problem import build_problem
from carms_cli.continuous.registry import ESTIMATORS, refusal
from carms_cli.continuous.source import ContinuousSource, kernel_args
from carms_cli.core.engine import run_source
from carms_cli.core.rng import stream_key

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = Path(trial.__file__).resolve().parent
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

#: Problems covering every distribution, parameter kind and objective shape (separable or not).
CASES = [
    ("gaussian", {"mu": "1,0.5", "sigma": "1,2"}, "all", "cos-sum:1"),
    ("gaussian", {"mu": "0.3", "sigma": "1.5"}, "log-sigma", "exp:0.7"),
    ("gaussian", {"mu": "0.3,1,2", "sigma": "1.5"}, "mu", "quad-form:1,2,3"),
    ("exponential", {"rate": "2"}, None, "square:1"),
    ("gamma", {"alpha": "0.5,3", "rate": "2"}, None, "poly:1,2,0.5"),
    ("gamma", {"alpha": "0.5,3", "rate": "2"}, "alpha", "laplace:0.5"),
    ("beta", {"a": "0.5,3", "b": "2"}, None, "log"),
    ("dirichlet", {"alpha": "0.4,1,3"}, None, "cos:2"),
]


def _problem(case, samples=3, trials=1_500, seed=5):
    dist, given, param, objective = case
    return build_problem(dist, given, param, objective, samples, None, trials, seed)


def _applicable(problem):
    return [spec for spec in ESTIMATORS.values() if refusal(spec, problem) is None]


def test_every_chunk_kernel_lists_the_kernel_args_scratch_and_outputs_in_order():
    expected = ["start", "stop", *KernelArgs._fields, *SCRATCH, *OUTPUTS]
    for kernel in set(KERNELS.values()):
        assert list(inspect.signature(kernel.py_func).parameters) == expected, kernel.py_func.__name__


def test_the_cuda_wrapper_hands_every_argument_on_in_kernel_order():
    tree = ast.parse((KERNEL_DIR / "cuda.py").read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    wrapper = next(node for node in functions if node.name == "run_chunks_cuda")
    parameters = [arg.arg for arg in wrapper.args.args]
    assert parameters == ["first_trial", "n_chunks", "chunk_size", "last_trial", *KernelArgs._fields, *SCRATCH,
                          "out_count", *OUTPUTS]
    (call,) = [node for node in ast.walk(wrapper) if isinstance(node, ast.Call) and ast.unparse(node.func) == "chunk"]

    def passed(argument):
        if isinstance(argument, ast.Call) and ast.unparse(argument.func) == "unwrap":
            return passed(argument.args[0])
        if isinstance(argument, ast.Subscript):
            return passed(argument.value)
        return ast.unparse(argument)

    assert [passed(a) for a in call.args] == ["start", "stop", *KernelArgs._fields, *SCRATCH, *OUTPUTS]


def test_every_estimator_has_a_kernel_and_a_numpy_branch():
    assert set(KERNELS) == set(EstimatorCode)
    source = inspect.getsource(numpy_backend) + inspect.getsource(numpy_simplex)  # Beta, Dirichlet: their module
    for member in EstimatorCode:
        assert f"EstimatorCode.{member.name}" in source, member
    assert {spec.code for spec in ESTIMATORS.values()} == set(EstimatorCode)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_a_trial_reads_only_its_own_block_of_counters(case, monkeypatch):
    problem = _problem(case)
    for spec in _applicable(problem):
        args = kernel_args(problem, spec, np.zeros(problem.size))
        used = []

        def recording(key, counters, real=numpy_backend.uniforms, stream=int(args.key), used=used):
            if np.ndim(key) == 0 and int(key) == stream:
                used.append(int(np.max(counters)))
            return real(key, counters)

        monkeypatch.setattr(numpy_backend, "uniforms", recording)
        simplex = problem.distribution in ("beta", "dirichlet")
        (numpy_simplex.simplex_estimates if simplex else numpy_backend.trial_estimates)(args, 0, 1)
        monkeypatch.undo()
        assert max(used, default=-1) < int(args.uniforms_per_trial), spec.name


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_the_numpy_backend_draws_the_kernels_numbers(case):
    problem = _problem(case)
    shift = np.linspace(-0.3, 0.3, problem.size)
    for spec in _applicable(problem):
        cpu = run_source(ContinuousSource(problem, spec, shift, "cpu"), problem.trials, 2)
        vectorised = run_source(ContinuousSource(problem, spec, shift, "numpy"), problem.trials, 1)
        assert np.allclose(cpu.mean, vectorised.mean, rtol=1e-9, atol=1e-12), spec.name
        assert np.allclose(cpu.m2, vectorised.m2, rtol=1e-8), spec.name
        assert cpu.extras == vectorised.extras and cpu.evaluation_sum == vectorised.evaluation_sum, spec.name


def test_results_do_not_depend_on_the_thread_count():
    problem = _problem(CASES[4], trials=40_000)
    for spec in _applicable(problem):
        source = ContinuousSource(problem, spec, np.zeros(problem.size), "cpu")
        source.chunk_size = 512  # many chunks, so two threads really share the work
        one, two = run_source(source, problem.trials, 1), run_source(source, problem.trials, 2)
        assert np.array_equal(one.mean, two.mean) and np.array_equal(one.m2, two.m2), spec.name
        assert (one.q_sum, one.extras) == (two.q_sum, two.extras), spec.name


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 40.0])
def test_the_gamma_sampler_matches_scipy(shape):
    key = np.uint64(stream_key(11, 3))
    counters = np.arange(20_000, dtype=np.uint64)
    values, rejections = numpy_backend.gamma_variates(key, counters, np.full(counters.shape, shape))
    assert stats.kstest(values, stats.gamma(shape).cdf).pvalue > 1e-3
    # Marsaglia–Tsang accepts at least 95% of proposals for shape ≥ 1 (boosted shape + 1 below 1)
    assert rejections < 0.06 * counters.size


@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_simulated_cuda_equals_the_numpy_backend(tmp_path):
    script = """
        import numpy as np
        from carms_cli.continuous.kernels import cuda as gpu
        from carms_cli.continuous.problem import build_problem
        from carms_cli.continuous.registry import ESTIMATORS, refusal
        from carms_cli.continuous import source
        from carms_cli.continuous.source import ContinuousSource
        from carms_cli.core.engine import run_source
        source.CUDA_CHUNK = 64  # 4 chunk rows from 256 trials; the (2, 1) shape strides over them
        # every estimator (all four chunk kernels) on a Gaussian at two launch shapes; the Gamma
        # sampler's sub-keys on the GPU through one plain and one MVD estimator
        gaussian = ("gaussian", {"mu": "1,0.5", "sigma": "1,2"}, "all", "cos-sum:1")
        gamma = ("gamma", {"alpha": "0.5", "rate": "2"}, None, "square:1")
        cases = [(*gaussian, list(ESTIMATORS), [(32, 2), (2, 1)]), (*gamma, ["pathwise", "mvd"], [(32, 1)])]
        for dist, given, param, objective, names, shapes in cases:
            problem = build_problem(dist, given, param, objective, 3, None, 256, 5)
            for threads, blocks in shapes:
                gpu.LAUNCH.threads_per_block, gpu.LAUNCH.max_blocks = threads, blocks
                for name in names:
                    spec = ESTIMATORS[name]
                    if refusal(spec, problem):
                        continue
                    shift = np.linspace(-0.3, 0.3, problem.size)
                    a = run_source(ContinuousSource(problem, spec, shift, "numpy"), 256, 1)
                    b = run_source(ContinuousSource(problem, spec, shift, "cuda"), 256, 1)
                    assert np.allclose(a.mean, b.mean, rtol=1e-9, atol=1e-12), spec.name
                    assert np.allclose(a.m2, b.m2, rtol=1e-8) and a.extras == b.extras, spec.name
        print("ok")
    """
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


PTX_SCRIPT = """
    import numpy as np
    from numba import cuda
    from numba.core.typing.typeof import typeof
    import numba.cuda.dispatcher as dispatcher
    from carms_cli.continuous.kernels import cuda as gpu
    from carms_cli.continuous.kernels.args import SCRATCH, scratch_shapes
    from carms_cli.continuous.problem import build_problem
    from carms_cli.continuous.registry import ESTIMATORS
    from carms_cli.continuous.source import kernel_args

    class Device:  # no GPU here: give device-function compilation a target architecture
        compute_capability = (8, 0)

    dispatcher.get_current_device = lambda: Device()
    rate = build_problem("gamma", {"alpha": "0.5,2"}, None, "cos:1", 3, None, 100, 0)
    shape = build_problem("gamma", {"alpha": "0.5,2"}, "alpha", "cos:1", 3, None, 100, 0)
    beta = build_problem("beta", {"a": "0.5,2"}, "a", "cos:1", 3, None, 100, 0)
    dirichlet = build_problem("dirichlet", {"alpha": "0.5,2"}, None, "cos:1", 3, None, 100, 0)
    cases = ((rate, "pathwise"), (rate, "score-loo"), (rate, "mvd"), (shape, "implicit"), (beta, "implicit"),
             (dirichlet, "implicit-gamma-ratio"))
    for problem, name in cases:
        args = kernel_args(problem, ESTIMATORS[name], np.zeros(problem.size))
        shapes = scratch_shapes(3, 2, problem.size)
        scratch = [np.zeros((2, *shapes[n])) for n in SCRATCH]
        outputs = [np.zeros(2, dtype=np.int64), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 4))]
        values = [0, 2, 64, 100, *args, *scratch, *outputs]
        kernel = gpu.gpu_kernel(args.dist, args.estimator)
        ptx, _ = cuda.compile_ptx(kernel.py_func, tuple(typeof(v) for v in values), cc=(8, 0))
        assert ".entry" in ptx
    print("ptx", len(ptx))
"""


def test_real_kernels_compile_to_ptx_where_the_toolkit_wheels_are_installed():
    if not HAS_NUMBA_CUDA or importlib.util.find_spec("nvidia") is None:
        pytest.skip("CUDA toolkit wheels are not installed: pip install 'numba-cuda[cu12]' to run this check")
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PTX_SCRIPT)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=900,
    )
    if result.returncode != 0 and "NVVM" in result.stderr and "not found" in result.stderr.lower():
        pytest.skip("NVVM not found: pip install 'numba-cuda[cu12]'")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ptx")
