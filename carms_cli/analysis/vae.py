"""``carms vae train`` and ``carms vae variance``: discrete VAEs and their estimators, as frozen records.

For every seed, every estimator starts from the same parameters and sees the same minibatches
(:mod:`carms_cli.models.training`); every ``eval_every`` steps and at the end a checkpoint row
records train and test −ELBO and −k-sample bound, means over ``eval_examples`` examples
of each once-binarised set (a seeded subset every run shares: split files may be ordered), and,
at frozen parameters on a fixed minibatch, the logit- and encoder-parameter-gradient variance of
R independent estimates and their ratios to LOORF's. The run named ``exact`` steps along the
exact minibatch ELBO gradient (enumeration, C^D ≤ 4096): the reference curve. ``carms vae
variance`` freezes the parameters after a LOORF warm-up, or those a train checkpoint saved.
"""

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from carms_cli import __version__
from carms_cli.core.blas import single_thread
from carms_cli.core.errors import InputError
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import checkpoint, network, training
from carms_cli.models.data import Dataset, static

SCHEMA = "carms-cli/vae-train/1"


@dataclass(frozen=True)
class VaeConfig:
    """The options of a ``carms vae train`` run."""

    data: str
    dims: int
    categories: int
    binary: bool
    arch: str
    hidden: int
    samples: int
    estimators: tuple[str, ...]
    steps: int
    batch: int
    lr: float
    prior_lr: float
    binarisation: str
    eval_every: int
    eval_k: int
    eval_examples: int
    variance_replicates: int
    variance_batch: int
    seeds: tuple[int, ...]
    structured: bool = False

    def to_dict(self) -> dict:
        """Return the options as JSON values (tuples as lists), as checkpoints store them."""
        return json.loads(json.dumps(asdict(self)))


@dataclass(frozen=True)
class VaeRun:
    """One (seed, estimator) run: its checkpoint rows and its training speed."""

    seed: int
    estimator: str
    samples: int
    evaluations_per_step: int
    ms_per_step: float | None
    checkpoints: tuple[dict, ...]

    @property
    def last(self) -> dict:
        """The final checkpoint row."""
        return self.checkpoints[-1]


@dataclass(frozen=True)
class VaeSummary:
    """One estimator's final checkpoint, mean (and sd when there are several seeds) over the seeds."""

    estimator: str
    samples: int
    evaluations_per_step: int
    seeds: int
    values: dict  # field → (mean, sd or None)
    ms_per_step: float | None


@dataclass(frozen=True)
class VaeRecord:
    """The record of one ``carms vae train`` run."""

    config: VaeConfig
    dataset: str
    model: str
    runs: tuple[VaeRun, ...]
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        """Return the ``carms-cli/vae-train/1`` JSON layout."""
        return {
            "schema": self.schema,
            "version": __version__,
            "config": self.config.to_dict(),
            "dataset": self.dataset,
            "model": self.model,
            "runs": [
                {
                    "seed": r.seed,
                    "estimator": r.estimator,
                    "samples": r.samples,
                    "evaluations_per_step": r.evaluations_per_step,
                    "ms_per_step": r.ms_per_step,
                    "checkpoints": list(r.checkpoints),
                }
                for r in self.runs
            ],
            "summary": [
                {
                    "estimator": s.estimator,
                    "samples": s.samples,
                    "seeds": s.seeds,
                    "evaluations_per_step": s.evaluations_per_step,
                    "ms_per_step": s.ms_per_step,
                    **{key: {"mean": mean, "sd": sd} for key, (mean, sd) in s.values.items()},
                }
                for s in self.summaries()
            ],
        }

    def summaries(self) -> tuple[VaeSummary, ...]:
        """One summary per estimator, in the order given."""
        out = []
        for name in self.config.estimators:
            runs = [r for r in self.runs if r.estimator == name]
            if not runs:
                continue
            values = {}
            for key in SUMMARY_FIELDS:
                xs = [r.last[key] for r in runs if r.last[key] is not None]
                mean = sum(xs) / len(xs) if xs else None
                sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else None
                values[key] = (mean, sd)
            speeds = [r.ms_per_step for r in runs if r.ms_per_step is not None]
            out.append(
                VaeSummary(
                    name,
                    runs[0].samples,
                    runs[0].evaluations_per_step,
                    len(runs),
                    values,
                    sum(speeds) / len(speeds) if speeds else None,
                )
            )
        return tuple(out)


