"""``carms sweep``: the continuous family, the checks before sampling and ``--resume``."""

import csv
import io
import json
import shlex

import pytest

from carms_cli.analysis import continuous_sweep
from carms_cli.analysis.sweep import DISCRETE, parse_number_axis
from carms_cli.continuous.exact import exact_moments
from carms_cli.core.errors import InputError

SWEEP = ["sweep", "--family", "continuous", "-o", "square", "-n", 2, "-e", "score,pathwise,mvd", "-t", 4000, "-q"]


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def grid_rows(tmp_path_factory):
    """A 2 (μ) × 2 (k) × 2 (parameter) grid with --exact, as JSON Lines."""
    from carms_cli.cli.app import main

    path = tmp_path_factory.mktemp("sweep") / "rows.jsonl"
    assert main([str(a) for a in SWEEP] + ["--mu", "0,1", "--k=-1,1", "--exact", "--jsonl", str(path)]) == 0
    return _rows(path)


def test_rows_fields_and_grid_order(grid_rows):
    family = continuous_sweep.family("gaussian")
    assert len(grid_rows) == 2 * 2 * 2 * 3
    assert all(tuple(row) == family.row_fields for row in grid_rows)
    assert [(r["mu"], r["k"], r["param"], r["estimator"]) for r in grid_rows[:4]] == [
        (0.0, -1.0, "mu", "score"),
        (0.0, -1.0, "mu", "pathwise"),
        (0.0, -1.0, "mu", "mvd"),
        (0.0, -1.0, "sigma", "score"),
    ]
    assert {r["objective"] for r in grid_rows} == {"square"} and {r["sigma"] for r in grid_rows} == {1.0}
    # MVD: 2 evaluations per sample and reported coordinate; one parameter per run
    assert {r["evaluations_per_estimate"] for r in grid_rows if r["estimator"] == "mvd"} == {4}
    assert all(r["unbiased"] for r in grid_rows)
    # the declared discrete rows are what the discrete sweep writes (the contract of the README)
    assert DISCRETE.row_fields[:5] == ("categories", "samples", "dims", "alpha", "objective")


def test_exact_column_is_exact_moments_and_close_to_monte_carlo(grid_rows):
    for row in grid_rows:
        point = continuous_sweep.ContinuousPoint(
            "gaussian", (("mu", row["mu"]), ("sigma", row["sigma"])), "square", row["k"], row["param"], 2, 1
        )
        problem = continuous_sweep.build_point_problem(point, row["trials"], row["seed"])
        exact = exact_moments(problem, row["estimator"])
        assert row["variance_exact_total"] == float(exact.variance.sum())
        if row["variance_exact_total"] > 1e-20:  # MVD-μ at k = μ has variance 0: both are rounding (1e-32)
            assert row["variance_exact_z_max"] < 5.0
    # the spec's closed forms (square cost, d = μ − k, σ = 1, n = 2): score-μ (d⁴ + 14d² + 15)/2
    score_mu = next(r for r in grid_rows if (r["mu"], r["k"], r["param"], r["estimator"]) == (1.0, -1.0, "mu", "score"))
    assert score_mu["variance_exact_total"] == pytest.approx((16 + 14 * 4 + 15) / 2, rel=1e-12)


def test_seed_of_a_point_depends_on_its_coordinates_only(cli, grid_rows):
    alone = cli(*SWEEP, "--mu", "1", "--k", "1", "--param", "sigma", "--jsonl", "-").out.splitlines()
    row = json.loads(alone[0])
    same = next(r for r in grid_rows if (r["mu"], r["k"], r["param"], r["estimator"]) == (1.0, 1.0, "sigma", "score"))
    assert row["seed"] == same["seed"] and row["variance_total"] == same["variance_total"]
    assert len({r["seed"] for r in grid_rows}) == 8  # one per point


def test_rerun_command_reproduces_a_row(cli, grid_rows):
    row = grid_rows[-1]
    args = shlex.split(row["command"])
    assert args[:2] == ["carms", "continuous"] and "--exact" in args
    record = cli(*args[1:], "-q", "--json", "-").json()
    entry = next(e for e in record["estimators"] if e["name"] == row["estimator"])
    assert entry["variance_total"] == row["variance_total"]
    assert entry["variance_exact_total"] == row["variance_exact_total"]
    assert record["config"]["seed"] == row["seed"] and record["config"]["parameters"] == [row["param"]]


