"""``carms bench``: numba CPU backend against the NumPy backend, the RNG-plus-log bound, start-up.

With ``--backend cuda``, also the numba kernel on the GPU beside them. ``--family implicit`` times
Gamma draws alone against draws with their implicit derivative ∂x/∂α instead; ``--family vae``
times ``carms vae train`` steps and ``carms vae variance`` measurements.
"""

from enum import Enum
from typing import Annotated

import typer

from carms_cli.cli.options import JsonOut, ProblemOptions, Quiet, Threads, problem_options, write_output
from carms_cli.core.errors import InputError

#: The options of --family implicit's parameters (as ``carms implicit`` names them).
OPTION_NAMES = {"alpha": "--alpha", "a": "--a", "b": "--b", "kappa": "--kappa"}

DEFAULT_BENCH_ESTIMATORS = "carms,loorf,reinforce"
DEFAULT_CONTINUOUS_ESTIMATORS = "pathwise,score,mvd"
DEFAULT_VAE_ESTIMATORS = "loorf,carms"
#: The continuous family's bench problem: a 1-D standard setting of the issue's speed target.
CONTINUOUS_OBJECTIVE = "cos:1"


class Family(str, Enum):
    """Which family's kernels are timed."""

    discrete = "discrete"
    continuous = "continuous"
    implicit = "implicit"
    vae = "vae"


class BenchBackend(str, Enum):
    """What is timed beside the NumPy backend and the bound."""

    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