SUMMARY_FIELDS = (
    "train_neg_elbo",
    "test_neg_elbo",
    "train_neg_bound",
    "test_neg_bound",
    "log10_variance",
    "variance_ratio_to_loorf",
    "encoder_param_log10_variance",
    "encoder_param_variance_ratio_to_loorf",
)


def subset(x: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of x drawn without replacement, in their order (all of x when it has no more)."""
    if count >= x.shape[0]:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=count, replace=False))]


def make_setup(config: VaeConfig, dataset: Dataset) -> training.Setup:
    """Build the shared training setup: architecture, data (binarised once for evaluation), optimiser."""
    latent = network.Latent(config.dims, config.categories, config.binary)
    data = static(dataset, config.seeds[0]) if config.binarisation == "static" else dataset
    evaluation = static(dataset, config.seeds[0])
    rng = np.random.default_rng([config.seeds[0], 4])
    return training.Setup(
        arch=network.architecture(config.arch, dataset.pixels, latent, config.hidden, config.structured),
        data=data,
        evaluation=evaluation,
        train_mean=dataset.train.mean(axis=0),
        samples=config.samples,
        batch=config.batch,
        lr=config.lr,
        prior_lr=config.prior_lr,
        dynamic=config.binarisation == "dynamic",
        eval_k=config.eval_k,
        eval_train=subset(evaluation.train, config.eval_examples, rng),
        eval_test=subset(evaluation.test, config.eval_examples, rng),
        variance_replicates=config.variance_replicates,
        variance_batch=config.variance_batch,
    )


def run_samples(config: VaeConfig, name: str) -> int:
    """Return the f evaluations per example and step: n, or all C^D configurations for the exact reference."""
    return config.categories**config.dims if name == training.EXACT else config.samples


def _finish(config: VaeConfig, seed: int, name: str, state: training.RunState) -> dict:
    from carms_cli.models.gradients_joint import evaluations_per_step

    ms = 1000.0 * state.seconds / state.timed_steps if state.timed_steps else None
    categories = 2 if config.binary else config.categories
    return {
        "seed": seed,
        "estimator": name,
        "samples": run_samples(config, name),
        "evaluations_per_step": (
            run_samples(config, name) * config.batch
            if name == training.EXACT
            else evaluations_per_step(get_estimator(name), categories, config.samples, config.batch)
        ),
        "ms_per_step": ms,
        "checkpoints": state.checkpoints,
    }


def vae_record(
    config: VaeConfig,
    dataset: Dataset,
    checkpoint_path: str | None = None,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VaeRecord:
    """Train every (seed, estimator) run and return the record.

    With ``checkpoint_path`` the state is saved atomically at every checkpoint row; ``resume``
    continues from the saved state (which must come from the same options). ``progress(done)``
    is called after each training step with the steps done over all runs.
    """
    setup = make_setup(config, dataset)
    plan = [(seed, name) for seed in config.seeds for name in config.estimators]
    meta = config.to_dict()
    finished: list[dict] = []
    current, state = 0, None
    if resume and checkpoint_path is not None:
        finished, current, state = checkpoint.load(checkpoint_path, meta)
    with single_thread():
        for index in range(current, len(plan)):
            seed, name = plan[index]
            spec = training.estimator(name)
            if state is None:
                state = training.start(setup, seed)
            label = {"seed": seed, "estimator": name, "pixels": dataset.pixels}
            while state.step < config.steps:
                started = time.perf_counter()
                training.train_step(setup, spec, seed, state)
                state.seconds += time.perf_counter() - started
                state.timed_steps += 1
                if progress is not None:
                    progress(index * config.steps + state.step)
                if state.step % config.eval_every == 0 or state.step == config.steps:
                    state.checkpoints.append(training.evaluate(setup, spec, seed, state))
                    if checkpoint_path is not None:
                        label["step"] = state.step
                        checkpoint.save(checkpoint_path, meta, finished, index, state, label)
            finished.append(_finish(config, seed, name, state))
            if checkpoint_path is not None:
                label["step"] = state.step
                checkpoint.save(checkpoint_path, meta, finished, index + 1, None, label, final=state.params)
            state = None
    runs = tuple(VaeRun(**{**r, "checkpoints": tuple(r["checkpoints"])}) for r in finished)
    return VaeRecord(config, dataset.describe(), _describe(setup.arch), runs)


VARIANCE_SCHEMA = "carms-cli/vae-variance/1"
#: Minibatch size of the LOORF warm-up steps before the parameters are frozen.
WARMUP_BATCH = 50


@dataclass(frozen=True)
class VaeVarianceConfig:
    """The options of a ``carms vae variance`` run."""

    data: str
    dims: int
    categories: int
    binary: bool
    arch: str
    hidden: int
    samples: tuple[int, ...]
    estimators: tuple[str, ...]
    replicates: int
    batch: int
    warmup_steps: int
    lr: float
    significance: float
    seed: int
    structured: bool = False
    #: parameters from ``carms vae train --checkpoint PATH`` instead of a warm-up
    checkpoint: str | None = None


@dataclass(frozen=True)
class VaeVarianceRecord:
    """The record of one ``carms vae variance`` run."""

    config: VaeVarianceConfig
    dataset: str
    model: str
    rows: tuple
    schema: str = VARIANCE_SCHEMA
    #: whose parameters a ``--checkpoint`` held: ``seed``, ``estimator``, ``step`` (None after a warm-up)
    parameters: dict | None = None

    def to_dict(self) -> dict:
        """Return the ``carms-cli/vae-variance/1`` JSON layout."""
        return {
            "schema": self.schema,
            "version": __version__,
            "config": json.loads(json.dumps(asdict(self.config))),
            "dataset": self.dataset,
            "model": self.model,
            "parameters": self.parameters,
            "results": [asdict(row) for row in self.rows],
        }


def _describe(arch) -> str:
    task = (
        f"structured prediction (upper {arch.inputs} → lower {arch.pixels - arch.inputs} px) · "
        if arch.structured
        else ""
    )
    return (
        f"{task}{arch.latent.describe()} latent · {arch.name} "
        f"({'-'.join(map(str, arch.encoder_sizes))} / {'-'.join(map(str, arch.decoder_sizes))})"
    )


def vae_variance_record(
    config: VaeVarianceConfig, dataset: Dataset, saved: checkpoint.Saved | None = None
) -> VaeVarianceRecord:
    """Freeze the seed's parameters (after ``warmup_steps`` LOORF steps) and a minibatch; run the study.

    ``saved``: freeze the parameters a ``carms vae train`` checkpoint holds instead (``config``
    then carries its model options; ``dataset`` is its data).
    """
    from carms_cli.models.variance import Frozen, study

    train = VaeConfig(
        data=config.data,
        dims=config.dims,
        categories=config.categories,
        binary=config.binary,
        arch=config.arch,
        hidden=config.hidden,
        samples=min(config.samples),
        estimators=("loorf",),
        steps=config.warmup_steps,
        batch=WARMUP_BATCH,
        lr=config.lr,
        prior_lr=10 * config.lr,
        binarisation="dynamic",
        eval_every=1,
        eval_k=1,
        eval_examples=1,
        variance_replicates=2,
        variance_batch=config.batch,
        seeds=(config.seed,),
        structured=config.structured,
    )
    setup = make_setup(train, dataset)
    with single_thread():
        state = training.start(setup, config.seed)
        if saved is not None:
            shapes = {name: value.shape for name, value in state.params.items()}
            if {name: value.shape for name, value in saved.params.items()} != shapes:
                raise InputError(f"--checkpoint: '{config.checkpoint}' holds parameters of another architecture")
            state.params = saved.params
        loorf = get_estimator("loorf")
        while state.step < config.warmup_steps:
            training.train_step(setup, loorf, config.seed, state)
        frozen = Frozen(setup.arch, state.params, training.variance_batch(setup, config.seed), setup.train_mean)
        specs = [get_estimator(name) for name in config.estimators]
        rows = study(frozen, specs, list(config.samples), config.replicates, config.seed, config.significance)
    parameters = None if saved is None else {"seed": saved.seed, "estimator": saved.estimator, "step": saved.step}
    return VaeVarianceRecord(config, dataset.describe(), _describe(setup.arch), tuple(rows), parameters=parameters)