def test_exact_only_samples_nothing_and_matches_exact(cli, grid_rows):
    out = cli(*SWEEP, "--mu", "0,1", "--k=-1,1", "--exact-only", "--json", "-").json()
    assert out["family"] == "continuous" and out["points"] == 8
    rows = out["rows"]
    assert [r["seed"] for r in rows] == [r["seed"] for r in grid_rows]
    assert [r["variance_exact_total"] for r in rows] == [r["variance_exact_total"] for r in grid_rows]
    assert all(r["trials"] is None and r["variance_total"] is None for r in rows)
    score = {(r["mu"], r["k"], r["param"]): r["variance_exact_total"] for r in rows if r["estimator"] == "score"}
    for r in rows:
        assert r["variance_ratio_to_score"] == r["variance_exact_total"] / score[(r["mu"], r["k"], r["param"])]
    table = cli(*SWEEP[:-1], "--k", "0.5,2", "--exact-only")
    assert table.code == 0 and "nothing sampled" in table.out and "exact var" in table.out and "bias" not in table.out


def test_figure_one_panel_per_parameter(cli, tmp_path):
    path = tmp_path / "fig.png"
    result = cli(*SWEEP, "--k", "0.5:2:3:log", "--exact", "--plot", path)
    assert result.code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    svg = tmp_path / "fig.svg"
    assert cli(*SWEEP, "--k", "0.5,1", "--exact-only", "--plot", svg).code == 0
    assert "<svg" in svg.read_text()
    chart = cli(*SWEEP, "--k", "0.5,1,2", "--exact-only", "--plot", "-")
    assert chart.code == 0
    assert "log10 exact variance of the mu gradient (y) against k (x)" in chart.out and "sigma gradient" in chart.out
    two = cli(*SWEEP, "--k", "0.5,1", "--mu", "0,1", "--exact-only", "--plot", "-")
    assert two.code == 2 and "exactly one swept parameter, got 2 (mu, k)" in two.err


def test_number_axes():
    assert parse_number_axis("-3:3:7", "--k") == ([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0], False)
    values, log = parse_number_axis("0.1:10:3:log", "--k")
    assert values == [0.1, 1.0, 10.0] and log
    assert parse_number_axis("1,0.5,1,-3:-2:2", "--k")[0] == [1.0, 0.5, -3.0, -2.0]
    assert parse_number_axis("0:1:11", "--k")[0][3] == 0.3  # 12 significant digits: prints and re-parses short
    for bad in ("", "a", "1:2", "1:2:1", "1:2:3:cubic", "-1:1:3:log", "nan"):
        with pytest.raises(InputError):
            parse_number_axis(bad, "--k")
    with pytest.raises(InputError, match="positive"):
        parse_number_axis("1,0", "--sigma", positive=True)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--mu", "1"), "--mu is an option of --family continuous"),
        (("--family", "continuous", "-k", "3"), "-k/--categories is an option of --family discrete"),
        (("--family", "continuous", "--probs", "0.5,0.5"), "--probs is an option of --family discrete"),
        (("--family", "continuous", "-o", "poly:1,2", "--k", "1"), "--k needs objectives with one parameter k"),
        (("--family", "continuous", "-o", "square:2", "--k", "1"), "not both"),
        (("--family", "continuous", "--sigma", "1,0"), "--sigma must be positive"),
        (("--family", "continuous", "--rate", "1"), "--rate does not apply to --dist gaussian"),
        (("--family", "continuous", "--dist", "cauchy"), "unknown distribution 'cauchy'"),
        (("--family", "continuous", "-n", "1,2", "-e", "score-loo"), "score-loo needs -n 2 or more"),
        (("--family", "continuous", "--param", "rate"), "--param rate does not apply to --dist gaussian"),
        (("--family", "continuous", "-o", "step", "-e", "pathwise"), "pathwise needs f′"),
        (("--family", "continuous", "--dist", "dirichlet", "--alpha", "1"), "give --dims ≥ 2, got 1"),
        (("--family", "continuous", "--dist", "dirichlet", "-d", "3,1"), "give --dims ≥ 2, got 3, 1"),
        (("--family", "continuous", "--dist", "dirichlet", "-d", "2", "--alpha", "0.05"), "needs --alpha ≥ 0.06"),
        (("--family", "continuous", "--dist", "beta", "--a", "1,0.01"), "needs --a ≥ 0.06"),
        (("--family", "continuous", "--dist", "beta", "--b", "0"), "--b must be positive"),
        (("--family", "continuous", "--dist", "beta", "--kappa", "1"), "--kappa does not apply to --dist beta"),
        (("--family", "continuous", "--dist", "beta", "--param", "kappa"), "--param kappa does not apply"),
        (("--family", "continuous", "--dist", "vonmises", "--kappa", "2e6"), "--kappa must be at most"),
        (("--family", "continuous", "--dist", "vonmises", "--a", "1"), "--a does not apply to --dist vonmises"),
        (("--family", "continuous", "--dist", "vonmises", "-o", "square"), "not 2π-periodic"),
        (("--family", "continuous", "--kappa", "1"), "--kappa does not apply to --dist gaussian"),
        (("--kappa", "1"), "--kappa is an option of --family continuous"),
        (("--b", "1"), "--b is an option of --family continuous"),
    ],
)
def test_bad_grids_are_refused_before_any_sampling(cli, tmp_path, args, words):
    """Every point is validated before any runs (issue 19, item 7): exit 2, one line, no output file."""
    jsonl = tmp_path / "rows.jsonl"
    result = cli("sweep", *args, "-t", 10**9, "-q", "--jsonl", jsonl)
    assert result.code == 2 and words in result.err and result.err.count("\n") == 1, result.err
    assert not jsonl.exists()