@problem_options("categories", "samples", "dims", "seed", "objective", "max_memory", categories=10, dims=1)
def bench(
    estimators: Annotated[
        str | None,
        typer.Option(
            "--estimators",
            "-e",
            help=f"Comma-separated estimators to time (default: {DEFAULT_BENCH_ESTIMATORS}; continuous: "
            f"{DEFAULT_CONTINUOUS_ESTIMATORS}; vae: {DEFAULT_VAE_ESTIMATORS}).",
        ),
    ] = None,
    family: Annotated[
        Family,
        typer.Option(
            "--family",
            help="discrete (categorical problems), continuous (a Gaussian N(1, 1) per coordinate, objective "
            f"{CONTINUOUS_OBJECTIVE} unless --objective is given) or implicit (Gamma(α, 1) draws alone and with "
            "∂x/∂α, float64, at --alpha) or vae (ms per `vae train` step of the linear 20x10 model, n=4, batch 50, "
            "and seconds per `vae variance` estimator).",
        ),
    ] = Family.discrete,
    problem: ProblemOptions = ProblemOptions(),
    trials: Annotated[
        int, typer.Option("--trials", "-t", help="Trials per numba timing (the bound runs at least as many).")
    ] = 2_000_000,
    numpy_trials: Annotated[
        int | None,
        typer.Option("--numpy-trials", help="Trials per NumPy timing (default: as many as take about 0.5 s)."),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", "-r", help="Alternating repetitions per estimator; rates use medians.")
    ] = 3,
    threads: Threads = None,
    backend: Annotated[
        BenchBackend,
        typer.Option(
            "--backend",
            help="cpu (numba CPU), cuda (also the numba kernel on the GPU; needs carms-cli[cuda] and a GPU) or auto "
            "(the GPU too if usable).",
        ),
    ] = BenchBackend.cpu,
    cuda_trials: Annotated[
        int | None,
        typer.Option("--cuda-trials", help="Trials per GPU timing (default: --trials; a GPU wants more)."),
    ] = None,
    dist: Annotated[
        str | None,
        typer.Option(
            "--dist",
            help="--family implicit: gamma (default), beta, dirichlet or vonmises (their derivative paths, float64).",
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="--family implicit: comma-separated Gamma shapes α (default: 0.01,0.1,1,10,1000); with --dist "
            "dirichlet one vector α₁,…,α_K, several separated by '/' (default 0.5,1,2).",
        ),
    ] = None,
    a: Annotated[
        str | None, typer.Option("--a", help="--dist beta: comma-separated shapes a (default 0.5,2,30).")
    ] = None,
    b: Annotated[
        str | None,
        typer.Option("--b", help="--dist beta: comma-separated shapes b (default 0.5,5,1e4), paired with --a."),
    ] = None,
    kappa: Annotated[
        str | None,
        typer.Option("--kappa", help="--dist vonmises: comma-separated concentrations κ (default 0.1,1,10,100,1000)."),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", help="--family implicit: draws per timing of each kernel.")
    ] = 1_000_000,
    data: Annotated[
        str | None,
        typer.Option("--data", help="--family vae: a .npz of binary images (default: planted data of 784 pixels)."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="--family vae: training steps per timing.")] = 20,
    replicates: Annotated[
        int, typer.Option("--replicates", help="--family vae: estimates per variance timing (vae variance's R).")
    ] = 200,
    variance_batch: Annotated[
        int, typer.Option("--variance-batch", help="--family vae: examples of the variance minibatch.")
    ] = 100,
    no_startup: Annotated[
        bool, typer.Option("--no-startup", help="Skip the cold- and warm-start timings (fresh processes).")
    ] = False,
    json_out: JsonOut = None,
    quiet: Quiet = False,
) -> None:
    """Time the numba CPU backend against the NumPy backend, as a fraction of the RNG-plus-log bound.

    With --backend cuda, also the same kernel on the GPU.

    Example: carms bench --trials 1000000 --repeats 3
    """
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {repeats}")
    if trials < 1:
        raise InputError(f"--trials must be positive, got {trials}")
    if numpy_trials is not None and numpy_trials < 1:
        raise InputError(f"--numpy-trials must be positive, got {numpy_trials}")
    if cuda_trials is not None and cuda_trials < 1:
        raise InputError(f"--cuda-trials must be positive, got {cuda_trials}")
    from carms_cli.analysis.bench import bench_case, bench_continuous_case, bench_record, startup_seconds
    from carms_cli.core.backends import resolve_backend
    from carms_cli.core.engine import set_threads

    parameters = {"alpha": alpha, "a": a, "b": b, "kappa": kappa}
    if family == Family.implicit:
        if estimators is not None:
            raise InputError("--family implicit times a sampler and its implicit derivative; it takes no --estimators")
        _bench_implicit(dist or "gamma", parameters, batch, repeats, threads, backend, problem.seed, json_out, quiet)
        return
    for name, value in {"--dist": dist, **{OPTION_NAMES[k]: v for k, v in parameters.items()}}.items():
        if value is not None:
            raise InputError(f"{name} belongs to --family implicit")
    if family == Family.vae:
        _bench_vae(estimators, data, steps, repeats, replicates, variance_batch, backend, problem.seed, json_out, quiet)
        return
    if data is not None:
        raise InputError("--data belongs to --family vae")
    if family == Family.continuous:
        from carms_cli.continuous.problem import build_problem
        from carms_cli.continuous.registry import parse_estimators as parse_continuous

        if backend != BenchBackend.cpu:
            raise InputError("--family continuous times the CPU kernels only (use --backend cpu)")
        objective = CONTINUOUS_OBJECTIVE if problem.objective == ProblemOptions().objective else problem.objective
        continuous = build_problem(
            "gaussian", {}, "all", objective, problem.samples, problem.dims, trials, problem.seed
        )
        specs = parse_continuous(estimators or DEFAULT_CONTINUOUS_ESTIMATORS, continuous)
        used_threads = set_threads(threads)
        startup = None if no_startup else startup_seconds(("continuous", "-o", objective, "-n", str(problem.samples)))
        cases = [bench_continuous_case(continuous, spec, trials, numpy_trials, repeats, used_threads) for spec in specs]
        record = bench_record(continuous, cases, _timing_config(used_threads, repeats, trials, numpy_trials), startup)
        _show(record, _print_bench, json_out, quiet)
        return
    from carms_cli.discrete.registry import parse_estimators

    budget = problem.budget()
    problem = problem.build(trials)
    specs = parse_estimators(estimators or DEFAULT_BENCH_ESTIMATORS, problem.categories, problem.samples)
    used_backend, backend_note = resolve_backend(backend.value)  # --backend cuda without a GPU: exit 2 here
    gpu_trials = (cuda_trials or trials) if used_backend == "cuda" else None
    used_threads = set_threads(threads)
    _check_bench_memory(problem, specs, used_threads, trials, gpu_trials is not None, budget)
    # start-up first: after the timings below, this process's idle BLAS and numba worker threads
    # still spin for a while and would slow the fresh processes down
    startup = None if no_startup else startup_seconds()
    cases = [bench_case(problem, spec, trials, numpy_trials, repeats, used_threads, gpu_trials) for spec in specs]
    config = _timing_config(used_threads, repeats, trials, numpy_trials, used_backend, backend_note, gpu_trials)
    record = bench_record(problem, cases, config, startup)
    _show(record, _print_bench, json_out, quiet)


