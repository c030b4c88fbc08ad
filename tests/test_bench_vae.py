"""``carms bench --family vae``: training steps and variance measurements of the linear 20×10 model, timed.

Timings are not asserted (the machine is shared); the record's structure, its consistency (ms per
step and the medians from the kept repetitions, the targets' flags) and bad input are.
"""

import numpy as np
import pytest

SMALL = ["bench", "--family", "vae", "--steps", "2", "-r", "2", "--replicates", "3", "--variance-batch", "2"]


def test_record_and_table(cli):
    record = cli(*SMALL, "-e", "loorf,carms", "--json", "-").json()
    config = record["config"]
    assert config["family"] == "vae" and config["pixels"] == 784 and config["variance_batch"] == 2
    assert config["targets"] == {"ms_per_step": 2.0, "variance_seconds": 1.0}
    assert "planted:20x10" in config["dataset"]
    assert [case["estimator"] for case in record["cases"]] == ["loorf", "carms"]
    for case in record["cases"]:
        assert len(case["step_seconds"]) == len(case["variance_seconds"]) == 2
        assert case["ms_per_step"] == pytest.approx(1000 * float(np.median(case["step_seconds"])) / 2)
        assert case["variance_seconds_median"] == pytest.approx(float(np.median(case["variance_seconds"])))
        assert case["meets_step_target"] == (case["ms_per_step"] <= 2.0)
        assert case["meets_variance_target"] == (case["variance_seconds_median"] <= 1.0)
    table = cli(*SMALL[:-4], "-r", "1")
    assert table.code == 0, table.err
    for text in ["vae", "ms/step", "variance s", "loorf", "carms", "target ≤ 2 ms per step"]:
        assert text in table.out


def test_data_file_is_accepted(cli, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, **{split: (rng.random((30, 16)) < 0.3).astype(np.float64) for split in ("train", "valid", "test")})
    record = cli(*SMALL, "-e", "loorf", "--data", str(path), "--json", "-").json()
    assert record["config"]["pixels"] == 16 and "tiny.npz" in record["config"]["dataset"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "arm"], "arm"),
        (["-e", "nope"], "unknown estimator"),
        (["--steps", "0"], "--steps"),
        (["--replicates", "1"], "--replicates"),
        (["--backend", "cuda"], "--backend cpu"),
    ],
)
def test_bad_input_exits_2(cli, args, message):
    result = cli(*SMALL, *args)
    assert result.code == 2 and message in result.err


def test_data_belongs_to_the_vae_family(cli):
    result = cli("bench", "--data", "x.npz", "--no-startup")
    assert result.code == 2 and "--data belongs to --family vae" in result.err