def test_other_distributions_and_csv(cli):
    out = cli(
        "sweep",
        "--family",
        "continuous",
        "--dist",
        "gamma",
        "--alpha",
        "2",
        "--rate",
        "0.5,2",
        "-o",
        "square",
        "--k",
        "1",
        "-n",
        2,
        "-e",
        "score,mvd",
        "-t",
        2000,
        "--exact",
        "-q",
        "--csv",
        "-",
    )
    assert out.code == 0
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert list(rows[0]) == list(continuous_sweep.family("gamma").row_fields)
    assert [(r["alpha"], r["rate"], r["param"], r["estimator"]) for r in rows] == [
        ("2.0", "0.5", "rate", "score"),
        ("2.0", "0.5", "rate", "mvd"),
        ("2.0", "2.0", "rate", "score"),
        ("2.0", "2.0", "rate", "mvd"),
    ]
    assert all(r["unbiased"] == "True" and float(r["variance_exact_z_max"]) < 5 for r in rows)


@pytest.mark.parametrize(
    ("dist", "args", "fields", "points"),
    [
        ("vonmises", ("--kappa", "0.5,4", "--mu", "0.3", "-e", "implicit"), ("mu", "kappa"), [(0.3, 0.5), (0.3, 4)]),
        ("beta", ("--a", "0.5,3", "--b", "2", "-e", "implicit,implicit-gamma-ratio"), ("a", "b"), [(0.5, 2), (3, 2)]),
        ("dirichlet", ("--alpha", "0.7,2", "-d", "2", "-e", "implicit,score"), ("alpha",), [(0.7,), (2.0,)]),
    ],
)  # fmt: skip
def test_vonmises_beta_and_dirichlet_sweeps(cli, dist, args, fields, points):
    """The distributions of ``carms continuous`` beyond Gaussian, Exponential and Gamma: rows, exactness, re-runs."""
    base = ["sweep", "--family", "continuous", "--dist", dist, *args, "-o", "cos:1", "-n", 2, "-t", 3000, "--exact"]
    out = cli(*base, "-q", "--json", "-").json()
    rows = out["rows"]
    family = continuous_sweep.family(dist)
    assert family.row_fields[1 : 1 + len(fields)] == fields
    assert all(tuple(row) == family.row_fields for row in rows)
    params = {"vonmises": ["kappa"], "beta": ["a", "b"], "dirichlet": ["alpha"]}[dist]
    estimators = args[args.index("-e") + 1].split(",")
    expected = [(p, q, e) for p in points for q in params for e in estimators]
    assert [(tuple(r[f] for f in fields), r["param"], r["estimator"]) for r in rows] == expected
    assert all(r["distribution"] == dist and r["unbiased"] is True for r in rows)
    assert all(r["variance_exact_total"] > 0 and r["variance_exact_z_max"] < 5 for r in rows)
    row = rows[-1]  # its command re-runs it alone, bit for bit
    record = cli(*shlex.split(row["command"])[1:], "-q", "--json", "-").json()
    entry = next(e for e in record["estimators"] if e["name"] == row["estimator"])
    assert entry["variance_total"] == row["variance_total"] and record["config"]["seed"] == row["seed"]
    table = cli(*base)
    assert table.code == 0 and f"continuous · {dist} · {len(rows) // len(estimators)} grid points" in table.out


