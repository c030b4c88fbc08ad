"""UNORD, ARSM and the Gumbel relaxations on models: the discrete family's numbers, enumeration, quadrature."""

import numpy as np
import pytest

from carms_cli.core.errors import InputError
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.kernels import numpy_backend
from carms_cli.discrete.objectives import Objective
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import gradients, gradients_joint, network, training, variance
from carms_cli.models.network import Latent
from carms_cli.models.objective import ModelObjective

REPLICATES = 20_000
JOINT = ["unord", "arsm", "gumbel-softmax:0.5", "gumbel-st:0.7"]


def model(latent, batch=2, pixels=4, seed=3, structured=False, arch_name="linear"):
    rng = np.random.default_rng(seed)
    arch = network.architecture(arch_name, pixels, latent, hidden=5, structured=structured)
    x = (rng.random((batch, pixels)) < 0.5).astype(float)
    mean = np.full(pixels, 0.4)
    params = {k: v + rng.normal(size=v.shape) for k, v in network.init_params(arch, mean, seed).items()}
    return arch, params, x, mean


def objective_and_probs(arch, params, x, mean):
    logits, _ = network.encode(arch, params, x, mean)
    return ModelObjective(arch, params, x, mean, logits), np.exp(network.log_softmax(logits))


class TableObjective:
    """One example's ``f(z) = Σ_d u_d[z_d] + u_0ᵀ·P·u_1`` and its multilinear extension (the discrete family's)."""

    def __init__(self, objective: Objective):
        self.objective = objective

    def __call__(self, z):
        return self.objective.evaluate(z[:, 0])[:, None]

    def relaxed(self, y):
        unary, pair = self.objective.unary, self.objective.pair[0, 1]
        y0 = y[:, 0]
        f = (y0 * unary).sum(axis=(-2, -1)) + np.einsum("sa,ab,sb->s", y0[:, 0], pair, y0[:, 1])
        grad = np.broadcast_to(unary, y0.shape).copy()
        grad[:, 0] += y0[:, 1] @ pair.T
        grad[:, 1] += y0[:, 0] @ pair
        return f[:, None], grad[:, None]


@pytest.mark.parametrize("name", JOINT)
@pytest.mark.parametrize(("dims", "categories"), [(2, 3), (3, 2)])
def test_one_example_is_the_discrete_familys_trial(name, dims, categories):
    rng = np.random.default_rng(dims)
    p = rng.dirichlet(np.ones(categories), size=dims)
    pair = np.zeros((dims, dims, categories, categories))
    pair[0, 1] = rng.normal(size=(categories, categories))
    table = Objective("t", "t", rng.normal(size=(dims, categories)), pair=pair)
    spec = get_estimator(name)
    problem = Problem(categories=categories, samples=3, dims=dims, probs=p.copy(), probs_source="t",
                      objective=table, trials=40, seed=7)  # fmt: skip
    expected, _, evaluations = numpy_backend.simulate(build_plan(problem, spec), 0, 40)
    got = gradients.logit_gradients(spec, p[None], TableObjective(table), 3, seed=7, replicates=40)
    np.testing.assert_allclose(got.g[:, 0], expected, rtol=0, atol=1e-14)
    assert got.z.shape[1] == gradients_joint.evaluations(spec, categories, 3)
    if name == "arsm":  # every swap is evaluated; the discrete family counts the distinct ones
        assert (evaluations <= got.z.shape[1]).all()


