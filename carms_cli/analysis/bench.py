"""``carms bench``: throughput of the numba CPU backend against the NumPy backend, and start-up.

With ``cuda_trials`` (``carms bench --backend cuda``), the same numba kernel is also timed on the
GPU (:mod:`carms_cli.discrete.kernels.cuda`), beside the CPU's numbers, in the same alternation.

For each estimator, one repetition times, in turn, the numba kernel, the NumPy backend and the
RNG-plus-log bound (:mod:`carms_cli.core.kernels.bound`) on the same plan; the record keeps every
repetition's seconds and reports medians as rates, ``trials / median seconds``, so runs of
different trial counts compare. The numba kernel is compiled (or loaded) before any timing.

Start-up: wall seconds of a fresh ``python -m carms_cli variance …`` process with
``NUMBA_CACHE_DIR`` pointing at an empty directory (cold: every kernel compiles), then the same
command again with the cache that run filled (warm: kernels load from disk).
"""

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np

from carms_cli import __version__
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.plan import Plan, build_plan, tuples_per_set
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.sampling.samplers import Construction

SCHEMA = "carms-cli/bench/1"
BACKENDS = ("numba", "numpy")
#: Seconds a NumPy or bound timing should last at least (their trial counts are chosen from a probe).
TARGET_SECONDS = 0.5
MIN_NUMPY_TRIALS = 1_000
STARTUP_ARGS = ("variance", "--categories", "10", "--samples", "4")
#: Warm starts timed per bench run (their median is reported): one fresh process is noisy.
WARM_RUNS = 5
BOUND_CHUNK = 4096


class BenchCase(NamedTuple):
    """Timings of one estimator: per-repetition seconds and the rates of their medians."""

    estimator: str
    uniforms_per_trial: int
    trials: dict[str, int]  # numba, numpy, bound
    seconds: dict[str, list[float]]  # numba, numpy, bound: one entry per repetition
    trials_per_second: dict[str, float]  # numba, numpy
    ratio: float  # numba / numpy
    bound_trials_per_second: float
    fraction_of_bound: dict[str, float]  # numba, numpy
    #: GPU rate ÷ numba CPU rate; None when the GPU was not timed (``trials``, ``seconds`` and
    #: ``trials_per_second`` then have no ``cuda`` entry)
    cuda_ratio: float | None = None
    #: evaluations of f or f′ per trial (the continuous family compares estimators per evaluation)
    evaluations_per_trial: int | None = None


def uniforms_per_trial(plan: Plan, spec: EstimatorSpec) -> int:
    """Uniforms one trial draws: ``D (1 + R) (o + T·m)`` plus ARM's ``D n/2`` re-read pair uniforms.

    ``o`` = 1 when the order set has more than one order (its draw), ``T`` tuples per sample set
    (1, K, K − 1, or n for the Gumbel relaxations), ``m`` uniforms per tuple, ``R`` the Monte Carlo
    pmf sets of ``carms-g-ref``.
    For stick-breaking this counts every stage, an upper bound (the kernel stops at the first
    stage where all n samples have stopped).
    """
    order_draw = 1 if max(plan.orders.shape[1], plan.pairs.shape[0]) > 1 else 0
    tuples = tuples_per_set(Construction(plan.construction), plan.categories, plan.samples)
    per_set = order_draw + tuples * plan.tuple_draws
    per_variable = (1 + plan.mc_pmf_draws) * per_set
    if spec.weighting == Weighting.ARM:
        per_variable += plan.samples // 2
    return plan.dims * per_variable


