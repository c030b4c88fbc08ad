"""Training a discrete VAE with one estimator: Adam steps, checkpoints' evaluations, saved state.

Every random choice is a pure function of (seed, step): the minibatch of step t and its dynamic
binarisation come from ``default_rng([seed, 1, t])``, the estimator's samples from the discrete
stream seeded :func:`~carms_cli.models.gradients.step_seed`, the evaluation draws from
``default_rng([seed, 2, t])``. So every estimator of a seed starts from the same parameters and
sees the same minibatches, and a run resumed from a saved state continues bit for bit.

The estimator :data:`EXACT` (``spec`` None below) is the reference curve: each step takes the
exact gradient of the minibatch ELBO by enumeration of the C^D configurations
(:func:`~carms_cli.models.network.exact_gradient`; C^D ≤ :data:`MAX_EXACT`), with the same start
and the same minibatches as every estimator, so its only noise is the minibatch's.
"""

from dataclasses import dataclass, field

import numpy as np

from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import network
from carms_cli.models.data import Dataset, binarise
from carms_cli.models.gradients import logit_gradients, step_seed
from carms_cli.models.kernels.linear import adam_ascent as adam_kernel
from carms_cli.models.objective import ModelObjective
from carms_cli.models.variance import MAX_ENUMERATED, parameter_moments

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
#: The estimator variance ratios are taken against (same n, same frozen parameters and batch).
VARIANCE_REFERENCE = "loorf"
#: The name of the exact-gradient reference run in ``--estimators``, records and tables.
EXACT = "exact"
#: Largest number of configurations C^D per example the exact reference enumerates (the bias test's limit).
MAX_EXACT = MAX_ENUMERATED


@dataclass(frozen=True)
class Setup:
    """What every run of one ``carms vae train`` shares."""

    arch: network.Architecture
    data: Dataset  # intensities; training minibatches are binarised per step when ``dynamic``
    evaluation: Dataset  # binarised once (the evaluation sets)
    train_mean: np.ndarray
    samples: int
    batch: int
    lr: float
    prior_lr: float
    dynamic: bool
    eval_k: int
    eval_train: np.ndarray  # the examples the bounds are averaged over (a fixed subset, binarised once)
    eval_test: np.ndarray
    variance_replicates: int
    variance_batch: int


@dataclass
class RunState:
    """One (seed, estimator) run's parameters, Adam moments, step and evaluations so far."""

    params: dict[str, np.ndarray]
    first: dict[str, np.ndarray]
    second: dict[str, np.ndarray]
    step: int = 0
    seconds: float = 0.0  # time spent in training steps (evaluations excluded)
    timed_steps: int = 0
    checkpoints: list[dict] = field(default_factory=list)


def start(setup: Setup, seed: int) -> RunState:
    """Start a run: the seed's parameters (:func:`~carms_cli.models.network.init_params`), zero moments."""
    params = network.init_params(setup.arch, setup.train_mean, seed)
    zeros = {name: np.zeros_like(value) for name, value in params.items()}
    return RunState(params, zeros, {name: z.copy() for name, z in zeros.items()})


def minibatch(setup: Setup, seed: int, step: int) -> np.ndarray:
    """Draw the training minibatch (B, P) of ``step``: uniform indices, dynamically binarised if asked."""
    rng = np.random.default_rng([seed, 1, step])
    x = setup.data.train[rng.integers(0, setup.data.train.shape[0], size=setup.batch)]
    return binarise(x, rng) if setup.dynamic else x


def adam_ascent(setup: Setup, state: RunState, grads: dict[str, np.ndarray]) -> None:
    """One Adam step up the surrogate: ``θ += lr · m̂ / (√v̂ + ε)`` (the prior at ``prior_lr``).

    Contiguous float64 arrays take the fused compiled loop
    (:func:`carms_cli.models.kernels.linear.adam_ascent`), which gives these NumPy lines' bits.
    """
    b1, b2 = ADAM_BETAS
    t = state.step + 1
    for name, g in grads.items():
        rate = setup.prior_lr if name == "prior" else setup.lr
        arrays = (state.params[name], g, state.first[name], state.second[name])
        if all(a.flags.c_contiguous and a.dtype == np.float64 for a in arrays):
            adam_kernel(*arrays, b1, b2, rate, 1.0 - b1**t, 1.0 - b2**t, ADAM_EPSILON)  # the same bits, fused
            continue
        m = state.first[name]
        v = state.second[name]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        state.params[name] += rate * (m / (1.0 - b1**t)) / (np.sqrt(v / (1.0 - b2**t)) + ADAM_EPSILON)


def estimator(name: str) -> EstimatorSpec | None:
    """Return the registered estimator ``name``, or None for :data:`EXACT`."""
    return None if name == EXACT else get_estimator(name)