@pytest.mark.parametrize(
    ("name", "latent", "samples", "structured"),
    [
        ("unord", Latent(2, 3), 3, False),
        ("unord", Latent(3, 2, binary=True), 4, False),
        ("unord", Latent(2, 3), 2, True),
        ("arsm", Latent(2, 3), 3, False),
        ("arsm", Latent(2, 4), 3, False),
        ("arsm", Latent(3, 2, binary=True), 2, False),
    ],
)
def test_unord_and_arsm_are_unbiased_for_the_exact_gradient(name, latent, samples, structured):
    arch, params, x, mean = model(latent, structured=structured)
    objective, probs = objective_and_probs(arch, params, x, mean)
    spec = get_estimator(name)
    assert gradients.refusal(spec, latent.categories, samples, latent.dims) is None
    est = gradients.logit_gradients(spec, probs, objective, samples, seed=11, replicates=REPLICATES)
    exact = network.exact(arch, params, x, mean)
    mean_g, var_g = est.g.mean(axis=0), est.g.var(axis=0, ddof=1)
    assert est.g.shape == (REPLICATES, len(x), latent.dims, latent.categories)
    z = (mean_g - exact.logit_gradient) / np.sqrt(var_g / REPLICATES)
    assert np.abs(z).max() < 5
    assert (var_g > 0).any()
    if name != "unord":
        return
    # each example's exact UNORD moments from the discrete family's oracle (n-subsets of C^D)
    for b in range(len(x)):
        problem = Problem(categories=latent.categories, samples=samples, dims=latent.dims, probs=probs[b].copy(),
                          probs_source="t", objective=Objective("t", "t", np.zeros((latent.dims, latent.categories)),
                                                                full=exact.f[:, b].copy()),
                          trials=REPLICATES, seed=0)  # fmt: skip
        moments = exact_moments(problem, spec)
        np.testing.assert_allclose(moments.mean, exact.logit_gradient[b], atol=1e-12)
        se = np.sqrt((moments.fourth_central - moments.variance**2) / REPLICATES)
        assert np.abs((var_g[b] - moments.variance) / se).max() < 5
    # the decoder's unordered-set weights: E[Σ_s w_s f(s)] = E_q[f] (the ELBO), distinct samples
    weighted = (est.weights * est.f).sum(axis=1)
    z_elbo = (weighted.mean(axis=0) - exact.elbo) / np.sqrt(weighted.var(axis=0, ddof=1) / REPLICATES)
    assert np.abs(z_elbo).max() < 5
    codes = np.ravel_multi_index(np.moveaxis(est.z, -1, 0), (latent.categories,) * latent.dims)
    assert (np.diff(np.sort(codes, axis=1), axis=1) > 0).all()


@pytest.mark.parametrize(
    ("arch_name", "latent", "structured"),
    [("linear", Latent(2, 3), False), ("mlp", Latent(2, 3), False), ("mlp", Latent(3, 2, binary=True), False),
     ("linear", Latent(2, 3), True)],
)  # fmt: skip
def test_relaxed_f_is_f_at_one_hot_and_its_gradient_matches_central_differences(arch_name, latent, structured):
    arch, params, x, mean = model(latent, structured=structured, arch_name=arch_name)
    objective, _ = objective_and_probs(arch, params, x, mean)
    z = network.all_configurations(latent)[:, None, :].repeat(len(x), axis=1)
    one_hot = (np.arange(latent.categories) == z[..., None]).astype(float)
    f_relaxed, _ = objective.relaxed(one_hot)
    np.testing.assert_allclose(f_relaxed, objective(z), rtol=1e-13, atol=1e-12)
    rng = np.random.default_rng(5)
    y = rng.dirichlet(np.ones(latent.categories), size=(3, len(x), latent.dims))
    _, grad = objective.relaxed(y)
    h = 1e-6
    expected = np.empty_like(y)
    for index in np.ndindex(y.shape[2:]):
        plus, minus = y.copy(), y.copy()
        plus[(slice(None), slice(None), *index)] += h
        minus[(slice(None), slice(None), *index)] -= h
        difference = objective.relaxed(plus)[0] - objective.relaxed(minus)[0]
        expected[(slice(None), slice(None), *index)] = difference / (2 * h)
    assert np.abs(grad - expected).max() / np.abs(expected).max() < 1e-6


def _legendre(a, b, count):
    nodes, weights = np.polynomial.legendre.leggauss(count)
    return a + (b - a) * (nodes + 1) / 2, weights * (b - a) / 2


