"""The VAE's forward pass and hand-written backward pass against central differences and enumeration."""

import numpy as np
import pytest

from carms_cli.core.errors import InputError
from carms_cli.models import data, network
from carms_cli.models.network import Latent

CASES = [
    ("linear", Latent(2, 3), False),
    ("mlp", Latent(2, 3), False),
    ("linear", Latent(3, 2, binary=True), False),
    ("mlp", Latent(3, 2, binary=True), False),
    ("linear", Latent(2, 3), True),
    ("mlp", Latent(3, 2, binary=True), True),
]


def make(arch_name, latent, pixels=5, batch=4, seed=0, structured=False):
    rng = np.random.default_rng(seed)
    arch = network.architecture(arch_name, pixels, latent, hidden=6, structured=structured)
    x = (rng.random((batch, pixels)) < 0.4).astype(float)
    mean = np.full(pixels, 0.3)
    params = network.init_params(arch, mean, seed)
    params = {k: v + 0.3 * rng.normal(size=v.shape) for k, v in params.items()}  # off the zero-init point
    return arch, params, x, mean


def surrogate(arch, params, x, mean, z, g):
    """S(θ) = mean of log p(x|z) + log p(z) over the samples + ⟨G, raw logits⟩ / B."""
    fwd = network.forward(arch, params, x, z, mean)
    raw = fwd.logits[..., 1] if arch.latent.binary else fwd.logits.reshape(len(x), -1)
    pathwise = (fwd.log_likelihood + fwd.log_prior).mean()
    return pathwise + (network.raw_gradient(arch.latent, g) * raw).sum() / len(x)


def assert_central_differences(got: dict, params: dict, scalar) -> None:
    """``got[name]`` is ∂ scalar(params)/∂ params[name] to 1e-6 of its scale, by central differences (h = 1e-6)."""
    h = 1e-6
    for name, value in params.items():
        expected = np.empty_like(value)
        for index in np.ndindex(value.shape):
            plus = {**params, name: value.copy()}
            minus = {**params, name: value.copy()}
            plus[name][index] += h
            minus[name][index] -= h
            expected[index] = (scalar(plus) - scalar(minus)) / (2 * h)
        scale = max(np.abs(expected).max(), 1e-3)
        assert np.abs(got[name] - expected).max() / scale < 1e-6, name


@pytest.mark.parametrize(("arch_name", "latent", "structured"), CASES)
def test_backward_matches_central_differences(arch_name, latent, structured):
    arch, params, x, mean = make(arch_name, latent, structured=structured)
    assert ("prior" in params) != structured
    rng = np.random.default_rng(1)
    z = rng.integers(0, latent.categories, size=(3, len(x), latent.dims))
    g = rng.normal(size=(len(x), latent.dims, latent.categories))
    got = network.backward(arch, params, network.forward(arch, params, x, z, mean), g)
    assert set(got) == set(params)
    assert_central_differences(got, params, lambda p: surrogate(arch, p, x, mean, z, g))


@pytest.mark.parametrize(("arch_name", "latent", "structured"), CASES)
def test_exact_enumeration(arch_name, latent, structured):
    arch, params, x, mean = make(arch_name, latent, structured=structured)
    exact = network.exact(arch, params, x, mean)
    # q sums to one per example; the ELBO is below log p(x), with the gap KL(q ‖ p(z|x)) ≥ 0
    np.testing.assert_allclose(exact.q.sum(axis=0), 1.0, rtol=1e-12)
    assert np.all(exact.elbo < exact.log_marginal)
    # log p(x) = log Σ_z p(x|z) p(z) (structured: log Σ_z q(z|x_upper) p(x_lower|z)), summed directly
    configs = network.all_configurations(latent)
    for b in range(len(x)):
        total = 0.0
        for z in configs:
            zz = z[None, None, :]
            fwd = network.forward(arch, params, x[b : b + 1], zz, mean)
            weight = np.exp(fwd.log_q[0, 0]) if structured else np.exp(fwd.log_prior[0, 0])
            total += weight * np.exp(fwd.log_likelihood[0, 0])
        assert exact.log_marginal[b] == pytest.approx(np.log(total), rel=1e-12)
    # the logit gradient of the ELBO (direct −log q term included) by central differences
    logits, _ = network.encode(arch, params, x, mean)
    h = 1e-6

    def elbo_at(lg):
        q_z = np.broadcast_to(configs[:, None, :], (len(configs), len(x), latent.dims))
        fwd = network.forward(arch, params, x, np.ascontiguousarray(q_z), mean, logits=lg)
        return (np.exp(fwd.log_q) * fwd.f).sum(axis=0)

    expected = np.empty_like(logits)
    for index in np.ndindex(logits.shape[1:]):
        plus, minus = logits.copy(), logits.copy()
        plus[(slice(None),) + index] += h
        minus[(slice(None),) + index] -= h
        expected[(slice(None),) + index] = (elbo_at(plus) - elbo_at(minus)) / (2 * h)
    np.testing.assert_allclose(exact.logit_gradient, expected, atol=1e-7 * np.abs(expected).max())