def train_step(setup: Setup, spec: EstimatorSpec | None, seed: int, state: RunState) -> None:
    """One step: encoder-logit gradient by ``spec``, pathwise decoder and prior gradients, Adam.

    ``spec`` None: the exact gradient of the minibatch ELBO by enumeration. The decoder and prior
    gradient is taken on the samples f was last evaluated at (ARSM: its swap configurations; the
    relaxations: the hard samples), with the estimate's weights.
    """
    arch = setup.arch
    x = minibatch(setup, seed, state.step)
    if spec is None:
        adam_ascent(setup, state, network.exact_gradient(arch, state.params, x, setup.train_mean))
        state.step += 1
        return
    logits, enc_inputs = network.encode(arch, state.params, x, setup.train_mean)
    probs = np.exp(network.log_softmax(logits))
    objective = ModelObjective(arch, state.params, x, setup.train_mean, logits)
    estimate = logit_gradients(spec, probs, objective, setup.samples, step_seed(seed, state.step))
    fwd = objective.last
    fwd.enc_inputs = enc_inputs
    weights = None if estimate.weights is None else estimate.weights[0]
    adam_ascent(setup, state, network.backward(arch, state.params, fwd, estimate.g[0], weights))
    state.step += 1


def _bound(setup: Setup, params, x: np.ndarray, k: int, rng) -> float:
    """Mean over examples of the k-sample bound, in chunks of examples."""
    total = 0.0
    for first in range(0, x.shape[0], 100):
        chunk = x[first : first + 100]
        total += float(network.importance_bound(setup.arch, params, chunk, setup.train_mean, k, rng).sum())
    return total / x.shape[0]


def variance_batch(setup: Setup, seed: int) -> np.ndarray:
    """Choose the fixed evaluation minibatch of the variance measurements (binarised once)."""
    rng = np.random.default_rng([seed, 3])
    train = setup.evaluation.train
    return train[rng.choice(train.shape[0], size=min(setup.variance_batch, train.shape[0]), replace=False)]


def logit_variance(setup: Setup, spec: EstimatorSpec, params, x: np.ndarray, seed: int) -> tuple[float, float]:
    """Σ of the per-coordinate variances: of the logit gradient per example, of the encoder-parameter gradient.

    ``R = variance_replicates`` independent estimates at frozen parameters on the batch x; each
    goes back through the encoder for the second number, the variance of the minibatch gradient a
    training step uses (:func:`~carms_cli.models.variance.parameter_moments`).
    """
    logits, enc_inputs = network.encode(setup.arch, params, x, setup.train_mean)
    probs = np.exp(network.log_softmax(logits))

    objective = ModelObjective(setup.arch, params, x, setup.train_mean, logits, keep=False)
    g = logit_gradients(spec, probs, objective, setup.samples, seed, setup.variance_replicates).g
    param = parameter_moments(setup.arch, params, enc_inputs, g)
    return float(g.var(axis=0, ddof=1).sum() / x.shape[0]), param.total


def _log10(value: float) -> float | None:
    return float(np.log10(value)) if value > 0 else None


def _ratio(value: float, reference: float) -> float | None:
    return value / reference if reference > 0 else None


def evaluate(setup: Setup, spec: EstimatorSpec | None, seed: int, state: RunState) -> dict:
    """Checkpoint row: −ELBO and −k-sample bounds, logit- and encoder-parameter-gradient variances, ratios to LOORF.

    The bounds draw from one stream in a fixed order (train −ELBO, test −ELBO, test −bound,
    train −bound). The exact reference (``spec`` None) has variance 0: its log10 is None, its
    ratio 0.
    """
    rng = np.random.default_rng([seed, 2, state.step])
    params = state.params
    train, test = setup.eval_train, setup.eval_test
    x = variance_batch(setup, seed)
    stream = step_seed(seed, state.step) ^ 0x5A5A  # not a training step's stream
    reference = logit_variance(setup, get_estimator(VARIANCE_REFERENCE), params, x, stream)
    if spec is None:
        variance = (0.0, 0.0)
    elif spec.name == VARIANCE_REFERENCE:
        variance = reference
    else:
        variance = logit_variance(setup, spec, params, x, stream)
    row = {
        "step": state.step,
        "train_neg_elbo": -_bound(setup, params, train, 1, rng),
        "test_neg_elbo": -_bound(setup, params, test, 1, rng),
        "test_neg_bound": -_bound(setup, params, test, setup.eval_k, rng),
    }
    row["train_neg_bound"] = -_bound(setup, params, train, setup.eval_k, rng)
    row["log10_variance"] = _log10(variance[0])
    row["variance_ratio_to_loorf"] = _ratio(variance[0], reference[0])
    row["encoder_param_log10_variance"] = _log10(variance[1])
    row["encoder_param_variance_ratio_to_loorf"] = _ratio(variance[1], reference[1])
    return row
