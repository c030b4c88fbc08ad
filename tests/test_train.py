"""``carms train``: the ARMS toy trajectory, its JSON / CSV, the figure and the terminal chart."""

import csv
import io

import numpy as np
import pytest

FAST = ["--lr", 25, "--steps", 80, "--replicates", 800]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from carms_cli.cli.app import main

    out = tmp_path_factory.mktemp("train")
    code = main(
        [
            "train",
            "--samples",
            "2,4",
            *map(str, FAST),
            "--json",
            str(out / "t.json"),
            "--csv",
            str(out / "t.csv"),
            "--plot",
            str(out / "t.png"),
            "-q",
        ]
    )
    assert code == 0
    return out


def test_arms_variance_stays_below_loorf_across_the_trajectory(toy):
    import json

    record = json.loads((toy / "t.json").read_text())
    assert record["schema"] == "carms-cli/train/1"
    runs = {(t["samples"], t["estimator"]): t for t in record["trajectories"]}
    for n in (2, 4):
        arms, loorf = runs[(n, "arms")], runs[(n, "loorf")]
        assert arms["p"][-1] >= 0.9 - 0.05 and arms["steps"] > 10
        # the ARMS figure's shape: pointwise below LOORF on (almost) every step, exact variance too
        below = np.mean(np.asarray(arms["variance"]) < np.interp(arms["p"], loorf["p"], loorf["variance"]))
        assert below > 0.9
        assert all(
            a < b
            for a, b in zip(
                arms["variance_exact"], np.interp(arms["p"], loorf["p"], loorf["variance_exact"]), strict=True
            )
        )
    # n = 2: ARMS-D is DisARM (exact variances equal at equal p)
    assert np.allclose(runs[(2, "arms")]["variance_exact"][0], runs[(2, "disarm")]["variance_exact"][0])
    # LOORF's plateau at p = 0.5, n = 2 is 2.5e-5 and ARM's 8.3e-6 (spec 14.1)
    loorf2 = runs[(2, "loorf")]
    middle = int(np.argmin(np.abs(np.asarray(loorf2["p"]) - 0.5)))
    assert loorf2["variance_exact"][middle] == pytest.approx(2.5e-5, rel=0.01)
    for t in record["trajectories"]:
        gradients = np.asarray(t["mean_gradient"])
        exact = np.asarray(t["exact_gradient"])
        assert np.all(exact > 0) and abs(np.mean(gradients - exact)) < 5 * np.std(gradients - exact)


def test_csv_rows_and_figure(toy):
    rows = list(csv.DictReader(io.StringIO((toy / "t.csv").read_text())))
    assert {r["estimator"] for r in rows} == {"loorf", "arm", "disarm", "arms", "arms-gauss"}
    assert float(rows[0]["p"]) == pytest.approx(0.1)
    png = (toy / "t.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_svg_and_terminal_chart(cli, tmp_path):
    result = cli("train", "--samples", 4, "-e", "loorf,arms", *FAST, "--plot", tmp_path / "t.svg")
    assert result.code == 0
    assert "n = 4: log10 variance" in result.out and "o loorf" in result.out
    svg = (tmp_path / "t.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_train_input_errors(cli):
    assert cli("train", "--samples", 3, "-e", "arm").code == 2
    assert cli("train", "--p-init", 1.5).code == 2
    bad_plot = cli("train", "--samples", 2, "-e", "loorf", "--steps", 2, "--plot", "/tmp/x.jpg")
    assert bad_plot.code == 2 and "must end in .png or .svg" in bad_plot.err