def _timing_config(threads: int, repeats: int, trials: int, numpy_trials: int | None, backend: str = "cpu",
                   backend_note: str | None = None, cuda_trials: int | None = None) -> dict:  # fmt: skip
    """Return the resolved timing options a discrete or continuous bench record carries (its ``config``)."""
    return {
        "threads": threads,
        "repeats": repeats,
        "trials": trials,
        "numpy_trials": numpy_trials,
        "backend": backend,
        "backend_note": backend_note,
        "cuda_trials": cuda_trials,
    }


def _show(record: dict, show, json_out: str | None, quiet: bool) -> None:
    """``show(record)`` unless quiet or the record goes to stdout; write ``--json``."""
    if not quiet and json_out != "-":
        show(record)
    if json_out is not None:
        from carms_cli.present.table import plain_json

        write_output(json_out, plain_json(record), "JSON")


def _check_bench_memory(problem, specs, threads: int, trials: int, cuda: bool, budget: int) -> None:
    """Refuse (exit 2) a bench whose largest case would not fit ``budget``, naming the largest K that does."""
    from carms_cli.analysis.bench import bench_bytes
    from carms_cli.core.budget import check_size
    from carms_cli.discrete.plan import objective_table_bytes

    objective = objective_table_bytes(problem.objective)
    count = f"{len(specs)} estimator{'s' if len(specs) > 1 else ''}"
    check_size(
        lambda k: bench_bytes(k, problem.dims, specs, threads, trials, cuda) + objective,
        problem.categories,
        budget,
        f"this bench ({count} at K = {problem.categories:,}, D = {problem.dims:,}, {threads} threads)",
        "K",
        lower=2,
    )


def _bench_implicit(dist, parameters, batch, repeats, threads, backend, seed, json_out, quiet) -> None:
    """``carms bench --family implicit``: time, print and write the record."""
    from carms_cli.analysis.bench import (
        IMPLICIT_ALPHAS,
        IMPLICIT_DEFAULT_PARAMETERS,
        bench_implicit_case,
        implicit_bench_record,
    )
    from carms_cli.analysis.implicit import parse_parameters
    from carms_cli.core.engine import set_threads

    if backend != BenchBackend.cpu:
        raise InputError("--family implicit times the CPU kernels only (use --backend cpu)")
    if batch < 1:
        raise InputError(f"--batch must be positive, got {batch}")
    if dist != "gamma" and dist in IMPLICIT_DEFAULT_PARAMETERS:
        defaults = IMPLICIT_DEFAULT_PARAMETERS[dist]
        given = dict(parameters)
        if dist == "beta":
            given["a"] = defaults[0] if given["a"] is None else given["a"]
            given["b"] = defaults[1] if given["b"] is None else given["b"]
        else:
            name = "alpha" if dist == "dirichlet" else "kappa"
            given[name] = defaults if given[name] is None else given[name]
        _bench_implicit_paths(dist, parse_parameters(dist, given), batch, repeats, threads, seed, json_out, quiet)
        return
    given = any(value is not None for value in parameters.values()) or dist != "gamma"
    alphas = parse_parameters(dist, parameters) if given else list(IMPLICIT_ALPHAS)
    used_threads = set_threads(threads)
    cases = [bench_implicit_case(a, batch, repeats, used_threads, seed) for a in alphas]
    record = implicit_bench_record(cases, {"alphas": alphas, "batch": batch, "repeats": repeats,
                                           "threads": used_threads, "seed": seed})  # fmt: skip
    _show(record, _print_implicit_bench, json_out, quiet)