def _without_timing(rows):
    return [{k: v for k, v in row.items() if k != "trials_per_second"} for row in rows]


def test_resume_keeps_completed_points_and_runs_the_others(cli, tmp_path):
    """Issue 19, item 8: a JSONL cut anywhere (here inside a point's rows and inside a line) resumes
    to the rows of an uninterrupted run; a file of another sweep is refused."""
    args = ["sweep", "-k", "3,4", "-n", "2..3", "-e", "loorf,carms", "-t", 5000, "-q"]
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    assert cli(*args, "--jsonl", full).code == 0
    lines = full.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:3]) + lines[3][:40])  # point 1 whole, point 2 half, a cut line
    resumed = cli(*args, "--jsonl", part, "--resume", "--json", "-")
    assert resumed.code == 0
    expected = _without_timing(_rows(full))
    assert _without_timing(_rows(part)) == expected == _without_timing(resumed.json()["rows"])
    # the same file resumed with one more point on an axis: only that point runs
    assert (
        cli("sweep", "-k", "3,4", "-n", "2..4", "-e", "loorf,carms", "-t", 5000, "-q", "--jsonl", part, "--resume").code
        == 0
    )
    assert _without_timing(_rows(part))[:8] == expected and len(_rows(part)) == 12
    other = cli("sweep", "-k", "3,4", "-n", "2..3", "-e", "loorf", "-t", 5000, "-q", "--jsonl", part, "--resume")
    assert other.code == 2 and "row of another sweep" in other.err and len(_rows(part)) == 12
    assert cli("sweep", "-k", 3, "-q", "--resume").code == 2  # nothing to resume from


def test_ctrl_c_keeps_completed_points(tmp_path):
    """Ctrl-C: one line naming what was kept, exit 130, every line of the JSONL a whole row."""
    import os
    import signal
    import subprocess
    import sys
    import time

    jsonl = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "carms_cli", *map(str, SWEEP[:-3]), "-t", "200000", "--k", "0.5:5:400"]
    command += ["--jsonl", str(jsonl), "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def default_ctrl_c():  # a pytest worker may ignore or block SIGINT, and a child inherits both
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=default_ctrl_c)
    deadline = time.monotonic() + 120
    while (not jsonl.exists() or jsonl.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # fail here, not as an unraisable warning in a later test
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the sweep did not stop within 60 s of Ctrl-C; stderr: {err!r}") from None
    assert process.returncode == 130, err
    assert err.count("\n") == 1 and "grid points are in" in err and "--resume" in err
    rows = _rows(jsonl)  # every line parses
    assert rows and len(rows) % 3 == 0 and len(rows) < 400 * 2 * 3


def test_discrete_points_are_all_checked_before_the_jsonl_is_touched(cli, tmp_path):
    """Issue 19, item 7: a point whose exact pair pmf is too much work (K = 200) and a --probs that
    fits no point are refused before any sampling, and an earlier --jsonl file is left as it was."""
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text("earlier\n")
    too_big = cli(
        "sweep", "-k", "10,60,200", "-e", "loorf,carms", "-t", 20000, "--jsonl", jsonl, "--csv", tmp_path / "s.csv"
    )
    assert too_big.code == 2 and "pair pmf at K=200" in too_big.err
    probs = cli("sweep", "-k", "3,5", "--probs", "0.5,0.5", "-t", 2000, "--jsonl", jsonl, "-q")
    assert probs.code == 2 and "--probs has 2 categories" in probs.err
    assert jsonl.read_text() == "earlier\n" and not (tmp_path / "s.csv").exists()