@pytest.mark.parametrize(
    ("name", "temperature"), [("gumbel-softmax", 0.5), ("gumbel-softmax", 1.0), ("gumbel-st", 0.7)]
)
def test_relaxed_mean_is_its_own_exact_expectation_by_quadrature(name, temperature):
    """Binary latents: y_{d,1} = σ((φ_d + L_d)/τ), L_d = logit(u_d) logistic; E over (u_1, u_2) by Gauss–Legendre."""
    latent = Latent(2, 2, binary=True)
    arch, params, x, mean = model(latent, batch=1)
    objective, probs = objective_and_probs(arch, params, x, mean)
    spec = get_estimator(f"{name}:{temperature}")
    phi = np.log(probs[0, :, 1]) - np.log(probs[0, :, 0])

    def expectation(count):
        axes = []
        for d in range(2):  # split at the flip of z_d (u* = σ(−φ_d)): the straight-through integrand jumps there
            cut = 1.0 / (1.0 + np.exp(phi[d]))
            (n1, w1), (n2, w2) = _legendre(0.0, cut, count), _legendre(cut, 1.0, count)
            axes.append((np.concatenate([n1, n2]), np.concatenate([w1, w2])))
        u = np.stack(np.meshgrid(axes[0][0], axes[1][0], indexing="ij"), axis=-1).reshape(-1, 2)
        w = np.outer(axes[0][1], axes[1][1]).ravel()
        s = phi + np.log(u) - np.log1p(-u)
        y1 = 1.0 / (1.0 + np.exp(-s / temperature))
        y = np.stack([1.0 - y1, y1], axis=-1)[:, None]  # (N, 1, 2, 2)
        at = (np.arange(2) == (s > 0)[..., None]).astype(float)[:, None] if name == "gumbel-st" else y
        _, grad = objective.relaxed(at)
        g = y * (grad - (y * grad).sum(axis=-1, keepdims=True)) / temperature
        return np.tensordot(w, g[:, 0], axes=1)

    exact = expectation(200)
    np.testing.assert_allclose(expectation(100), exact, atol=1e-9)
    est = gradients.logit_gradients(spec, probs, objective, 2, seed=3, replicates=REPLICATES)
    mean_g, se = est.g.mean(axis=0)[0], np.sqrt(est.g.var(axis=0, ddof=1)[0] / REPLICATES)
    assert np.abs((mean_g - exact)[:, 1] / se[:, 1]).max() < 5
    # biased by design: the relaxation's expectation is not the exact gradient
    truth = network.exact(arch, params, x, mean).logit_gradient[0]
    assert np.abs(exact - truth)[:, 1].max() > 1e-3
    assert np.isfinite(est.g).all()


@pytest.mark.parametrize("name", JOINT)
def test_same_seed_same_estimates_and_replicates_are_trials(name):
    latent = Latent(2, 3)
    arch, params, x, mean = model(latent)
    objective, probs = objective_and_probs(arch, params, x, mean)
    spec = get_estimator(name)
    many = gradients.logit_gradients(spec, probs, objective, 3, seed=5, replicates=4)
    one = gradients.logit_gradients(spec, probs, objective, 3, seed=5, replicates=1)
    np.testing.assert_array_equal(many.g[0], one.g[0])
    np.testing.assert_array_equal(gradients.logit_gradients(spec, probs, objective, 3, seed=5, replicates=4).g, many.g)
    other = gradients.logit_gradients(spec, probs, objective, 3, seed=6, replicates=1)
    assert not np.array_equal(other.g[0], one.g[0])


def test_uniform_weights_are_the_default_backward():
    arch, params, x, mean = model(Latent(2, 3))
    z = np.random.default_rng(0).integers(0, 3, size=(3, len(x), 2))
    fwd = network.forward(arch, params, x, z, mean)
    g = np.ones((len(x), 2, 3))
    plain = network.backward(arch, params, fwd, g)
    weighted = network.backward(arch, params, fwd, g, np.full((3, len(x)), 1 / 3))
    for key, value in plain.items():
        np.testing.assert_allclose(weighted[key], value, rtol=1e-13, atol=1e-15)


