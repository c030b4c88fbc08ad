"""Training a discrete VAE with one estimator: Adam steps, checkpoints' evaluations, saved state.

Every random choice is a pure function of (seed, step): the minibatch of step t and its dynamic
binarisation come from ``default_rng([seed, 1, t])``, the estimator's samples from the discrete
stream seeded :func:`~carms_cli.models.gradients.step_seed`, the evaluation draws from
``default_rng([seed, 2, t])``. So every estimator of a seed starts from the same parameters and
sees the same minibatches, and a run resumed from a saved state continues bit for bit.
"""

from dataclasses import dataclass, field

import numpy as np

from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import network
from carms_cli.models.data import Dataset, binarise
from carms_cli.models.gradients import logit_gradients, step_seed
from carms_cli.models.kernels.linear import adam_ascent as adam_kernel

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
#: The estimator variance ratios are taken against (same n, same frozen parameters and batch).
VARIANCE_REFERENCE = "loorf"


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


def train_step(setup: Setup, spec: EstimatorSpec, seed: int, state: RunState) -> None:
    """One step: encoder-logit gradient by ``spec``, pathwise decoder and prior gradients, Adam."""
    arch = setup.arch
    x = minibatch(setup, seed, state.step)
    logits, enc_inputs = network.encode(arch, state.params, x, setup.train_mean)
    probs = np.exp(network.log_softmax(logits))
    kept = {}

    def objective(z):
        kept["fwd"] = network.forward(arch, state.params, x, z, setup.train_mean, logits=logits)
        return kept["fwd"].f

    estimate = logit_gradients(spec, probs, objective, setup.samples, step_seed(seed, state.step))
    fwd = kept["fwd"]
    fwd.enc_inputs = enc_inputs
    adam_ascent(setup, state, network.backward(arch, state.params, fwd, estimate.g[0]))
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


def logit_variance(setup: Setup, spec: EstimatorSpec, params, x: np.ndarray, seed: int) -> float:
    """Σ over coordinates of the per-coordinate variance of the logit gradient, per example.

    ``R = variance_replicates`` independent estimates at frozen parameters on the batch x.
    """
    logits, _ = network.encode(setup.arch, params, x, setup.train_mean)
    probs = np.exp(network.log_softmax(logits))

    def objective(z):
        return network.forward(setup.arch, params, x, z, setup.train_mean, logits=logits, keep=False).f

    g = logit_gradients(spec, probs, objective, setup.samples, seed, setup.variance_replicates).g
    return float(g.var(axis=0, ddof=1).sum() / x.shape[0])


def evaluate(setup: Setup, spec: EstimatorSpec, seed: int, state: RunState) -> dict:
    """Checkpoint row: train and test −ELBO and −k-sample bound, logit-gradient variance and its ratio to LOORF's.

    The bounds draw from one stream in a fixed order (train −ELBO, test −ELBO, test −bound,
    train −bound).
    """
    rng = np.random.default_rng([seed, 2, state.step])
    params = state.params
    train, test = setup.eval_train, setup.eval_test
    x = variance_batch(setup, seed)
    stream = step_seed(seed, state.step) ^ 0x5A5A  # not a training step's stream
    variance = logit_variance(setup, spec, params, x, stream)
    reference = variance
    if spec.name != VARIANCE_REFERENCE:
        reference = logit_variance(setup, get_estimator(VARIANCE_REFERENCE), params, x, stream)
    row = {
        "step": state.step,
        "train_neg_elbo": -_bound(setup, params, train, 1, rng),
        "test_neg_elbo": -_bound(setup, params, test, 1, rng),
        "test_neg_bound": -_bound(setup, params, test, setup.eval_k, rng),
    }
    row["train_neg_bound"] = -_bound(setup, params, train, setup.eval_k, rng)
    row["log10_variance"] = float(np.log10(variance)) if variance > 0 else None
    row["variance_ratio_to_loorf"] = variance / reference if reference > 0 else None
    return row
