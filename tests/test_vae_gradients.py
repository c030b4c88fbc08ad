"""Encoder-logit gradients from the registered estimators against enumeration and the exact oracle."""

import numpy as np
import pytest

from carms_cli.core.errors import InputError
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.objectives import Objective
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import gradients, network
from carms_cli.models.network import Latent

REPLICATES = 20_000


def model(latent, batch=2, pixels=4, seed=3, structured=False):
    rng = np.random.default_rng(seed)
    arch = network.architecture("linear", pixels, latent, structured=structured)
    x = (rng.random((batch, pixels)) < 0.5).astype(float)
    mean = np.full(pixels, 0.4)
    params = {k: v + rng.normal(size=v.shape) for k, v in network.init_params(arch, mean, seed).items()}
    return arch, params, x, mean


@pytest.mark.parametrize(
    ("name", "latent", "samples", "structured"),
    [
        ("reinforce", Latent(2, 3), 3, False),
        ("loorf", Latent(2, 3), 3, False),
        ("carms", Latent(2, 3), 3, False),
        ("carms-sb", Latent(2, 3), 3, False),
        ("loorf", Latent(3, 2, binary=True), 2, False),
        ("arm", Latent(3, 2, binary=True), 2, False),
        ("disarm", Latent(3, 2, binary=True), 2, False),
        ("arms", Latent(3, 2, binary=True), 4, False),
        ("carms", Latent(2, 3), 3, True),
        ("disarm", Latent(3, 2, binary=True), 2, True),
    ],
)
def test_replicates_match_the_exact_gradient_and_variance(name, latent, samples, structured):
    arch, params, x, mean = model(latent, structured=structured)
    logits, _ = network.encode(arch, params, x, mean)
    probs = np.exp(network.log_softmax(logits))
    spec = get_estimator(name)
    assert gradients.refusal(spec, latent.categories, samples) is None

    def objective(z):
        return network.forward(arch, params, x, z, mean, logits=logits).f

    est = gradients.logit_gradients(spec, probs, objective, samples, seed=11, replicates=REPLICATES)
    assert est.g.shape == (REPLICATES, len(x), latent.dims, latent.categories)
    exact = network.exact(arch, params, x, mean)
    mean_g, var_g = est.g.mean(axis=0), est.g.var(axis=0, ddof=1)
    z = (mean_g - exact.logit_gradient) / np.sqrt(var_g / REPLICATES)
    assert np.abs(z).max() < 5
    # each example's D variables through the discrete family's exact oracle: f as a full C^D table
    for b in range(len(x)):
        problem = Problem(
            categories=latent.categories,
            samples=samples,
            dims=latent.dims,
            probs=probs[b].copy(),
            probs_source="test",
            objective=Objective("t", "t", np.zeros((latent.dims, latent.categories)), full=exact.f[:, b].copy()),
            trials=REPLICATES,
            seed=0,
        )
        moments = exact_moments(problem, spec)
        np.testing.assert_allclose(moments.mean, exact.logit_gradient[b], atol=1e-12)
        # the sample variance's standard error from the exact fourth central moment
        se = np.sqrt((moments.fourth_central - moments.variance**2) / REPLICATES)
        assert np.abs((var_g[b] - moments.variance) / se).max() < 5


def test_same_seed_same_estimates_and_replicates_are_trials():
    arch, params, x, mean = model(Latent(2, 3))
    logits, _ = network.encode(arch, params, x, mean)
    probs = np.exp(network.log_softmax(logits))

    def objective(z):
        return network.forward(arch, params, x, z, mean, logits=logits).f

    spec = get_estimator("carms")
    many = gradients.logit_gradients(spec, probs, objective, 3, seed=5, replicates=4)
    one = gradients.logit_gradients(spec, probs, objective, 3, seed=5, replicates=1)
    np.testing.assert_array_equal(many.g[0], one.g[0])
    other = gradients.logit_gradients(spec, probs, objective, 3, seed=6, replicates=1)
    assert not np.array_equal(other.g[0], one.g[0])


def test_estimators_with_a_smoothed_ratio_are_refused():
    with pytest.raises(InputError, match="does not run on models"):
        gradients.check_estimators([get_estimator("carms-ref")], 3, 3)
