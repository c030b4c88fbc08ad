"""One continuous estimator on one problem as the engine's chunk source, on the CPU, CUDA or NumPy backend.

The kernel accumulates ``Σ(g − r)`` and ``Σ(g − r)²`` about the exact gradient r per chunk row
(the shift keeps the sums small when g is close to r); :meth:`ContinuousSource.run` turns them
into the engine's chunk mean ``r + S₁/m`` and centred sum of squares ``S₂ − S₁²/m``.
"""

import numpy as np
from scipy import special

from carms_cli.continuous import simplex
from carms_cli.continuous.codes import DistributionCode, EstimatorCode, ParameterCode
from carms_cli.continuous.kernels.args import KernelArgs
from carms_cli.continuous.kernels.layout import uniforms_per_trial
from carms_cli.continuous.problem import ContinuousProblem
from carms_cli.continuous.registry import ContinuousSpec, evaluations_per_estimate
from carms_cli.continuous.simplex import SIMPLEX
from carms_cli.core.records import ChunkRows
from carms_cli.core.rng import stream_key

#: Trials per chunk on the GPU (one GPU thread runs one chunk; fixed, whatever the launch shape;
#: the discrete family's :data:`~carms_cli.discrete.kernels.cuda.CUDA_CHUNK` says why 256).
CUDA_CHUNK = 256
#: Work units (samples × coordinates, × reported coordinates for MVD) per CPU chunk.
CHUNK_WORK = 1 << 15


