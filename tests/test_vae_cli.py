"""``carms vae train``: records, determinism, checkpoints and --resume, refusals."""

import json

import numpy as np
import pytest

from carms_cli.analysis import vae
from carms_cli.models import data

SMALL = ("--pixels", 8, "--steps", 6, "--eval-every", 3, "--batch", 5, "--eval-examples", 20, "--eval-k", 3,
         "--replicates", 5, "--variance-batch", 3, "-q")  # fmt: skip


def numbers(record: dict) -> dict:
    """The record without its timings."""
    record = json.loads(json.dumps(record))
    for run in record["runs"]:
        run.pop("ms_per_step")
    for row in record["summary"]:
        row.pop("ms_per_step")
    return record


def test_json_record_and_same_seed_same_numbers(cli, tmp_path):
    args = ("vae", "train", "--data", "planted:2x3", "--latent", "2x3", "-e", "loorf,carms", "--seeds", "0,1", *SMALL)
    first = cli(*args, "--json", "-")
    assert first.code == 0, first.err
    record = first.json()
    assert record["schema"] == "carms-cli/vae-train/1"
    runs = [(r["seed"], r["estimator"]) for r in record["runs"]]
    assert runs == [(0, "loorf"), (0, "carms"), (1, "loorf"), (1, "carms")]
    run = record["runs"][1]
    assert [c["step"] for c in run["checkpoints"]] == [3, 6]
    assert run["evaluations_per_step"] == 4 * 5
    last = run["checkpoints"][-1]
    assert all(np.isfinite(last[k]) for k in vae.SUMMARY_FIELDS)
    assert record["runs"][0]["checkpoints"][-1]["variance_ratio_to_loorf"] == 1.0
    assert record["summary"][1]["train_neg_elbo"]["sd"] is not None  # two seeds
    second = cli(*args, "--json", "-")
    assert numbers(second.json()) == numbers(record)
    csv_path = tmp_path / "v.csv"
    assert cli(*args, "--csv", csv_path).code == 0
    assert len(csv_path.read_text().splitlines()) == 1 + 4 * 2


def test_estimators_share_start_and_minibatches():
    """Parameters at the start and each step's minibatch depend on (seed, step) only, not on the estimator."""
    from carms_cli.analysis.vae import VaeConfig, make_setup
    from carms_cli.discrete.registry import get_estimator
    from carms_cli.models import training

    config = VaeConfig("planted:2x3", 2, 3, False, "linear", 4, 3, ("loorf", "carms"), 1, 5, 1e-3, 1e-2,
                       "dynamic", 1, 3, 10, 5, 3, (0,))  # fmt: skip
    setup = make_setup(config, data.planted(2, 3, 8, (40, 10, 10), 0))
    seen = {}

    def spy(setup_, seed, step):
        seen.setdefault(step, []).append(original(setup_, seed, step))
        return seen[step][-1]

    original = training.minibatch
    training.minibatch = spy
    try:
        starts = []
        for name in config.estimators:
            state = training.start(setup, 0)
            starts.append({k: v.copy() for k, v in state.params.items()})
            for _ in range(2):
                training.train_step(setup, get_estimator(name), 0, state)
    finally:
        training.minibatch = original
    for name in starts[0]:
        np.testing.assert_array_equal(starts[0][name], starts[1][name])
    for step in (0, 1):
        np.testing.assert_array_equal(seen[step][0], seen[step][1])
    assert not np.array_equal(seen[0][0], seen[1][0])
    assert not np.array_equal(training.start(setup, 1).params["enc.w0"], starts[0]["enc.w0"])


def test_resume_continues_bit_for_bit(tmp_path):
    config = vae.VaeConfig("planted:2x3", 2, 3, False, "linear", 4, 3, ("loorf", "carms"), 6, 5, 1e-3, 1e-2,
                           "dynamic", 2, 3, 10, 5, 3, (0,))  # fmt: skip
    dataset = data.planted(2, 3, 8, (40, 10, 10), 0)
    whole = vae.vae_record(config, dataset)
    path = str(tmp_path / "state.npz")

    def interrupt(done):
        if done == 6 + 5:  # in the second run, after its checkpoint at step 4
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vae.vae_record(config, dataset, path, progress=interrupt)
    resumed = vae.vae_record(config, dataset, path, resume=True)
    assert numbers(resumed.to_dict()) == numbers(whole.to_dict())
    other = vae.VaeConfig(**{**config.__dict__, "lr": 2e-3})
    with pytest.raises(data.InputError, match="other options .*lr"):
        vae.vae_record(other, dataset, path, resume=True)


