"""``carms bench --family vae``: milliseconds per ``carms vae train`` step and seconds per ``vae variance`` estimator.

The issue's setup: the CARMS paper's linear model (D = 20 categorical variables of C = 10
categories, n = 4 samples per example, minibatches of 50, 784 pixels), on planted data of 784
pixels (:func:`carms_cli.models.data.planted`, no files needed) or a ``.npz`` of that layout.
Per estimator, alternating with the others, each repetition times ``steps`` consecutive training
steps of one run (minibatch, encoder, estimator, decoder, backward pass, Adam: what ``vae
train``'s ``ms/step`` times) and one variance measurement at frozen parameters: ``R`` estimates
on a fixed minibatch of ``batch`` examples and their moments (what ``vae variance`` does per
estimator and n). BLAS runs on one thread, as in the ``vae`` commands; kernels are compiled (or
loaded) before any timing. Medians are reported, every repetition is kept.
"""

import statistics
import time
from typing import NamedTuple

from carms_cli import __version__
from carms_cli.analysis.bench import SCHEMA
from carms_cli.core.blas import single_thread
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.models import training
from carms_cli.models.data import PLANTED_SIZES, Dataset, planted

#: The issue's model and targets.
DIMS, CATEGORIES, SAMPLES, BATCH, PIXELS = 20, 10, 4, 50, 784
TARGET_MS_PER_STEP = 2.0
TARGET_VARIANCE_SECONDS = 1.0
#: Defaults of the variance timing (``vae variance --replicates 200 --batch 100``).
VARIANCE_REPLICATES = 200
VARIANCE_BATCH = 100


class VaeBenchCase(NamedTuple):
    """One estimator's timings: every repetition's seconds and the medians."""

    estimator: str
    steps: int
    step_seconds: list[float]  # seconds of ``steps`` training steps, one entry per repetition
    ms_per_step: float
    variance_seconds: list[float]  # seconds of one variance measurement, one entry per repetition
    variance_seconds_median: float
    meets_step_target: bool
    meets_variance_target: bool


def bench_dataset(path: str | None, seed: int) -> Dataset:
    """Load the ``.npz`` at ``path``, or plant data of 784 pixels from the 20×10 generative model."""
    if path is not None:
        from carms_cli.models.data import load_npz

        return load_npz(path)
    return planted(DIMS, CATEGORIES, PIXELS, PLANTED_SIZES, seed)


def bench_setup(dataset: Dataset, seed: int, variance_batch: int) -> training.Setup:
    """``vae train``'s defaults at the issue's model: linear, 20×10, n = 4, batch 50, dynamic binarisation."""
    from carms_cli.analysis.vae import VaeConfig, make_setup

    config = VaeConfig(
        data="bench", dims=DIMS, categories=CATEGORIES, binary=False, arch="linear", hidden=200, samples=SAMPLES,
        estimators=(), steps=0, batch=BATCH, lr=1e-3, prior_lr=1e-2, binarisation="dynamic", eval_every=1,
        eval_k=1, eval_examples=1, variance_replicates=2, variance_batch=variance_batch, seeds=(seed,),
    )  # fmt: skip
    return make_setup(config, dataset)


def _step_timer(setup: training.Setup, spec: EstimatorSpec, seed: int, steps: int):
    """Return ``seconds()``: ``steps`` more training steps of one run of ``spec`` (one warm-up step first)."""
    state = training.start(setup, seed)
    training.train_step(setup, spec, seed, state)

    def seconds() -> float:
        started = time.perf_counter()
        for _ in range(steps):
            training.train_step(setup, spec, seed, state)
        return time.perf_counter() - started

    return seconds


def _variance_timer(setup: training.Setup, spec: EstimatorSpec, seed: int, replicates: int):
    """Return ``seconds()``: R estimates at the initial parameters on the variance minibatch, and their moments."""
    from carms_cli.models.variance import Frozen, moments

    frozen = Frozen(setup.arch, training.start(setup, seed).params, training.variance_batch(setup, seed),
                    setup.train_mean)  # fmt: skip
    frozen.estimates(spec, SAMPLES, 2, seed)  # compile or load, outside the timing

    def seconds() -> float:
        started = time.perf_counter()
        moments(frozen.estimates(spec, SAMPLES, replicates, seed))
        return time.perf_counter() - started

    return seconds


def bench_vae(
    setup: training.Setup, specs: list[EstimatorSpec], steps: int, repeats: int, replicates: int, seed: int
) -> list[VaeBenchCase]:
    """Time every estimator's training steps and variance measurement, alternating, ``repeats`` times."""
    with single_thread():
        timers = {spec.name: (_step_timer(setup, spec, seed, steps), _variance_timer(setup, spec, seed, replicates))
                  for spec in specs}  # fmt: skip
        step_seconds: dict[str, list[float]] = {name: [] for name in timers}
        variance_seconds: dict[str, list[float]] = {name: [] for name in timers}
        for _ in range(repeats):
            for name, (step, variance) in timers.items():
                step_seconds[name].append(step())
                variance_seconds[name].append(variance())
    cases = []
    for name in timers:
        ms = 1000.0 * statistics.median(step_seconds[name]) / steps
        var_s = statistics.median(variance_seconds[name])
        cases.append(
            VaeBenchCase(
                estimator=name,
                steps=steps,
                step_seconds=step_seconds[name],
                ms_per_step=ms,
                variance_seconds=variance_seconds[name],
                variance_seconds_median=var_s,
                meets_step_target=ms <= TARGET_MS_PER_STEP,
                meets_variance_target=var_s <= TARGET_VARIANCE_SECONDS,
            )
        )
    return cases


def vae_bench_record(cases: list[VaeBenchCase], dataset: Dataset, config: dict) -> dict:
    """Build the versioned JSON record of ``carms bench --family vae`` with the issue's targets."""
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {
            "family": "vae",
            "model": f"linear {DIMS}x{CATEGORIES} categorical, n={SAMPLES}, batch {BATCH}",
            "dataset": dataset.describe(),
            "pixels": dataset.pixels,
            "targets": {"ms_per_step": TARGET_MS_PER_STEP, "variance_seconds": TARGET_VARIANCE_SECONDS},
            **config,
        },
        "cases": [case._asdict() for case in cases],
        "startup": None,
    }