def chunk_size(backend: str, spec: ContinuousSpec, problem: ContinuousProblem) -> int:
    """Trials per chunk: a function of the problem, the estimator and the target, never of the threads."""
    if backend == "cuda":
        return CUDA_CHUNK
    work = problem.samples * problem.dims
    if spec.code in (EstimatorCode.MVD, EstimatorCode.MVD_UNCOUPLED):
        work *= problem.size
    return int(min(8192, max(64, CHUNK_WORK // work)))


def taylor_expansion(problem: ContinuousProblem) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Return the delta method's h: f(μ), ∇f(μ), ∇²f(μ), and ∇θ E[h] per reported coordinate.

    With the expansion point held at the current μ, E[h] = f(μ) + ½ Σ_d H_dd σ_d² + (terms of
    μ − μ̂ that vanish at μ̂ = μ with zero gradient beyond ∇f(μ)): ∂/∂μ_d = ∇f(μ)_d,
    ∂/∂σ_d = H_dd σ_d and σ_d·∂/∂σ_d = H_dd σ_d². The registry runs the delta CVs on Gaussians
    with a differentiable f only.
    """
    mu, sigma = problem.value("mu"), problem.value("sigma")
    f0 = float(problem.objective.value(mu))
    g0 = np.ascontiguousarray(problem.objective.gradient(mu), dtype=float)
    hessian = np.ascontiguousarray(problem.objective.hessian(mu), dtype=float)
    diagonal = np.diag(hessian)
    parts = {
        ParameterCode.MU: g0,
        ParameterCode.SIGMA: diagonal * sigma,
        ParameterCode.LOG_SIGMA: diagonal * sigma * sigma,
    }
    gradient = np.concatenate([parts[code] for code in problem.parameter_codes])
    return f0, g0, hessian, gradient


def score_offsets(problem: ContinuousProblem) -> np.ndarray:
    """Return the score's constant part per reported coordinate (ψ(α_d), A(κ_d) or 0).

    ψ(α_d) for the Gamma shape, A(κ_d) for the von Mises concentration, else 0. The kernel's α
    score is log x̃ − ψ(α) (x̃ = βx), its κ score cos ε − A(κ) with A = I₁/I₀; the others are
    computed whole in the kernel. Beta and Dirichlet: :func:`carms_cli.continuous.simplex.score_offsets`.
    """
    if problem.distribution in SIMPLEX:
        return simplex.score_offsets(problem)
    offsets = {
        "alpha": lambda: special.digamma(problem.value("alpha")),
        "kappa": lambda: special.i1e(problem.value("kappa")) / special.i0e(problem.value("kappa")),
    }
    parts = [offsets[name]() if name in offsets else np.zeros(problem.dims) for name in problem.parameters]
    return np.ascontiguousarray(np.concatenate(parts), dtype=float)


def shape_tables(problem: ContinuousProblem) -> np.ndarray:
    """Return the Gamma shape derivative's per-α table for each coordinate, (D, T); (1, 1) zeros otherwise.

    Filled once on the host by :func:`~carms_cli.continuous.kernels.implicit.shape_table` (the
    same compiled :func:`~carms_cli.continuous.kernels.implicit.prepare_shape` the derivative's
    own batch functions use), so every trial's ∂x/∂α reads it instead of recomputing it. The von
    Mises κ derivative's table is one number per coordinate, 1 − A(κ_d)
    (:func:`~carms_cli.continuous.kernels.vonmises.mean_resultant_gap`), shape (D, 1). Beta and
    Dirichlet: one per Gamma drawn (:func:`carms_cli.continuous.simplex.shape_tables`).
    """
    if problem.distribution in SIMPLEX:
        return simplex.shape_tables(problem)
    if "kappa" in problem.parameters:
        from carms_cli.continuous.kernels.vonmises import mean_resultant_gap

        return np.array([[mean_resultant_gap(float(kappa))] for kappa in problem.value("kappa")])
    if "alpha" not in problem.parameters:
        return np.zeros((1, 1))
    from carms_cli.continuous.kernels.implicit import TABLE_SIZE, shape_table

    alphas = np.broadcast_to(np.asarray(problem.value("alpha"), dtype=float), (problem.dims,))
    tables = np.zeros((problem.dims, TABLE_SIZE))
    for d in range(problem.dims):
        shape_table(float(alphas[d]), tables[d])
    return tables


def kernel_args(problem: ContinuousProblem, spec: ContinuousSpec, shift: np.ndarray) -> KernelArgs:
    """Return the kernel inputs of ``spec`` on ``problem`` (accumulating about ``shift``)."""
    if problem.code == DistributionCode.GAUSSIAN:
        param_a, param_b = problem.value("mu"), problem.value("sigma")
    elif problem.code == DistributionCode.GAMMA:
        param_a, param_b = problem.value("alpha"), problem.value("rate")
    elif problem.code == DistributionCode.VONMISES:
        param_a, param_b = problem.value("mu"), problem.value("kappa")
    elif problem.distribution in SIMPLEX:
        param_a, param_b = simplex.kernel_parameters(problem)
    else:
        param_a, param_b = np.ones(problem.dims), problem.value("rate")
    if spec.needs_taylor:
        f0, g0, hessian, gradient = taylor_expansion(problem)
    else:  # unused by the kernel: zeros of the kernel's shapes
        f0, g0, hessian, gradient = 0.0, np.zeros(problem.dims), np.zeros((problem.dims,) * 2), np.zeros(problem.size)
    shift = np.ascontiguousarray(np.where(np.isfinite(shift), shift, 0.0), dtype=float)
    if spec.needs_baseline:
        from carms_cli.continuous.truth import optimal_baseline

        baseline = optimal_baseline(problem)
    else:
        baseline = np.zeros(problem.size)
    return KernelArgs(
        key=np.uint64(stream_key(problem.seed, spec.stream)),
        uniforms_per_trial=np.uint64(
            uniforms_per_trial(problem.code, spec.code, problem.samples, problem.dims, problem.size)
        ),
        dist=int(problem.code),
        estimator=int(spec.code),
        samples=problem.samples,
        dims=problem.dims,
        param_a=np.ascontiguousarray(param_a, dtype=float),
        param_b=np.ascontiguousarray(param_b, dtype=float),
        parameters=np.array([int(code) for code in problem.parameter_codes], dtype=np.int64),
        objective=int(problem.objective.code),
        objective_params=problem.objective.kernel_params(problem.dims),
        shift=shift,
        evaluations=evaluations_per_estimate(spec, problem),
        taylor_f0=f0,
        taylor_g0=g0,
        taylor_h=hessian,
        taylor_gradient_mean=np.ascontiguousarray(gradient, dtype=float),
        baseline=np.ascontiguousarray(baseline, dtype=float),
        score_offset=score_offsets(problem),
        shape_table=shape_tables(problem),
    )


class ContinuousSource:
    """The engine's :class:`~carms_cli.core.engine.ChunkSource` for one continuous estimator."""

    extra_names = ("rejections",)

    def __init__(self, problem: ContinuousProblem, spec: ContinuousSpec, shift: np.ndarray, backend: str = "cpu"):
        self.args = kernel_args(problem, spec, shift)
        self.backend = backend
        self.shape = (problem.size,)
        self.chunk_size = chunk_size(backend, spec, problem)

    def batch_rows(self, threads: int) -> int:
        """Chunk rows per batch: a few per thread (rows hold 2P + 4 numbers each)."""
        return max(64, 16 * threads)

    def run(self, first_trial: int, rows: int, last_trial: int, threads: int) -> ChunkRows:
        """Run chunk rows ``0 .. rows − 1`` (see :class:`~carms_cli.core.engine.ChunkSource`)."""
        size = self.shape[0]
        count = np.zeros(rows, dtype=np.int64)
        s1, s2 = np.zeros((rows, size)), np.zeros((rows, size))
        scalars = np.zeros((rows, 4))
        out = (count, s1, s2, scalars)
        if self.backend == "cuda":
            from carms_cli.continuous.kernels.cuda import launch

            launch(first_trial, rows, self.chunk_size, last_trial, self.args, out)
        elif self.backend == "numpy":
            from carms_cli.continuous.kernels.numpy_backend import run_chunks

            estimates = None
            if self.args.dist in (DistributionCode.BETA, DistributionCode.DIRICHLET):
                from carms_cli.continuous.kernels.numpy_simplex import simplex_estimates as estimates
            run_chunks(first_trial, rows, self.chunk_size, last_trial, self.args, out, estimates)
        else:
            from carms_cli.continuous.kernels.cpu import run_chunks

            run_chunks(first_trial, rows, self.chunk_size, last_trial, self.args, out, threads)
        m = np.maximum(count, 1)[:, None]
        mean = np.where(count[:, None] > 0, self.args.shift + s1 / m, 0.0)
        m2 = np.maximum(s2 - s1 * s1 / m, 0.0)
        return ChunkRows(count, mean, m2, scalars)
