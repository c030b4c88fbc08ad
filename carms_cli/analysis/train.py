"""The ARMS toy's optimisation trajectory (spec 14.1): gradient ascent on φ with each estimator.

One binary variable, p = sigmoid(φ) = P(z = 1), objective f (default ``(z − 0.49)²``). At every
step and for every (n, estimator): draw ``replicates`` independent n-sample estimates at the
current φ, record their mean and variance (and the exact variance, where enumerable), then step
``φ ← φ + lr · mean``. A trajectory stops when p reaches ``target`` or after ``steps`` steps.
The exact gradient is ``p(1 − p)(f(1) − f(0))``; with the default objective ``0.02 p(1 − p)``,
so the paper's run (p from 0.0909 to 0.9, lr = 1) takes about 1,390 steps.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.exact.moments import NotComputable, exact_moments
from carms_cli.discrete.objectives import build_objective
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import applicable
from carms_cli.discrete.source import run_plan


@dataclass
class Trajectory:
    """One (n, estimator) run; lists have one entry per step taken."""

    samples: int
    estimator: str
    p: list[float] = field(default_factory=list)
    phi: list[float] = field(default_factory=list)
    mean_gradient: list[float] = field(default_factory=list)
    variance: list[float] = field(default_factory=list)
    variance_exact: list[float | None] = field(default_factory=list)
    exact_gradient: list[float] = field(default_factory=list)


def sigmoid(phi: float) -> float:
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
    trajectory = Trajectory(samples, spec.name)
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
        trajectory.p.append(p)
        trajectory.phi.append(phi)
        trajectory.mean_gradient.append(mean)
        trajectory.variance.append(float(raw.m2[0, 1] / max(replicates - 1, 1)))
        trajectory.variance_exact.append(exact)
        trajectory.exact_gradient.append(float(problem.exact_gradient()[0, 1]))
        phi += lr * mean
    return trajectory


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