def bound_seconds(key: np.uint64, trials: int, draws: int) -> float:
    """Wall seconds of the RNG-plus-log kernel over ``trials`` trials of ``draws`` uniforms."""
    from carms_cli.core.kernels.bound import log_uniform_sums

    rows = -(-trials // BOUND_CHUNK)
    out = np.zeros(rows)
    started = time.perf_counter()
    log_uniform_sums(key, 0, rows, BOUND_CHUNK, trials, draws, out)
    seconds = time.perf_counter() - started
    if not np.isfinite(out.sum()):  # every log is finite: u is never 0
        raise RuntimeError("the RNG-plus-log bound kernel returned a non-finite sum")
    return seconds


def numpy_trials_for(plan: Plan, target_seconds: float = TARGET_SECONDS) -> int:
    """Return the NumPy trial count lasting about ``target_seconds``.

    It comes from the rate of a short probe run (the second of two: the first pays one-off costs
    such as SciPy's import).
    """
    from carms_cli.discrete.kernels.numpy_backend import batch_size, run_plan

    probe = max(MIN_NUMPY_TRIALS, 2 * batch_size(plan))
    run_plan(plan, probe)
    rate = probe / run_plan(plan, probe).seconds
    return max(MIN_NUMPY_TRIALS, int(rate * target_seconds))


def bench_bytes(categories: int, dims: int, specs: list[EstimatorSpec], threads: int, trials: int, cuda: bool) -> int:
    """Estimate the peak bytes of timing ``specs`` at K categories and D variables (objective tables aside).

    The cases run one after another, each on its own plan: the peak is the largest case's plan
    with one batch of the numba CPU backend, of the NumPy backend or (``cuda``) of the GPU
    (:func:`~carms_cli.analysis.variance.run_bytes`), plus the bound's per-chunk sums for at least
    ``trials`` trials.
    """
    from carms_cli.analysis.variance import run_bytes

    backends = ("cpu", "numpy", "cuda") if cuda else ("cpu", "numpy")
    case = max(run_bytes(categories, dims, [spec], threads, backend) for spec in specs for backend in backends)
    return case + 8 * -(-trials // BOUND_CHUNK)


def bench_case(
    problem: Problem,
    spec: EstimatorSpec,
    trials: int,
    numpy_trials: int | None,
    repeats: int,
    threads: int,
    cuda_trials: int | None = None,
) -> BenchCase:
    """Time ``spec`` on ``problem``: numba, NumPy and the bound, alternating.

    numba runs ``trials``, NumPy ``numpy_trials`` (None: about
    :data:`TARGET_SECONDS`) and the bound (``trials``, or more so that it lasts about
    :data:`TARGET_SECONDS`: it is several times faster than the estimator), alternating,
    ``repeats`` times; with ``cuda_trials``, also the numba kernel on the GPU (``cuda_trials``
    trials, compiled before any timing). The caller checks that the GPU is usable
    (:func:`carms_cli.core.backends.resolve_backend`).
    """
    from carms_cli.discrete.source import run_plan

    plan = build_plan(problem, spec)
    draws = uniforms_per_trial(plan, spec)
    run_plan(plan, min(trials, 10_000), threads)  # compile or load the kernel
    if numpy_trials is None:
        numpy_trials = numpy_trials_for(plan)
    timers = {
        "numba": (trials, lambda n: run_plan(plan, n, threads).seconds),
        "numpy": (numpy_trials, lambda n: run_plan(plan, n, threads, backend="numpy").seconds),
        "bound": (_bound_trials(plan.key, trials, draws), lambda n: bound_seconds(plan.key, n, draws)),
    }
    if cuda_trials is not None:
        run_plan(plan, min(cuda_trials, 10_000), threads, backend="cuda")  # compile the GPU kernel
        timers["cuda"] = (cuda_trials, lambda n: run_plan(plan, n, threads, backend="cuda").seconds)
    counts, seconds, rates = _alternate(timers, repeats)
    timed = BACKENDS + (("cuda",) if cuda_trials is not None else ())
    return _case(
        spec.name,
        draws,
        counts,
        seconds,
        rates,
        timed,
        cuda_ratio=rates["cuda"] / rates["numba"] if cuda_trials is not None else None,
    )


def _bound_trials(key, trials: int, draws: int) -> int:
    """Warm the bound kernel, then return the trials it runs: ``trials``, or as many as last :data:`TARGET_SECONDS`."""
    bound_seconds(key, min(trials, 10_000), draws)
    return max(trials, int(trials * TARGET_SECONDS / bound_seconds(key, trials, draws)))


def _alternate(timers: dict, repeats: int) -> tuple[dict, dict, dict]:
    """Run every ``name: (trials, seconds_of)`` timer in turn, ``repeats`` times.

    Returns the trial counts, every repetition's seconds and the rates ``trials / median seconds``.
    """
    counts = {name: trials for name, (trials, _) in timers.items()}
    seconds: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, (trials, seconds_of) in timers.items():
            seconds[name].append(seconds_of(trials))
    rates = {name: counts[name] / statistics.median(seconds[name]) for name in seconds}
    return counts, seconds, rates


def _case(estimator: str, draws: int, counts, seconds, rates, timed, **extra) -> BenchCase:
    """Build a :class:`BenchCase` from the alternated timings (``timed``: the rates reported)."""
    return BenchCase(
        estimator=estimator,
        uniforms_per_trial=draws,
        trials=counts,
        seconds=seconds,
        trials_per_second={name: rates[name] for name in timed},
        ratio=rates["numba"] / rates["numpy"],
        bound_trials_per_second=rates["bound"],
        fraction_of_bound={name: rates[name] / rates["bound"] for name in BACKENDS},
        **extra,
    )


def bench_continuous_case(
    problem, spec, trials: int, numpy_trials: int | None, repeats: int, threads: int
) -> BenchCase:
    """Time one continuous estimator: compiled kernel, NumPy backend and the bound, alternating.

    The same protocol as :func:`bench_case`: the bound draws the trial's U uniforms (the
    estimator's random layout, :mod:`carms_cli.continuous.kernels.layout`) and takes one log of
    each; rates are trials over median seconds.
    """
    from carms_cli.continuous.registry import evaluations_per_estimate
    from carms_cli.continuous.source import ContinuousSource
    from carms_cli.core.engine import run_source

    shift = np.zeros(problem.size)
    numba_source = ContinuousSource(problem, spec, shift, "cpu")
    numpy_source = ContinuousSource(problem, spec, shift, "numpy")
    draws = int(numba_source.args.uniforms_per_trial)
    key = numba_source.args.key
    run_source(numba_source, min(trials, 10_000), threads)  # compile or load the kernel
    if numpy_trials is None:
        probe = 4 * numpy_source.chunk_size
        run_source(numpy_source, probe, 1)
        rate = probe / run_source(numpy_source, probe, 1).seconds
        numpy_trials = max(MIN_NUMPY_TRIALS, int(rate * TARGET_SECONDS))
    timers = {
        "numba": (trials, lambda n: run_source(numba_source, n, threads).seconds),
        "numpy": (numpy_trials, lambda n: run_source(numpy_source, n, 1).seconds),
        "bound": (_bound_trials(key, trials, draws), lambda n: bound_seconds(key, n, draws)),
    }
    counts, seconds, rates = _alternate(timers, repeats)
    return _case(
        spec.name,
        draws,
        counts,
        seconds,
        rates,
        BACKENDS,
        evaluations_per_trial=evaluations_per_estimate(spec, problem),
    )


def _wall_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"start-up command {' '.join(command)} exited {result.returncode}: {last}")
    return seconds


def startup_seconds(args: tuple[str, ...] = STARTUP_ARGS, warm_runs: int = WARM_RUNS) -> dict:
    """Time ``python -m carms_cli ARGS`` in fresh processes, output captured.

    Cold (empty ``NUMBA_CACHE_DIR``), then ``warm_runs`` warm ones (the cache the cold run
    filled), reported by their median; wall seconds.
    """
    command = [sys.executable, "-m", "carms_cli", *args]
    with tempfile.TemporaryDirectory(prefix="carms-bench-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold = _wall_seconds(command, env)
        warm = [_wall_seconds(command, env) for _ in range(warm_runs)]
    return {
        "command": " ".join(["carms", *args]),
        "cold_seconds": cold,
        "warm_seconds": statistics.median(warm),
        "warm_runs_seconds": warm,
    }


def bench_record(problem, cases: list[BenchCase], config: dict, startup: dict | None) -> dict:
    """Build the versioned JSON record of a bench run (a discrete or a continuous problem)."""
    if hasattr(problem, "categories"):
        stated = {"family": "discrete", "categories": problem.categories}
    else:
        stated = {"family": "continuous", "distribution": problem.describe()}
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {
            **stated,
            "samples": problem.samples,
            "dims": problem.dims,
            "objective": problem.objective.spec,
            "seed": problem.seed,
            **config,
        },
        "cases": [case._asdict() for case in cases],
        "startup": startup,
    }


#: ``carms bench --family implicit``: the shapes timed, the draws per kernel call (chunks split among
#: the threads; counters are the draw indices, so the numbers do not depend on the split).
IMPLICIT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 1000.0)
IMPLICIT_CHUNK = 1 << 16
#: The issue's speed targets: sample + ∂x/∂α within this many ns per draw for α ≤ 10, and ∂x/∂α costing at
#: most this multiple of the sampling it rides on.
IMPLICIT_TARGET_NS = 100.0
IMPLICIT_TARGET_ALPHA = 10.0
IMPLICIT_TARGET_RATIO = 1.0


