"""Encoder-logit gradients from the discrete family's registered estimators.

A minibatch of B examples with D latent variables each is one discrete problem with B·D
independent variables: variable ``v = b·D + d`` has probabilities ``q(z_d | x_b)``. Its plan
(:func:`carms_cli.discrete.plan.build_plan`: orders, thresholds, exact importance ratios) and the
NumPy backend's samplers and coefficient formulas
(:mod:`carms_cli.discrete.kernels.numpy_backend`) are reused unchanged; only f differs: the
value of sample i for variable v is ``f_b(z_i)``, the per-example objective of example b at its
D sampled variables. Then ``g_v = Σ_i c_{i,v} (e_{z_{i,v}} − p_v)`` as in the discrete family.
:func:`logit_gradients` runs the same computation compiled over all B·D variables at once
(:mod:`carms_cli.models.batched`), bit for bit; :func:`reference_logit_gradients`, the plan and
NumPy backend variable by variable, is its reference and the fallback for what it does not run.

The estimators whose estimate is per-variable coefficients (REINFORCE, LOORF, the CARMS family,
ARM, DisARM, ARMS) run here; UNORD, ARSM and the Gumbel relaxations, whose estimate is not, run
per example on its D variables (:mod:`carms_cli.models.gradients_joint`).
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.core.rng import stream_key
from carms_cli.discrete.dispatch import branch
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.kernels import numpy_backend
from carms_cli.discrete.objectives import Objective
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import applicable
from carms_cli.discrete.sampling.samplers import Construction
from carms_cli.models import batched

#: Weightings whose estimate is per-variable coefficients on independent variables.
PER_VARIABLE = (Weighting.SCORE, Weighting.LEAVE_ONE_OUT, Weighting.IMPORTANCE, Weighting.ARM, Weighting.DISARM)


def refusal(spec: EstimatorSpec, categories: int, samples: int, dims: int = 1) -> str | None:
    """Why ``spec`` cannot give encoder gradients at C categories, n samples and D variables, or None."""
    from carms_cli.models import gradients_joint

    if spec.weighting in gradients_joint.JOINT:
        return gradients_joint.refusal(spec, categories, samples, dims)
    if spec.weighting not in PER_VARIABLE:
        return f"estimator '{spec.name}' does not run on models: no model form of its weighting"
    if spec.ratio != "exact":
        return f"estimator '{spec.name}' does not run on models: its importance ratio is not exact"
    return applicable(spec, categories, samples, 1)


def check_estimators(specs: list[EstimatorSpec], categories: int, samples: int, dims: int = 1) -> None:
    """Raise InputError naming the first estimator that cannot give encoder gradients."""
    for spec in specs:
        reason = refusal(spec, categories, samples, dims)
        if reason:
            raise InputError(reason)


def step_seed(seed: int, step: int) -> int:
    """Return the estimator stream's seed at training step ``step`` (a pure function of the two)."""
    return stream_key(seed, step) >> 1


class Estimates(NamedTuple):
    """R independent estimates on one minibatch."""

    g: np.ndarray  # (R, B, D, C) estimates of ∇_l Σ_b E_q[f_b] per example
    z: np.ndarray  # (R, n, B, D) the samples
    f: np.ndarray  # (R, n, B) their objective values
    #: (R, n, B) the decoder's weights of the samples (UNORD's unordered-set weights); None: 1/n
    weights: np.ndarray | None = None


def logit_gradients(
    spec: EstimatorSpec,
    probs: np.ndarray,
    objective: Callable[[np.ndarray], np.ndarray],
    samples: int,
    seed: int,
    replicates: int = 1,
) -> Estimates:
    """``replicates`` independent n-sample estimates of each example's ``∇_l E_{q(z|x_b)}[f_b(z)]``.

    ``probs`` (B, D, C) are the encoder's probabilities; ``objective(z)`` maps samples z (S, B, D)
    to f (S, B). Replicate r is trial r of the discrete problem seeded ``seed``, so the same seed
    draws the same samples whatever else runs. UNORD, ARSM and the Gumbel relaxations run per
    example (:func:`carms_cli.models.gradients_joint.joint_gradients`; ARSM's z and f hold its
    swap configurations, the relaxations need ``objective.relaxed``). The compiled path
    (:func:`carms_cli.models.batched.estimate`) gives the numbers of
    :func:`reference_logit_gradients` for every per-variable estimator it supports; the others,
    and refusals, go through the reference.
    """
    from carms_cli.models import gradients_joint

    if spec.weighting in gradients_joint.JOINT:
        return Estimates(*gradients_joint.joint_gradients(spec, probs, objective, samples, seed, replicates))
    b, d_count, c = probs.shape
    if batched.supported(spec, c, samples, b * d_count):
        result = batched.estimate(spec, probs, objective, samples, seed, replicates)
        if result is not None:
            return Estimates(*result)
    return reference_logit_gradients(spec, probs, objective, samples, seed, replicates)


def reference_logit_gradients(
    spec: EstimatorSpec,
    probs: np.ndarray,
    objective: Callable[[np.ndarray], np.ndarray],
    samples: int,
    seed: int,
    replicates: int = 1,
) -> Estimates:
    """:func:`logit_gradients` through the discrete family's plan and NumPy backend, variable by variable.

    The reference the compiled path is tested against (per-variable estimators only: UNORD, ARSM
    and the relaxations go through :func:`logit_gradients`).
    """
    b, d_count, c = probs.shape
    width = b * d_count
    problem = Problem(
        categories=c,
        samples=samples,
        dims=width,
        probs=np.ascontiguousarray(probs.reshape(width, c), dtype=np.float64),
        probs_source="the encoder",
        objective=Objective("model", "the per-example model objective", np.zeros((width, c))),
        trials=replicates,
        seed=seed,
    )
    plan = build_plan(problem, spec)
    trial_base = np.arange(replicates, dtype=np.uint64) * np.uint64(plan.dims * plan.draws_per_var)
    draws = branch(numpy_backend.DRAWS, Construction(plan.construction), "the model gradients' draws")(plan, trial_base)
    z = draws.z.reshape(replicates, samples, b, d_count)
    f = objective(z.reshape(replicates * samples, b, d_count)).reshape(replicates, samples, b)

    def coefficients(v: int) -> np.ndarray:
        return numpy_backend.coefficients(plan, v, draws.z, f[:, :, v // d_count], trial_base, draws.mc_ratios[v])

    g = numpy_backend._score_sum(plan, draws.z, coefficients)  # (R, B·D, C)
    return Estimates(g.reshape(replicates, b, d_count, c), z, f)