def test_refusals_and_evaluation_counts():
    unord, arsm, st = get_estimator("unord"), get_estimator("arsm"), get_estimator("gumbel-st")
    assert gradients.refusal(unord, 3, 4, 2) is None
    assert "exceeds the K^D = 3" in gradients.refusal(unord, 3, 4, 1)
    with pytest.raises(InputError, match="at most 10"):
        gradients.check_estimators([unord], 10, 11, 20)
    assert "overflows float64" in gradients.refusal(get_estimator("gumbel-softmax:1e-320"), 3, 2, 2)
    assert gradients.refusal(get_estimator("gumbel-st:1e-300"), 3, 2, 2) is None
    assert gradients_joint.evaluations(arsm, 10, 4) == 46 and gradients_joint.evaluations(unord, 10, 4) == 4
    assert gradients_joint.evaluations_per_step(arsm, 4, 3, 5) == 35
    assert gradients_joint.evaluations_per_step(st, 4, 3, 5) == 30


@pytest.mark.parametrize("name", JOINT)
def test_training_steps_run_and_repeat(name):
    from carms_cli.analysis.vae import VaeConfig, make_setup
    from carms_cli.models.data import resolve

    config = VaeConfig(data="planted:2x3", dims=2, categories=3, binary=False, arch="linear", hidden=4, samples=3,
                       estimators=(name,), steps=3, batch=4, lr=1e-2, prior_lr=1e-1, binarisation="dynamic",
                       eval_every=3, eval_k=2, eval_examples=5, variance_replicates=3, variance_batch=2,
                       seeds=(0,))  # fmt: skip
    setup = make_setup(config, resolve("planted:2x3", 8, 0))
    spec = get_estimator(name)
    states = []
    for _ in range(2):
        state = training.start(setup, 0)
        for _ in range(3):
            training.train_step(setup, spec, 0, state)
        states.append(state)
    for key, value in states[0].params.items():
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(value, states[1].params[key])
    assert not np.array_equal(states[0].params["enc.w0"], training.start(setup, 0).params["enc.w0"])


def test_variance_study_flags_the_relaxations_and_passes_unord_and_arsm():
    arch, params, x, mean = model(Latent(2, 3), batch=2)
    frozen = variance.Frozen(arch, params, x, mean)
    specs = [get_estimator(name) for name in ("loorf", "unord", "arsm", "gumbel-softmax:1", "gumbel-st:1")]
    rows = {row.estimator: row for row in variance.study(frozen, specs, [3], 4000, 0, 1e-3)}
    assert all(row.bias_reference == "exact" for row in rows.values())
    assert not rows["unord"].biased and not rows["arsm"].biased and not rows["loorf"].biased
    assert rows["gumbel-softmax:1"].biased and rows["gumbel-st:1"].biased
    assert rows["arsm"].variance_times_evaluations == pytest.approx(rows["arsm"].variance_total * 4)


def test_cli_variance_and_train_with_the_joint_estimators(cli):
    result = cli("vae", "variance", "--binary", 3, "--pixels", 8, "-n", 2, "-e", "loorf,unord,arsm,gumbel-softmax:0.5",
                 "-r", 3000, "--batch", 2, "--json", "-")  # fmt: skip
    assert result.code == 0, result.err
    rows = {r["estimator"]: r for r in result.json()["results"]}
    assert not rows["unord"]["biased"] and not rows["arsm"]["biased"] and rows["gumbel-softmax:0.5"]["biased"]
    assert rows["arsm"]["variance_times_evaluations"] == pytest.approx(rows["arsm"]["variance_total"] * 2)
    train = cli("vae", "train", "--data", "planted:2x3", "--latent", "2x3", "--pixels", 8, "--steps", 2,
                "--eval-every", 2, "--batch", 5, "--eval-examples", 10, "--eval-k", 2, "--replicates", 3,
                "--variance-batch", 2, "-n", 3, "-e", "unord,arsm,gumbel-st", "-q", "--json", "-")  # fmt: skip
    assert train.code == 0, train.err
    counts = {r["estimator"]: r["evaluations_per_step"] for r in train.json()["runs"]}
    assert counts == {"unord": 15, "arsm": 20, "gumbel-st:1": 30}