def test_binary_vae_and_plot(cli, tmp_path):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "v.png"
    result = cli("vae", "train", "--data", "planted:3", "--binary", 3, "-e", "loorf,arm,disarm", "-n", 2, *SMALL[:-1],
                 "--plot", figure)  # fmt: skip
    assert result.code == 0, result.err
    assert "disarm" in result.out and "÷loorf" in result.out
    assert figure.stat().st_size > 0


def test_npz_data_and_mlp(cli, tmp_path):
    ds = data.planted(2, 3, 8, (40, 10, 10), 1)
    path = tmp_path / "d.npz"
    np.savez(path, train=ds.train.astype(np.uint8), valid=ds.valid.astype(np.uint8), test=ds.test * 0.9)
    result = cli("vae", "train", "--data", path, "--latent", "2x3", "--arch", "mlp", "--hidden", 6, "-e", "loorf",
                 "--binarisation", "static", *SMALL, "--json", "-")  # fmt: skip
    assert result.code == 0, result.err
    assert "8-6-6-6" in result.json()["model"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "nothing.npz"), "no such file"),
        (("--data", "planted:2y3"), "planted:DxC"),
        (("--latent", "2"), "--latent expects DxC"),
        (("--latent", "2x3", "--binary", "3"), "cannot both"),
        (("-e", "carms-ref"), "does not run on models"),
        (("-e", "unord", "-n", "11"), "must be at most 10"),
        (("--latent", "1x3", "-e", "unord", "-n", "4"), "exceeds the K^D = 3 configurations"),
        (("-e", "arm"), "binary"),
        (("--resume",), "--resume needs --checkpoint"),
        (("--steps", "0"), "--steps must be at least 1"),
        (("--lr", "nan"), "--lr must be a positive number"),
        (("--seeds", "a"), "--seeds expects"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, message):
    result = cli("vae", "train", *args, "-q")
    assert result.code == 2
    assert result.err.count("\n") == 1 and message in result.err, result.err


def test_resume_from_a_missing_or_foreign_file(cli, tmp_path):
    missing = cli("vae", "train", "--checkpoint", tmp_path / "none.npz", "--resume", "-q")
    assert missing.code == 2 and "no checkpoint" in missing.err
    foreign = tmp_path / "f.npz"
    np.savez(foreign, x=np.zeros(2))
    result = cli("vae", "train", "--checkpoint", foreign, "--resume", "-q")
    assert result.code == 2 and "not a readable checkpoint" in result.err


def test_variance_at_frozen_parameters_exact_and_against_loorf(cli):
    small = cli("vae", "variance", "--latent", "2x3", "--pixels", 8, "-n", "2,3", "-e", "reinforce,loorf,carms",
                "-r", 3000, "--batch", 3, "--warmup-steps", 2, "--json", "-")  # fmt: skip
    assert small.code == 0, small.err
    rows = small.json()["results"]
    assert [(r["estimator"], r["samples"]) for r in rows] == [
        (name, n) for n in (2, 3) for name in ("reinforce", "loorf", "carms")
    ]
    assert all(r["bias_reference"] == "exact" and not r["biased"] for r in rows)
    assert rows[1]["variance_ratio_to_loorf"] == 1.0 and rows[0]["variance_ratio_to_loorf"] > 1.0
    # at the papers' size nothing is enumerable: every unbiased estimator's mean agrees with LOORF's
    big = cli("vae", "variance", "--latent", "20x10", "--pixels", 8, "-e", "loorf,carms", "-r", 400, "--batch", 2,
              "--json", "-")  # fmt: skip
    assert big.code == 0, big.err
    assert all(r["bias_reference"] == "loorf" and not r["biased"] for r in big.json()["results"])