class ImplicitCase(NamedTuple):
    """Timings of Gamma(α, 1) draws alone and with ∂x/∂α, alternating; nanoseconds per draw from medians."""

    alpha: float
    draws: int
    seconds: dict[str, list[float]]  # sample, derivative: one entry per repetition
    ns_sample: float
    ns_sample_derivative: float
    ns_derivative: float  # ns_sample_derivative − ns_sample
    #: median over the repetitions of (t_derivative − t_sample)/t_sample: each repetition's pair ran back to back
    ratio: float
    rejections_per_draw: float
    underflows: int  # draws x = 0 (α ≲ 0.01; ∂x/∂α is 0 there)


def _implicit_timer(kernel, key, alpha: float, outputs: tuple, threads: int):
    """Return ``seconds_of(draws)``: ``kernel(key, first, α, *chunks)`` over contiguous chunks, ``threads`` threads."""
    from carms_cli.core.pool import run_rows

    def seconds_of(draws: int) -> float:
        chunks = -(-draws // IMPLICIT_CHUNK)

        def work(first_row, last_row):
            for row in range(first_row, last_row):
                start, stop = row * IMPLICIT_CHUNK, min((row + 1) * IMPLICIT_CHUNK, draws)
                kernel(key, np.uint64(start), alpha, *(out[start:stop] for out in outputs))

        started = time.perf_counter()
        run_rows(chunks, threads, work)
        return time.perf_counter() - started

    return seconds_of


def bench_implicit_case(alpha: float, draws: int, repeats: int, threads: int, seed: int) -> ImplicitCase:
    """Time Gamma(α, 1) draws alone and draws with ∂x/∂α (float64), alternating, ``repeats`` times.

    Both kernels draw the same variates (:mod:`carms_cli.continuous.kernels.implicit`): checked
    after the timings, as is that every derivative is finite.
    """
    from carms_cli.analysis.implicit import STREAM
    from carms_cli.continuous.kernels import implicit
    from carms_cli.core.rng import stream_key

    key = np.uint64(stream_key(seed, STREAM))
    alone, values, derivatives = np.empty(draws), np.empty(draws), np.empty(draws)
    implicit.gamma_samples(key, np.uint64(0), alpha, alone[:1])  # compile or load, outside the timing
    implicit.gamma_samples_with_derivative(key, np.uint64(0), alpha, values[:1], derivatives[:1])
    failure = f"the Gamma kernels disagree or a derivative is not finite at α = {alpha:g}"
    timing = _time_with_derivative(
        implicit.gamma_samples, implicit.gamma_samples_with_derivative, key, alpha, (alone, values, derivatives),
        repeats, threads, failure,
    )  # fmt: skip
    rejections = implicit.gamma_samples(key, np.uint64(0), alpha, alone)
    return ImplicitCase(
        alpha=alpha,
        draws=draws,
        **timing,
        rejections_per_draw=rejections / draws,
        underflows=int((values == 0).sum()),
    )


def _time_with_derivative(sampler, kernel, key, argument, outputs: tuple, repeats: int, threads: int, failure: str):
    """Time ``sampler`` alone against ``kernel``, which draws the same variates with their derivative, alternating.

    Both are called as :func:`_implicit_timer` says; ``outputs`` is ``(alone, values, derivatives)``:
    the sampler's draws, and the kernel's draws and derivatives (one draw per leading row). After
    the timings the two must have drawn the same values and every derivative must be finite (else
    RuntimeError ``failure``). Returns the case's timing fields: ``seconds`` per repetition
    ({sample, derivative}), ns per draw alone, with the derivative and their difference, and the
    median over the repetitions of (t_derivative − t_sample)/t_sample.
    """
    alone, values, derivatives = outputs
    draws = alone.shape[0]
    timers = {
        "sample": (draws, _implicit_timer(sampler, key, argument, (alone,), threads)),
        "derivative": (draws, _implicit_timer(kernel, key, argument, (values, derivatives), threads)),
    }
    _, seconds, rates = _alternate(timers, repeats)
    if not np.array_equal(alone, values) or not np.all(np.isfinite(derivatives)):
        raise RuntimeError(failure)
    ratios = [(both - sample) / sample for sample, both in zip(seconds["sample"], seconds["derivative"], strict=True)]
    ns_sample, ns_both = 1e9 / rates["sample"], 1e9 / rates["derivative"]
    return {
        "seconds": seconds,
        "ns_sample": ns_sample,
        "ns_sample_derivative": ns_both,
        "ns_derivative": ns_both - ns_sample,
        "ratio": statistics.median(ratios),
    }


#: ``carms bench --family implicit --dist …``: the parameter sets timed when none is given (Gamma: IMPLICIT_ALPHAS).
IMPLICIT_DEFAULT_PARAMETERS = {
    "beta": ("0.5,2,30", "0.5,5,1e4"),
    "dirichlet": "0.5,1,2",
    "vonmises": "0.1,1,10,100,1000",
}
#: A Beta or Dirichlet timing keeps at most this many Jacobian values (draws × K²): the batch is cut to fit.
IMPLICIT_JACOBIAN_VALUES = 4_000_000


class ImplicitPathCase(NamedTuple):
    """Timings of one distribution's draws alone and with one derivative path, alternating (ns per draw)."""

    distribution: str
    parameters: list[float]
    path: str  # "gamma-ratio" or "cdf" (Beta, Dirichlet), "integral" (von Mises)
    draws: int
    seconds: dict[str, list[float]]  # sample, derivative: one entry per repetition
    ns_sample: float
    ns_sample_derivative: float
    ns_derivative: float
    ratio: float  # median over the repetitions of (t_derivative − t_sample)/t_sample
    rejections_per_draw: float


def _implicit_kernels(distribution: str, parameters) -> tuple[list[tuple], int, object, list]:
    """Return ``(path, derivative kernel)`` pairs, K, the parameter argument and the sampler of one set.

    Every kernel is called as ``kernel(key, first, parameter, *outputs)`` (the timer's convention);
    Beta and Dirichlet wrap :mod:`~carms_cli.continuous.kernels.beta`'s (their ``rows`` and ``rest``).
    """
    if distribution == "vonmises":
        from carms_cli.continuous.kernels import vonmises

        kappa = float(parameters)
        return [("integral", vonmises.vonmises_samples_with_derivative)], 1, kappa, vonmises.vonmises_samples
    from carms_cli.continuous.kernels import beta

    alpha = np.array([float(value) for value in parameters])
    dims = alpha.shape[0]
    rows = 1 if distribution == "beta" else dims
    rest = np.array([math.fsum(np.delete(alpha, i)) for i in range(dims)])

    def ratio(key, first, a, x, jacobian):
        return beta.dirichlet_samples_ratio(key, first, a, rows, x, jacobian)

    def cdf(key, first, a, x, jacobian):
        return beta.dirichlet_samples_cdf(key, first, a, rest, rows, x, jacobian)

    return [("gamma-ratio", ratio), ("cdf", cdf)], dims, alpha, beta.dirichlet_sample_only


def bench_implicit_paths(
    distribution: str, parameters, draws: int, repeats: int, threads: int, seed: int
) -> list[ImplicitPathCase]:
    """Time draws of ``distribution`` alone and with each derivative path (float64), alternating.

    ``parameters`` is one set: a κ (von Mises) or a shape vector (Beta (a, b), Dirichlet α). The
    sampler and each derivative kernel draw the same variates (checked after the timings, as is
    that every derivative is finite). Beta and Dirichlet batches are cut to
    :data:`IMPLICIT_JACOBIAN_VALUES` Jacobian values.
    """
    from carms_cli.analysis.implicit_common import STREAM
    from carms_cli.core.rng import stream_key

    key = np.uint64(stream_key(seed, STREAM))
    paths, dims, argument, sampler = _implicit_kernels(distribution, parameters)
    if distribution == "vonmises":
        shape, derivative_shape = (draws,), (draws,)
    else:
        draws = max(1, min(draws, IMPLICIT_JACOBIAN_VALUES // (dims * dims)))
        shape, derivative_shape = (draws, dims), (draws, dims, dims)
    alone = np.empty(shape)
    sampler(key, np.uint64(0), argument, alone[:1])  # compile or load, outside the timing
    cases = []
    for path, kernel in paths:
        values, derivatives = np.empty(shape), np.zeros(derivative_shape)
        kernel(key, np.uint64(0), argument, values[:1], derivatives[:1])
        failure = f"the {distribution} kernels disagree or a derivative is not finite at {parameters}"
        timing = _time_with_derivative(
            sampler, kernel, key, argument, (alone, values, derivatives), repeats, threads, failure
        )
        cases.append(
            ImplicitPathCase(
                distribution=distribution,
                parameters=[float(value) for value in np.atleast_1d(argument)],
                path=path,
                draws=draws,
                **timing,
                rejections_per_draw=sampler(key, np.uint64(0), argument, alone) / draws,
            )
        )
    return cases


def implicit_paths_record(distribution: str, cases: list[ImplicitPathCase], config: dict) -> dict:
    """Build the versioned JSON record of ``carms bench --family implicit --dist`` beta, dirichlet or vonmises."""
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {"family": "implicit", "distribution": distribution, "dtype": "float64", "targets": None, **config},
        "cases": [case._asdict() for case in cases],
        "startup": None,
    }


def implicit_bench_record(cases: list[ImplicitCase], config: dict) -> dict:
    """Build the versioned JSON record of ``carms bench --family implicit``, with the issue's targets checked."""
    rows = []
    for case in cases:
        row = case._asdict()
        row["meets_ns_target"] = (
            case.ns_sample_derivative <= IMPLICIT_TARGET_NS if case.alpha <= IMPLICIT_TARGET_ALPHA else None
        )
        row["meets_ratio_target"] = case.ratio <= IMPLICIT_TARGET_RATIO
        rows.append(row)
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {
            "family": "implicit",
            "distribution": "gamma",
            "dtype": "float64",
            "targets": {
                "ns_per_draw": IMPLICIT_TARGET_NS,
                "up_to_alpha": IMPLICIT_TARGET_ALPHA,
                "ratio": IMPLICIT_TARGET_RATIO,
            },
            **config,
        },
        "cases": rows,
        "startup": None,
    }
