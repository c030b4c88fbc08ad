"""``carms vae``: exact-gradient reference, encoder-parameter variance, variance at a train checkpoint, digits."""

import json

import numpy as np
import pytest

from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.objectives import Objective
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import gradients, network, training
from carms_cli.models.network import Latent
from carms_cli.models.variance import parameter_moments

SMALL = ("--pixels", 8, "--steps", 6, "--eval-every", 3, "--batch", 5, "--eval-examples", 20, "--eval-k", 3,
         "--replicates", 5, "--variance-batch", 3, "-q")  # fmt: skip


def numbers(record: dict) -> dict:
    """The record without its timings."""
    record = json.loads(json.dumps(record))
    for item in record["runs"] + record["summary"]:
        item.pop("ms_per_step")
    return record


def model(arch_name, latent, batch=3, pixels=5, seed=3):
    rng = np.random.default_rng(seed)
    arch = network.architecture(arch_name, pixels, latent, hidden=4)
    x = (rng.random((batch, pixels)) < 0.5).astype(float)
    mean = np.full(pixels, 0.4)
    params = {k: v + rng.normal(size=v.shape) for k, v in network.init_params(arch, mean, seed).items()}
    return arch, params, x, mean


def estimates(arch, params, x, mean, name, samples, replicates, seed=5):
    logits, enc_inputs = network.encode(arch, params, x, mean)
    probs = np.exp(network.log_softmax(logits))

    def objective(z):
        return network.forward(arch, params, x, z, mean, logits=logits).f

    g = gradients.logit_gradients(get_estimator(name), probs, objective, samples, seed, replicates).g
    return g, probs, enc_inputs


# ---- the exact-gradient reference run --------------------------------------------------------------------------


def test_exact_reference_run_in_table_json_and_csv(cli, tmp_path):
    args = ("vae", "train", "--data", "planted:2x3", "--latent", "2x3", "-e", "loorf,exact,carms", *SMALL)
    first = cli(*args, "--json", "-")
    assert first.code == 0, first.err
    record = first.json()
    assert record["config"]["estimators"] == ["loorf", "exact", "carms"]
    exact = record["runs"][1]
    assert exact["estimator"] == "exact" and exact["samples"] == 9 and exact["evaluations_per_step"] == 9 * 5
    for row in exact["checkpoints"]:
        assert row["log10_variance"] is None and row["variance_ratio_to_loorf"] == 0.0
        assert row["encoder_param_log10_variance"] is None and row["encoder_param_variance_ratio_to_loorf"] == 0.0
        assert np.isfinite(row["train_neg_elbo"]) and np.isfinite(row["test_neg_bound"])
    # deterministic: the same numbers again
    assert numbers(cli(*args, "--json", "-").json()) == numbers(record)
    csv_path = tmp_path / "v.csv"
    table = cli(*args[:-1], "--csv", csv_path)
    assert table.code == 0, table.err
    assert "exact" in table.out and "all 9 configurations" in table.out
    assert sum(line.split(",")[1] == "exact" for line in csv_path.read_text().splitlines()) == 2


def test_exact_reference_steps_along_the_enumerated_gradient():
    """One exact step from the shared start is Adam's first step on the enumerated ELBO gradient of the minibatch."""
    from carms_cli.analysis.vae import VaeConfig, make_setup
    from carms_cli.models import data

    config = VaeConfig("planted:2x3", 2, 3, False, "mlp", 4, 3, ("exact",), 1, 5, 1e-3, 1e-2,
                       "dynamic", 1, 3, 10, 5, 3, (0,))  # fmt: skip
    setup = make_setup(config, data.planted(2, 3, 8, (40, 10, 10), 0))
    state = training.start(setup, 0)
    start = {k: v.copy() for k, v in state.params.items()}
    training.train_step(setup, training.estimator("exact"), 0, state)
    g = network.exact_gradient(setup.arch, start, training.minibatch(setup, 0, 0), setup.train_mean)
    for name, value in start.items():
        rate = setup.prior_lr if name == "prior" else setup.lr
        expected = value + rate * g[name] / (np.abs(g[name]) + training.ADAM_EPSILON)
        np.testing.assert_allclose(state.params[name], expected, rtol=1e-12, atol=1e-15)


