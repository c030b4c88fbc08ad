"""The compiled minibatch path of the encoder-logit gradients against the reference (plan + NumPy backend)."""

import numpy as np
import pytest

from carms_cli.discrete.registry import ESTIMATORS, get_estimator
from carms_cli.models import batched, gradients

#: Every registered per-variable estimator that gives encoder gradients: categorical ones at C = 4,
#: binary ones at C = 2 (UNORD, ARSM and the relaxations run per example: tests/test_vae_joint.py).
CATEGORICAL = [
    n for n, s in ESTIMATORS.items() if s.weighting in gradients.PER_VARIABLE and gradients.refusal(s, 4, 4) is None
]
BINARY = [
    n for n, s in ESTIMATORS.items() if s.weighting in gradients.PER_VARIABLE and gradients.refusal(s, 2, 4) is None
]


def problem(categories, batch=3, dims=4, seed=0):
    """Random encoder probabilities (B, D, C) and a nonlinear per-example objective of the samples."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(batch, dims, categories))
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    table = rng.normal(size=(batch, dims, categories))
    weights = rng.normal(size=(batch, dims))

    def objective(z):  # (S, B, D) -> (S, B): unary terms plus a product coupling the variables
        unary = np.take_along_axis(np.broadcast_to(table, z.shape + (categories,)), z[..., None], -1)[..., 0]
        return unary.sum(axis=-1) + np.sin((weights * z).sum(axis=-1))

    return probs, objective


def test_the_lists_cover_every_per_variable_estimator():
    assert {"reinforce", "loorf", "carms", "carms-gauss", "carms-g", "carms-sb"} <= set(CATEGORICAL)
    assert {"arm", "disarm", "arms", "arms-gauss"} <= set(BINARY)
    for name in CATEGORICAL:
        assert batched.supported(get_estimator(name), 4, 4, 12), name
    for name in BINARY:
        assert batched.supported(get_estimator(name), 2, 4, 12), name


@pytest.mark.parametrize(
    ("name", "categories", "samples"),
    [(n, 4, 4) for n in CATEGORICAL]
    + [(n, 2, 4) for n in BINARY]
    + [("carms", 10, 4), ("carms", 4, 3), ("carms", 3, 2), ("arms", 2, 3), ("carms-gauss", 4, 2), ("loorf", 16, 5)],
)
def test_compiled_path_gives_the_reference_numbers_bit_for_bit(name, categories, samples):
    spec = get_estimator(name)
    probs, objective = problem(categories, seed=categories + samples)
    fast = gradients.logit_gradients(spec, probs, objective, samples, seed=7, replicates=5)
    reference = gradients.reference_logit_gradients(spec, probs, objective, samples, seed=7, replicates=5)
    np.testing.assert_array_equal(fast.z, reference.z)
    np.testing.assert_array_equal(fast.f, reference.f)
    np.testing.assert_array_equal(fast.g, reference.g)


def test_categories_above_the_linear_scan_use_the_reference():
    assert not batched.supported(get_estimator("carms"), 17, 4, 3)
    assert batched.supported(get_estimator("carms"), 16, 4, 3)
    assert not batched.supported(get_estimator("carms-ref"), 4, 4, 3)