def _bench_implicit_paths(dist, parameter_sets, batch, repeats, threads, seed, json_out, quiet) -> None:
    """``carms bench --family implicit --dist beta|dirichlet|vonmises``: time, print and write the record."""
    from carms_cli.analysis.bench import bench_implicit_paths, implicit_paths_record
    from carms_cli.core.engine import set_threads

    used_threads = set_threads(threads)
    cases = [case for values in parameter_sets
             for case in bench_implicit_paths(dist, values, batch, repeats, used_threads, seed)]  # fmt: skip
    key = {"beta": "parameters", "dirichlet": "alphas", "vonmises": "kappas"}[dist]
    config = {key: [list(values) if dist != "vonmises" else values for values in parameter_sets],
              "batch": batch, "repeats": repeats, "threads": used_threads, "seed": seed}  # fmt: skip
    record = implicit_paths_record(dist, cases, config)
    _show(record, _print_implicit_paths, json_out, quiet)


def _bench_vae(estimators, data, steps, repeats, replicates, variance_batch, backend, seed, json_out, quiet) -> None:
    """``carms bench --family vae``: time, print and write the record."""
    from carms_cli.analysis.bench_vae import (
        CATEGORIES,
        SAMPLES,
        bench_dataset,
        bench_setup,
        bench_vae,
        vae_bench_record,
    )
    from carms_cli.discrete.registry import get_estimator
    from carms_cli.models.gradients import check_estimators

    if backend != BenchBackend.cpu:
        raise InputError("--family vae times the CPU path only (use --backend cpu)")
    for option, value in (("--steps", steps), ("--variance-batch", variance_batch)):
        if value < 1:
            raise InputError(f"{option} must be positive, got {value}")
    if replicates < 2:
        raise InputError(f"--replicates must be at least 2 (a variance), got {replicates}")
    names = [name.strip() for name in (estimators or DEFAULT_VAE_ESTIMATORS).split(",") if name.strip()]
    if not names:
        raise InputError("--estimators is empty")
    specs = list(dict.fromkeys(get_estimator(name) for name in names))
    check_estimators(specs, CATEGORIES, SAMPLES)
    dataset = bench_dataset(data, seed)
    setup = bench_setup(dataset, seed, variance_batch)
    cases = bench_vae(setup, specs, steps, repeats, replicates, seed)
    config = {"steps": steps, "repeats": repeats, "replicates": replicates,
              "variance_batch": setup.variance_batch, "seed": seed, "threads": 1}  # fmt: skip
    record = vae_bench_record(cases, dataset, config)
    _show(record, _print_vae_bench, json_out, quiet)


def _print_implicit_paths(record: dict) -> None:
    from carms_cli.present.table import print_table

    c = record["config"]
    name = {"beta": "Beta(a, b)", "dirichlet": "Dirichlet(α)", "vonmises": "von Mises(0, κ)"}[c["distribution"]]
    wrt = "∂x/∂κ" if c["distribution"] == "vonmises" else "∂x/∂θ"
    header = [
        f"carms-cli {record['version']} · bench · implicit · {name} draws alone and with {wrt} (float64) · "
        f"{c['threads']} threads · up to {c['batch']:,} draws per timing",
        f"medians of {c['repeats']} alternating repetitions · seed {c['seed']}",
    ]
    columns = ["parameters", "path", "draws", "ns sample", f"ns +{wrt}", f"ns {wrt}", f"{wrt} ÷ sample", "rejections"]
    rows = []
    for case in record["cases"]:
        rows.append(
            [
                ",".join(f"{value:g}" for value in case["parameters"]),
                case["path"],
                f"{case['draws']:,}",
                f"{case['ns_sample']:.1f}",
                f"{case['ns_sample_derivative']:.1f}",
                f"{case['ns_derivative']:.1f}",
                f"{case['ratio']:.2f}x",
                f"{case['rejections_per_draw']:.3f}",
            ]
        )
    vonmises = c["distribution"] == "vonmises"
    notes = {
        "path": "path: the one-signed integrals of ∂x/∂κ"
        if vonmises
        else "path: gamma-ratio (through each Gamma's ∂G/∂α) or cdf (−∂_θF/q of the marginal Beta)",
        "ns sample": "ns: wall nanoseconds per draw on all threads (draws / median seconds)"
        + ("" if vonmises else "; the derivative is the full Jacobian (Dirichlet: K × K) per draw"),
        f"{wrt} ÷ sample": f"{wrt} ÷ sample: (t with {wrt} − t alone)/t alone, median over back-to-back pairs",
        "rejections": "rejections: Best–Fisher rejections per draw"
        if vonmises
        else "rejections: Marsaglia–Tsang rejections per draw (of all K Gammas)",
    }
    if not vonmises:
        notes["draws"] = "draws: per timing, cut to 4,000,000 Jacobian values (draws × K²)"
    print_table(columns, rows, header=header, footer=[], groups=[3, 3, 2], notes=notes)