def test_exact_reference_is_refused_above_4096_configurations(cli):
    result = cli("vae", "train", "--latent", "5x6", "-e", "loorf,exact", *SMALL)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "6^5 configurations" in result.err and "4,096" in result.err


# ---- encoder-parameter gradient variance -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch_name", "latent", "name", "samples"),
    [
        ("linear", Latent(2, 3), "loorf", 3),
        ("mlp", Latent(2, 3), "carms", 3),
        ("mlp", Latent(3, 2, binary=True), "disarm", 2),
    ],
)
def test_parameter_gradient_mean_is_the_exact_parameter_gradient(arch_name, latent, name, samples):
    arch, params, x, mean = model(arch_name, latent)
    replicates = 20_000
    g, _, enc_inputs = estimates(arch, params, x, mean, name, samples, replicates)
    moments = parameter_moments(arch, params, enc_inputs, g)
    exact = network.encoder_gradient(arch, params, enc_inputs, network.exact(arch, params, x, mean).logit_gradient)
    assert set(moments.mean) == set(exact) == {k for k in params if k.startswith("enc.")}
    for key, value in exact.items():
        z = (moments.mean[key] - value) / np.sqrt(moments.variance[key] / replicates)
        assert np.abs(z).max() < 5, key
    # the per-coordinate variance and the total agree with the replicates' parameter gradients taken one by one
    each = network.encoder_gradient(arch, params, enc_inputs, g[:50])
    small = parameter_moments(arch, params, enc_inputs, g[:50])
    for key, value in each.items():
        np.testing.assert_allclose(small.variance[key], value.var(axis=0, ddof=1), rtol=1e-10)
    total = sum(value.var(axis=0, ddof=1).sum() for value in each.values())
    assert small.total == pytest.approx(total, rel=1e-10)


def test_linear_encoder_parameter_variance_is_the_transformed_logit_covariance(monkeypatch):
    """Linear encoder: ∂S/∂W_pk = (1/B) Σ_b x̃_bp G_bk and ∂S/∂c_k = (1/B) Σ_b G_bk (x̃ = x − x̄).

    So Var(∂W_pk) = (1/B²) Σ_{b,b'} x̃_bp x̃_b'p Cov(G_bk, G_b'k), in sample exactly (any chunking);
    the examples' estimates are independent, so in expectation the total is
    (1/B²) Σ_b (‖x̃_b‖² + 1) Σ_k Var(G_bk), with Var(G_bk) from the discrete family's exact oracle.
    """
    from carms_cli.models import variance

    latent = Latent(2, 3)
    arch, params, x, mean = model("linear", latent)
    b = len(x)
    replicates = 20_000
    g, probs, enc_inputs = estimates(arch, params, x, mean, "carms", 3, replicates)
    monkeypatch.setattr(variance, "CHUNK_FLOATS", 1000)  # several chunks
    moments = parameter_moments(arch, params, enc_inputs, g)
    centred = x - mean
    flat = g.reshape(replicates, b, -1)
    cov = np.einsum("rbk,rck->bck", flat - flat.mean(0), flat - flat.mean(0)) / (replicates - 1)  # Cov(G_bk, G_ck)
    expected_w = np.einsum("bp,cp,bck->pk", centred, centred, cov) / b**2
    expected_b = cov.sum(axis=(0, 1)) / b**2
    np.testing.assert_allclose(moments.variance["enc.w0"], expected_w, rtol=1e-9)
    np.testing.assert_allclose(moments.variance["enc.b0"], expected_b, rtol=1e-9)
    # against the exact per-example variances
    exact = network.exact(arch, params, x, mean)
    oracle = 0.0
    for i in range(b):
        problem = Problem(
            categories=latent.categories, samples=3, dims=latent.dims, probs=probs[i].copy(), probs_source="test",
            objective=Objective("t", "t", np.zeros((latent.dims, latent.categories)), full=exact.f[:, i].copy()),
            trials=replicates, seed=0,
        )  # fmt: skip
        oracle += (centred[i] @ centred[i] + 1.0) * exact_moments(problem, get_estimator("carms")).variance.sum()
    oracle /= b**2
    assert abs(moments.total - oracle) / (moments.half_width / 1.96) < 5


