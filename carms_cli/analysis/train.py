"""The ARMS toy's optimisation trajectory (spec 14.1): gradient ascent on φ with each estimator.

One binary variable, p = sigmoid(φ) = P(z = 1), objective f (default ``(z − 0.49)²``). At every
step and for every (n, estimator): draw ``replicates`` independent n-sample estimates at the
current φ, record their mean and variance (and the exact variance, where enumerable), then step
``φ ← φ + lr · mean``. A trajectory stops when p reaches ``target`` or after ``steps`` steps.
The exact gradient is ``p(1 − p)(f(1) − f(0))``; with the default objective ``0.02 p(1 − p)``,
so the paper's run (p from 0.0909 to 0.9, lr = 1) takes about 1,390 steps.

:func:`train_record` runs every trajectory and returns a frozen :class:`TrainRecord`;
:meth:`TrainRecord.to_dict` is the ``carms-cli/train/1`` JSON layout and
:meth:`TrainRecord.summaries` the per-trajectory figures of ``carms train``'s table.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.exact.moments import NotComputable, exact_moments
from carms_cli.discrete.objectives import build_objective
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import applicable
from carms_cli.discrete.source import run_plan

SCHEMA = "carms-cli/train/1"
#: The estimator the table's variance ratios are relative to.
TRAIN_REFERENCE = "loorf"


@dataclass(frozen=True)
class Trajectory:
    """One (n, estimator) run; the tuples have one entry per step taken."""

    samples: int
    estimator: str
    p: tuple[float, ...] = ()
    phi: tuple[float, ...] = ()
    mean_gradient: tuple[float, ...] = ()
    variance: tuple[float, ...] = ()
    #: None at a step where the variance cannot be enumerated
    variance_exact: tuple[float | None, ...] = ()
    exact_gradient: tuple[float, ...] = ()


def sigmoid(phi: float) -> float:
    """Return 1 / (1 + exp(−φ)), P(z = 1)."""
    return 1.0 / (1.0 + math.exp(-phi))


def run_trajectory(
    spec: EstimatorSpec,
    samples: int,
    *,
    p_init: float,
    objective: str,
    lr: float,
    steps: int,
    target: float,
    replicates: int,
    seed: int,
    threads: int,
    backend: str = "cpu",
) -> Trajectory:
    """Gradient ascent on φ from ``logit(p_init)`` with ``spec`` at ``samples`` evaluations."""
    reason = applicable(spec, 2, samples)
    if reason:
        raise InputError(reason)
    tables = build_objective(objective, 1, 2, seed)
    names = ("p", "phi", "mean_gradient", "variance", "variance_exact", "exact_gradient")
    columns: dict[str, list] = {name: [] for name in names}
    phi = math.log(p_init / (1.0 - p_init))
    for step in range(steps):
        p = sigmoid(phi)
        if p >= target or not 0.0 < p < 1.0:
            break
        problem = Problem(
            categories=2,
            samples=samples,
            dims=1,
            probs=np.array([[1.0 - p, p]]),
            probs_source=f"sigmoid(phi) at step {step}",
            objective=tables,
            trials=replicates,
            seed=(seed * 1_000_003 + step) % (2**63),
        )
        raw = run_plan(build_plan(problem, spec), replicates, threads, backend=backend)
        mean = float(raw.mean[0, 1])
        try:
            exact = float(exact_moments(problem, spec).variance[0, 1])
        except NotComputable:
            exact = None
        columns["p"].append(p)
        columns["phi"].append(phi)
        columns["mean_gradient"].append(mean)
        columns["variance"].append(float(raw.m2[0, 1] / max(replicates - 1, 1)))
        columns["variance_exact"].append(exact)
        columns["exact_gradient"].append(float(problem.exact_gradient()[0, 1]))
        phi += lr * mean
    return Trajectory(samples, spec.name, **{name: tuple(values) for name, values in columns.items()})


def train(
    specs: list[EstimatorSpec],
    sample_sizes: list[int],
    progress=None,
    **options,
) -> list[Trajectory]:
    """Every (n, estimator) trajectory; ``progress(done, total)`` after each one."""
    runs = [(n, spec) for n in sample_sizes for spec in specs]
    out = []
    for index, (n, spec) in enumerate(runs):
        out.append(run_trajectory(spec, n, **options))
        if progress is not None:
            progress(index + 1, len(runs))
    return out


def geometric_mean(values) -> float | None:
    """Geometric mean of the positive values (None and non-positive ones skipped); None if none."""
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


@dataclass(frozen=True)
class TrainConfig:
    """The options of a ``carms train`` run (``threads`` and ``backend`` as resolved)."""

    samples: tuple[int, ...]
    estimators: tuple[str, ...]
    p_init: float
    target: float
    lr: float
    steps: int
    replicates: int
    objective: str
    seed: int
    threads: int
    backend: str


@dataclass(frozen=True)
class TrajectorySummary:
    """One trajectory in a line: steps taken, final p, and geometric means over its steps."""

    samples: int
    estimator: str
    steps: int
    final_p: float | None
    #: geometric mean over the steps of the variance across replicates
    variance: float | None
    #: the same for the enumerated variance
    variance_exact: float | None
    #: ``variance`` ÷ that of :data:`TRAIN_REFERENCE` at the same n (None without it)
    variance_ratio_to_loorf: float | None


@dataclass(frozen=True)
class TrainRecord:
    """The record of one ``carms train`` run: one trajectory per (n, estimator), n outermost."""

    config: TrainConfig
    trajectories: tuple[Trajectory, ...]
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        """Return the ``carms-cli/train/1`` JSON layout (``plain_json`` writes it)."""
        return {
            "schema": self.schema,
            "config": asdict(self.config),
            "trajectories": [
                {
                    "samples": t.samples,
                    "estimator": t.estimator,
                    "steps": len(t.p),
                    "p": t.p,
                    "phi": t.phi,
                    "mean_gradient": t.mean_gradient,
                    "exact_gradient": t.exact_gradient,
                    "variance": t.variance,
                    "variance_exact": t.variance_exact,
                }
                for t in self.trajectories
            ],
        }

    def summaries(self) -> tuple[TrajectorySummary, ...]:
        """Return one :class:`TrajectorySummary` per trajectory, in order."""
        reference = {t.samples: geometric_mean(t.variance) for t in self.trajectories if t.estimator == TRAIN_REFERENCE}
        out = []
        for t in self.trajectories:
            geo = geometric_mean(t.variance)
            out.append(
                TrajectorySummary(
                    samples=t.samples,
                    estimator=t.estimator,
                    steps=len(t.p),
                    final_p=t.p[-1] if t.p else None,
                    variance=geo,
                    variance_exact=geometric_mean(t.variance_exact),
                    variance_ratio_to_loorf=geo / reference[t.samples] if reference.get(t.samples) and geo else None,
                )
            )
        return tuple(out)


def train_record(
    specs: list[EstimatorSpec],
    sample_sizes: list[int],
    *,
    p_init: float,
    objective: str,
    lr: float,
    steps: int,
    target: float,
    replicates: int,
    seed: int,
    threads: int,
    backend: str = "cpu",
    progress=None,
) -> TrainRecord:
    """Run every (n, estimator) trajectory (:func:`train`) and return the run's record.

    Parameters
    ----------
    specs : list of EstimatorSpec
        Binary-capable estimators.
    sample_sizes : list of int
        The n of each panel.
    p_init, objective, lr, steps, target, replicates, seed
        As in :func:`run_trajectory`.
    threads : int
        CPU threads, as set (recorded; results do not depend on it).
    backend : str
        A resolved backend (``cpu``, ``cuda`` or ``numpy``).
    progress : callable, optional
        ``progress(done, total)`` after each trajectory.

    Returns
    -------
    TrainRecord
    """
    options = dict(p_init=p_init, objective=objective, lr=lr, steps=steps, target=target, replicates=replicates)
    trajectories = train(specs, sample_sizes, progress, **options, seed=seed, threads=threads, backend=backend)
    config = TrainConfig(
        samples=tuple(sample_sizes),
        estimators=tuple(spec.name for spec in specs),
        p_init=p_init,
        target=target,
        lr=lr,
        steps=steps,
        replicates=replicates,
        objective=objective,
        seed=seed,
        threads=threads,
        backend=backend,
    )
    return TrainRecord(config=config, trajectories=tuple(trajectories))