def _print_vae_bench(record: dict) -> None:
    from carms_cli.present.table import print_table

    c, targets = record["config"], record["config"]["targets"]
    header = [
        f"carms-cli {record['version']} · bench · vae · {c['model']} · BLAS on 1 thread",
        f"data {c['dataset']} · medians of {c['repeats']} alternating repetitions · seed {c['seed']}",
    ]
    columns = ["estimator", "ms/step", "steps/s", "variance s", "R", "batch"]
    rows = [
        [
            case["estimator"],
            f"{case['ms_per_step']:.2f}",
            f"{1000.0 / case['ms_per_step']:.0f}",
            f"{case['variance_seconds_median']:.3f}",
            str(c["replicates"]),
            str(c["variance_batch"]),
        ]
        for case in record["cases"]
    ]
    notes = {
        "ms/step": f"ms/step: one `vae train` step (median of {c['steps']}-step timings), evaluations excluded",
        "variance s": "variance s: one `vae variance` measurement (R estimates on a fixed minibatch, their moments)",
    }
    slow = [case["estimator"] for case in record["cases"] if not case["meets_step_target"]]
    slow_var = [case["estimator"] for case in record["cases"] if not case["meets_variance_target"]]
    footer = [
        f"target ≤ {targets['ms_per_step']:g} ms per step: " + (f"missed by {', '.join(slow)}" if slow else "met"),
        f"target ≤ {targets['variance_seconds']:g} s per variance estimator: "
        + (f"missed by {', '.join(slow_var)}" if slow_var else "met"),
    ]
    print_table(columns, rows, header=header, footer=footer, groups=[1, 2, 3], notes=notes)


def _print_implicit_bench(record: dict) -> None:
    from carms_cli.present.table import print_table

    c, targets = record["config"], record["config"]["targets"]
    header = [
        f"carms-cli {record['version']} · bench · implicit · Gamma(α, 1) draws alone and with ∂x/∂α (float64) · "
        f"{c['threads']} threads · {c['batch']:,} draws per timing",
        f"medians of {c['repeats']} alternating repetitions · seed {c['seed']}",
    ]
    columns = ["α", "ns sample", "ns +∂x/∂α", "ns ∂x/∂α", "∂x/∂α ÷ sample", "rejections", "x = 0"]
    rows = []
    for case in record["cases"]:
        rows.append(
            [
                f"{case['alpha']:g}",
                f"{case['ns_sample']:.1f}",
                f"{case['ns_sample_derivative']:.1f}",
                f"{case['ns_derivative']:.1f}",
                f"{case['ratio']:.2f}x",
                f"{case['rejections_per_draw']:.3f}",
                f"{case['underflows']:,}",
            ]
        )
    notes = {
        "ns sample": "ns: wall nanoseconds per draw on all threads (batch / median seconds)",
        "∂x/∂α ÷ sample": "∂x/∂α ÷ sample: (t with ∂x/∂α − t alone)/t alone, median over back-to-back pairs",
        "rejections": "rejections: Marsaglia–Tsang rejections per draw",
        "x = 0": "x = 0: draws that underflowed (∂x/∂α = 0 there, finite; every derivative is checked finite)",
    }
    timed = [case for case in record["cases"] if case["meets_ns_target"] is not None]
    slow = [f"{case['alpha']:g}" for case in timed if not case["meets_ns_target"]]
    costly = [f"{case['alpha']:g}" for case in record["cases"] if not case["meets_ratio_target"]]
    footer = [
        f"target ≤ {targets['ns_per_draw']:g} ns per draw with ∂x/∂α for α ≤ {targets['up_to_alpha']:g}: "
        + (f"missed at α = {', '.join(slow)}" if slow else "met" if timed else "no such α timed"),
        f"target ∂x/∂α ≤ {targets['ratio']:g}x the sampling: "
        + (f"missed at α = {', '.join(costly)}" if costly else "met"),
    ]
    print_table(columns, rows, header=header, footer=footer, groups=[1, 3, 3], notes=notes)