def test_variance_command_reports_encoder_parameter_variance(cli, tmp_path):
    result = cli("vae", "variance", "--latent", "2x3", "--pixels", 8, "-n", 2, "-e", "loorf,carms", "-r", 300,
                 "--batch", 3, "--json", "-")  # fmt: skip
    assert result.code == 0, result.err
    rows = result.json()["results"]
    assert rows[0]["encoder_param_variance_ratio_to_loorf"] == 1.0
    for row in rows:
        low, high = row["encoder_param_variance_ci95"]
        assert 0 < low < row["encoder_param_variance_total"] < high
        assert row["encoder_param_variance_times_evaluations"] == pytest.approx(2 * row["encoder_param_variance_total"])
    table = cli("vae", "variance", "--latent", "2x3", "--pixels", 8, "-n", 2, "-e", "loorf,carms", "-r", 300,
                "--batch", 3, "--csv", tmp_path / "v.csv")  # fmt: skip
    assert "param var ±95%" in table.out
    header = (tmp_path / "v.csv").read_text().splitlines()[0]
    assert "encoder_param_variance_total" in header


# ---- scikit-learn's digits ---------------------------------------------------------------------------------------


def test_digits_load_split_and_train(cli):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from carms_cli.models import data

    digits = data.resolve("digits", 32, 7)
    assert (digits.train.shape, digits.valid.shape, digits.test.shape) == ((1397, 64), (200, 64), (200, 64))
    everything = np.vstack([digits.train, digits.valid, digits.test])
    original = load_digits().data / 16.0
    assert everything.min() == 0.0 and everything.max() == 1.0 and not digits.binary
    # a permutation of all 1,797 images, the same whatever the run's seed
    np.testing.assert_array_equal(np.sort(everything, axis=0), np.sort(original, axis=0))
    assert {tuple(row) for row in everything} == {tuple(row) for row in original}
    np.testing.assert_array_equal(data.resolve("digits", 8, 0).test, digits.test)
    result = cli("vae", "train", "--data", "digits", "--latent", "2x3", "-e", "loorf", "--binarisation", "static",
                 *SMALL, "--json", "-")  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["dataset"] == "digits (scikit-learn): 1,397/200/200 train/valid/test images of 64 pixels"