def test_variance_table_and_csv(cli, tmp_path):
    path = tmp_path / "v.csv"
    result = cli("vae", "variance", "--binary", 3, "--pixels", 8, "-n", 2, "-e", "loorf,disarm", "-r", 200,
                 "--batch", 2, "--csv", path)  # fmt: skip
    assert result.code == 0, result.err
    assert "disarm" in result.out and "vs exact" in result.out
    assert len(path.read_text().splitlines()) == 3


def test_import_amat_and_mat(cli, tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    train, test = (rng.random((20, 6)) < 0.5).astype(float), (rng.random((5, 6)) < 0.5).astype(float)
    np.savetxt(tmp_path / "train.amat", train, fmt="%d")
    np.savetxt(tmp_path / "test.amat", test, fmt="%d")
    out = tmp_path / "a.npz"
    result = cli("vae", "import", "--train", tmp_path / "train.amat", "--test", tmp_path / "test.amat", "--out", out)
    assert result.code == 0, result.err
    assert "train 18, valid 2, test 5" in result.out
    loaded = data.load_npz(str(out))
    np.testing.assert_array_equal(np.vstack([loaded.train, loaded.valid]), train)
    with np.load(out) as archive:
        assert archive["train"].dtype == np.uint8
    savemat(tmp_path / "o.mat", {"data": train.T * 0.5, "testdata": test.T})
    mat = tmp_path / "o.mat"
    result = cli("vae", "import", "--train", f"{mat}:data", "--valid", f"{mat}:data", "--test", f"{mat}:testdata",
                 "--transpose", "--out", tmp_path / "o.npz")  # fmt: skip
    assert result.code == 0, result.err
    np.testing.assert_allclose(data.load_npz(str(tmp_path / "o.npz")).train, train * 0.5)
    bad = cli("vae", "import", "--train", mat, "--test", f"{mat}:testdata", "--out", tmp_path / "x.npz")
    assert bad.code == 2 and "data, testdata" in bad.err and bad.err.count("\n") == 1
    untransposed = cli("vae", "import", "--train", f"{mat}:data", "--test", f"{mat}:testdata", "--out", tmp_path / "x")
    assert untransposed.code == 2 and "--out must end in .npz" in untransposed.err
    untransposed = cli("vae", "import", "--train", f"{mat}:data", "--test", f"{mat}:testdata", "--out", out)
    assert untransposed.code == 2 and "different image sizes [5, 20]" in untransposed.err


def test_same_numbers_whatever_the_blas_thread_count(tmp_path):
    """BLAS runs on one thread inside the command, so the machine's thread settings change nothing."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    records = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(root)}
        out = subprocess.run(
            [sys.executable, "-m", "carms_cli", "vae", "train", "--data", "planted:2x3", "--latent", "2x3",
             "--arch", "mlp", "--hidden", "40", "-e", "loorf", *map(str, SMALL), "--json", "-"],
            capture_output=True, text=True, env=env, check=True,
        ).stdout  # fmt: skip
        records.append(numbers(json.loads(out)))
    assert records[0] == records[1]


def test_structured_prediction(cli):
    result = cli("vae", "train", "--structured", "-e", "loorf,carms", *SMALL, "--json", "-")
    assert result.code == 0, result.err
    record = result.json()
    assert record["config"]["structured"] and "upper 4 → lower 4 px" in record["model"]
    last = record["runs"][1]["checkpoints"][-1]
    assert last["test_neg_bound"] <= last["test_neg_elbo"] + 0.5  # −log mean p ≤ −mean log p, up to sampling
    variance = cli("vae", "variance", "--structured", "--pixels", 8, "-e", "loorf,carms", "-r", 2000, "--batch", 2,
                   "--json", "-")  # fmt: skip
    assert variance.code == 0, variance.err
    assert all(r["bias_reference"] == "exact" and not r["biased"] for r in variance.json()["results"])
    assert cli("vae", "train", "--structured", "--pixels", 1, "-q").code == 2