def _print_bench(record: dict) -> None:
    from carms_cli.present.table import print_table

    c = record["config"]
    gpu = c["cuda_trials"] is not None
    continuous = c["family"] == "continuous"
    stated = (
        f"{c['distribution']} · n={c['samples']} samples · D={c['dims']} coordinates"
        if continuous
        else f"K={c['categories']} categories · n={c['samples']} samples · D={c['dims']} variables"
    )
    header = [
        f"carms-cli {record['version']} · bench · numba (cpu, {c['threads']} threads) vs numpy (1 thread)"
        + (f" · numba on the GPU ({c['backend_note']})" if gpu else ""),
        f"{stated} · objective {c['objective']} · medians of {c['repeats']} alternating repetitions",
    ]
    columns = ["estimator", "uniforms", "trials numba/numpy", "numba M/s", "numpy M/s", "ratio", "bound M/s"]
    columns += ["numba/bound", "numpy/bound"]
    if continuous:
        columns += ["evals", "M evals/s"]
    if gpu:
        columns += ["cuda trials", "cuda M/s", "cuda/numba"]
    rows = []
    for case in record["cases"]:
        rate, fraction, count = case["trials_per_second"], case["fraction_of_bound"], case["trials"]
        rows.append(
            [
                case["estimator"],
                str(case["uniforms_per_trial"]),
                f"{count['numba']:,}/{count['numpy']:,}",
                f"{rate['numba'] / 1e6:.3g}",
                f"{rate['numpy'] / 1e6:.3g}",
                f"{case['ratio']:.3g}x",
                f"{case['bound_trials_per_second'] / 1e6:.3g}",
                f"{100 * fraction['numba']:.0f}%",
                f"{100 * fraction['numpy']:.1f}%",
            ]
        )
        if continuous:
            evaluations = case["evaluations_per_trial"]
            rows[-1] += [str(evaluations), f"{rate['numba'] * evaluations / 1e6:.3g}"]
        if gpu:
            rows[-1] += [f"{count['cuda']:,}", f"{rate['cuda'] / 1e6:.3g}", f"{case['cuda_ratio']:.3g}x"]
    rate = "M/s: million trials per second (trials / median seconds)"
    notes = {
        "uniforms": "uniforms: drawn per trial",
        "numba M/s": rate,
        "numpy M/s": rate,
        "ratio": "ratio: numba ÷ numpy",
        "bound M/s": "bound: same RNG and threads, only drawing the uniforms and summing their logs",
        "evals": "evals: calls of f or f′ per trial",
        "M evals/s": "M evals/s: numba rate × evals (compares estimators per evaluation)",
        "cuda M/s": "cuda: the kernel on the GPU (a thread per 256-trial chunk), copies timed, not compiling",
        "cuda/numba": "cuda/numba: GPU rate ÷ CPU rate",
    }
    footer = []
    if not gpu and c.get("backend_note"):
        footer.append(f"GPU not timed: {c['backend_note']}")
    startup = record["startup"]
    if startup is not None:
        footer.append(
            f"start-up of '{startup['command']}' in fresh processes, output captured: cold (empty numba "
            f"cache) {startup['cold_seconds']:.2f} s, warm (cache populated) {startup['warm_seconds']:.2f} s "
            f"(median of {len(startup['warm_runs_seconds'])})"
        )
    groups = [2, 3, 3] + ([2] if continuous else []) + ([3] if gpu else [])
    print_table(columns, rows, header=header, footer=footer, groups=groups, notes=notes)