def test_digits_without_scikit_learn_is_one_line_exit_2(cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for command in ("train", "variance"):
        result = cli("vae", command, "--data", "digits", "-q")
        assert result.code == 2 and result.err.count("\n") == 1, result.err
        assert "pip install 'carms-cli[digits]'" in result.err


# ---- variance at a train checkpoint ------------------------------------------------------------------------------


def test_variance_at_the_parameters_a_train_checkpoint_saved(cli, tmp_path):
    from carms_cli.analysis.vae import VaeConfig, make_setup
    from carms_cli.models import checkpoint, data
    from carms_cli.models.variance import Frozen, study

    path = tmp_path / "state.npz"
    trained = cli("vae", "train", "--data", "planted:2x3", "--latent", "2x3", "--arch", "mlp", "--hidden", 5,
                  "-e", "loorf,carms", "--seeds", 1, "--checkpoint", path, *SMALL, "--json", "-")  # fmt: skip
    assert trained.code == 0, trained.err
    saved = checkpoint.parameters(str(path))
    assert (saved.estimator, saved.seed, saved.step, saved.pixels) == ("carms", 1, 6, 8)
    # the file holds the parameters the last run ended with: retrain it here
    config = VaeConfig(**{**trained.json()["config"], "estimators": ("carms",), "seeds": (1,)})
    dataset = data.planted(2, 3, 8, data.PLANTED_SIZES, 1)
    setup = make_setup(config, dataset)
    state = training.start(setup, 1)
    while state.step < config.steps:
        training.train_step(setup, get_estimator("carms"), 1, state)
    assert set(saved.params) == set(state.params)
    for name, value in state.params.items():
        np.testing.assert_array_equal(saved.params[name], value)
    # vae variance --checkpoint measures at exactly those parameters (the train run's data seed, its own --seed)
    result = cli("vae", "variance", "--checkpoint", path, "-n", 2, "-e", "loorf,carms", "-r", 200, "--batch", 3,
                 "--seed", 0, "--json", "-")  # fmt: skip
    assert result.code == 0, result.err
    record = result.json()
    assert record["parameters"] == {"seed": 1, "estimator": "carms", "step": 6}
    assert record["config"]["arch"] == "mlp" and record["config"]["hidden"] == 5
    eval_setup = make_setup(VaeConfig(**{**config.__dict__, "seeds": (0,), "variance_batch": 3}), dataset)
    frozen = Frozen(setup.arch, state.params, training.variance_batch(eval_setup, 0), setup.train_mean)
    rows = study(frozen, [get_estimator("loorf"), get_estimator("carms")], [2], 200, 0, 1e-3)
    assert [r["variance_total"] for r in record["results"]] == [r.variance_total for r in rows]
    assert [r["encoder_param_variance_total"] for r in record["results"]] == [
        r.encoder_param_variance_total for r in rows
    ]
    table = cli("vae", "variance", "--checkpoint", path, "--arch", "mlp", "--latent", "2x3", "-n", 2, "-r", 20,
                "--batch", 2)  # fmt: skip
    assert table.code == 0, table.err
    assert f"parameters from {path} (carms, seed 1, step 6)" in table.out.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--arch", "linear"), "--arch linear conflicts with the checkpoint's --arch mlp"),
        (("--latent", "3x2"), "--latent 3x2 conflicts with the checkpoint's --latent 2x3"),
        (("--binary", "2"), "--binary 2 conflicts with the checkpoint's --latent 2x3"),
        (("--hidden", "6"), "--hidden 6 conflicts"),
        (("--pixels", "9"), "--pixels 9 conflicts"),
        (("--data", "planted:3x3"), "--data planted:3x3 conflicts"),
        (("--structured",), "--structured conflicts with the checkpoint's model"),
        (("--warmup-steps", "2"), "--warmup-steps does not apply"),
    ],
)
def test_variance_checkpoint_conflicts_are_one_line_exit_2(cli, tmp_path, args, message):
    path = tmp_path / "state.npz"
    trained = cli("vae", "train", "--data", "planted:2x3", "--latent", "2x3", "--arch", "mlp", "--hidden", 5,
                  "-e", "loorf", "--checkpoint", path, *SMALL)  # fmt: skip
    assert trained.code == 0, trained.err
    result = cli("vae", "variance", "--checkpoint", path, *args, "-q")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert message in result.err


def test_variance_checkpoint_without_parameters(cli, tmp_path):
    from carms_cli.models import checkpoint

    path = tmp_path / "old.npz"
    checkpoint.save(str(path), {"data": "planted:2x3"}, [], 1, None)
    result = cli("vae", "variance", "--checkpoint", path, "-q")
    assert result.code == 2 and "holds no model parameters" in result.err
    missing = cli("vae", "variance", "--checkpoint", tmp_path / "none.npz", "-q")
    assert missing.code == 2 and "no checkpoint at" in missing.err


def test_memory_estimate_counts_the_parameter_gradient_chunk():
    from carms_cli.models import memory, variance

    assert memory.CHUNK_FLOATS == variance.CHUNK_FLOATS
