"""The linear decoder's compiled gather and Adam's fused step against their dense NumPy forms."""

import numpy as np
import pytest

from carms_cli.models import network
from carms_cli.models.kernels.linear import adam_ascent
from carms_cli.models.network import Latent
from carms_cli.models.training import ADAM_BETAS, ADAM_EPSILON


def dense(arch, params, x, z):
    """``log p(x | z)`` and its W, b gradients (mean over samples) by the dense code product."""
    s, b = z.shape[:2]
    code = network.code(arch.latent, z).reshape(s * b, -1)
    eta = (code @ params["dec.w0"] + params["dec.b0"]).reshape(s, b, -1)
    x_out = x[:, arch.outputs]
    log_likelihood = (x_out * eta - network.softplus(eta)).sum(axis=-1)
    sigma = 0.5 * (1.0 + np.tanh(0.5 * eta))
    delta = ((x_out - sigma) / (s * b)).reshape(s * b, -1)
    return log_likelihood, eta, code.T @ delta, delta.sum(axis=0)


@pytest.mark.parametrize(
    ("latent", "structured"), [(Latent(4, 3), False), (Latent(5, 2, binary=True), False), (Latent(3, 4), True)]
)
def test_sparse_decoder_matches_the_dense_product(latent, structured):
    rng = np.random.default_rng(4)
    arch = network.architecture("linear", 12, latent, structured=structured)
    mean = np.full(12, 0.3)
    params = {k: v + rng.normal(scale=3.0, size=v.shape) for k, v in network.init_params(arch, mean, 0).items()}
    x = (rng.random((6, 12)) < 0.4).astype(float)
    z = rng.integers(0, latent.categories, size=(3, 6, latent.dims))
    fwd = network.forward(arch, params, x, z, mean)
    ll, eta, grad_w, grad_b = dense(arch, params, x, z)
    np.testing.assert_allclose(fwd.log_likelihood, ll, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(fwd.dec_out, eta, rtol=1e-13, atol=1e-13)
    g = rng.normal(size=(6, latent.dims, latent.categories))
    grads = network.backward(arch, params, fwd, g)
    np.testing.assert_allclose(grads["dec.w0"], grad_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["dec.b0"], grad_b, rtol=1e-12, atol=1e-15)


def test_logistic_from_one_exponential_is_stable_at_both_ends():
    arch = network.architecture("linear", 2, Latent(1, 2))
    params = {"dec.w0": np.zeros((2, 2)), "dec.b0": np.array([-800.0, 800.0]), "prior": np.zeros(2)}
    params["enc.w0"], params["enc.b0"] = np.zeros((2, 2)), np.zeros(2)
    x = np.array([[1.0, 0.0]])
    fwd = network.forward(arch, params, x, np.zeros((1, 1, 1), dtype=np.int64), np.full(2, 0.5))
    assert fwd.log_likelihood[0, 0] == -1600.0
    sigma = fwd.dec_inputs[1]
    np.testing.assert_array_equal(sigma, [[0.0, 1.0]])


def test_fused_adam_step_gives_the_numpy_bits():
    rng = np.random.default_rng(2)
    theta, grad, m, v = (rng.normal(size=(7, 5)) for _ in range(4))
    v = np.abs(v)
    b1, b2 = ADAM_BETAS
    t, rate = 3, 1e-3
    want_m, want_v, want_theta = m.copy(), v.copy(), theta.copy()
    want_m *= b1
    want_m += (1.0 - b1) * grad
    want_v *= b2
    want_v += (1.0 - b2) * grad * grad
    want_theta += rate * (want_m / (1.0 - b1**t)) / (np.sqrt(want_v / (1.0 - b2**t)) + ADAM_EPSILON)
    adam_ascent(theta, grad, m, v, b1, b2, rate, 1.0 - b1**t, 1.0 - b2**t, ADAM_EPSILON)
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(v, want_v)
    np.testing.assert_array_equal(theta, want_theta)