def test_importance_weights_are_unbiased_for_the_marginal():
    """E_q[f] = ELBO and E_q[e^f] = p(x) (z-tests); the 1000-sample bound is near log p(x), above the ELBO."""
    arch, params, x, mean = make("linear", Latent(2, 3), batch=2)
    exact = network.exact(arch, params, x, mean)
    rng = np.random.default_rng(0)
    logits, _ = network.encode(arch, params, x, mean)
    f = network.forward(arch, params, x, network.sample(logits, 50_000, rng), mean, logits=logits).f
    for values, target in ((f, exact.elbo), (np.exp(f), np.exp(exact.log_marginal))):
        z = (values.mean(axis=0) - target) / (values.std(axis=0) / np.sqrt(len(values)))
        assert np.all(np.abs(z) < 5)
    bound = network.importance_bound(arch, params, x, mean, 1000, rng)
    assert np.all(exact.elbo < bound) and np.all(np.abs(bound - exact.log_marginal) < 0.1)


def test_planted_and_npz(tmp_path):
    ds = data.planted(3, 4, 10, (30, 5, 5), seed=2)
    assert ds.train.shape == (30, 10) and ds.binary
    again = data.planted(3, 4, 10, (30, 5, 5), seed=2)
    np.testing.assert_array_equal(ds.train, again.train)
    assert data.parse_planted("planted:20x10") == (20, 10)
    assert data.parse_planted("planted:200") == (200, None)
    assert data.parse_planted("mnist") is None
    path = tmp_path / "d.npz"
    np.savez(path, train=ds.train.astype(np.uint8), valid=ds.valid, test=ds.test.reshape(5, 2, 5))
    loaded = data.load_npz(str(path))
    np.testing.assert_array_equal(loaded.test, ds.test)
    floats = data.Dataset("f", ds.train * 0.5, ds.valid * 0.5, ds.test * 0.5)
    assert not floats.binary and data.static(floats, 1).binary


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"train": np.zeros((2, 3)), "valid": np.zeros((2, 3))}, "missing key"),
        ({"train": np.full((2, 3), 2, np.uint8), "valid": np.zeros((2, 3)), "test": np.zeros((2, 3))}, "above 1"),
        ({"train": np.full((2, 3), 1.5), "valid": np.zeros((2, 3)), "test": np.zeros((2, 3))}, "outside"),
        ({"train": np.zeros((2, 3)), "valid": np.zeros((2, 4)), "test": np.zeros((2, 3))}, "different"),
        ({"train": np.zeros(3), "valid": np.zeros((2, 3)), "test": np.zeros((2, 3))}, "at least one image"),
    ],
)
def test_bad_npz(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        data.load_npz(str(path))


def test_not_an_npz(tmp_path):
    path = tmp_path / "x.npz"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable"):
        data.load_npz(str(path))


def test_structured_prediction_sees_the_upper_half_and_predicts_the_lower():
    arch, params, x, mean = make("linear", Latent(2, 3), pixels=6, structured=True)
    assert arch.encoder_sizes == [3, 6] and arch.decoder_sizes == [6, 3]
    z = np.zeros((1, len(x), 2), dtype=np.int64)
    changed = x.copy()
    changed[:, 3:] = 1.0 - changed[:, 3:]
    logits = network.encode(arch, params, changed, mean)[0]
    np.testing.assert_array_equal(logits, network.encode(arch, params, x, mean)[0])  # lower half unseen
    fwd = network.forward(arch, params, x, z, mean)
    np.testing.assert_array_equal(fwd.f, fwd.log_likelihood)  # no prior, no entropy term


@pytest.mark.parametrize(("arch_name", "latent", "structured"), CASES)
def test_exact_gradient_matches_central_differences_of_the_enumerated_elbo(arch_name, latent, structured):
    """The exact-reference training step's gradient is ∇θ of the minibatch ELBO (1/B) Σ_b E_q[f_b]."""
    arch, params, x, mean = make(arch_name, latent, structured=structured)
    got = network.exact_gradient(arch, params, x, mean)
    assert set(got) == set(params)

    def elbo(p):
        return network.exact(arch, p, x, mean).elbo.mean()

    assert_central_differences(got, params, elbo)


@pytest.mark.parametrize(("arch_name", "latent", "structured"), CASES[:4])
def test_encoder_gradient_of_many_logit_gradients_at_once(arch_name, latent, structured):
    arch, params, x, mean = make(arch_name, latent, structured=structured)
    _, enc_inputs = network.encode(arch, params, x, mean)
    g = np.random.default_rng(2).normal(size=(4, len(x), latent.dims, latent.categories))
    batched = network.encoder_gradient(arch, params, enc_inputs, g)
    for r in range(len(g)):
        single = network.encoder_gradient(arch, params, enc_inputs, g[r])
        for name, value in single.items():
            np.testing.assert_allclose(batched[name][r], value, rtol=1e-12, atol=1e-14)
