"""Shell and CI workflows: ``carms compare``, the variance gates and ``carms sweep``."""

import csv
import io
import json
import shlex

import numpy as np
import pytest

from carms_cli.analysis.compare import compare_records, parse_tolerance
from carms_cli.core.errors import InputError

RUN = ["variance", "-k", 5, "-n", 3, "-e", "loorf,carms,carms-sb", "-q"]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from carms_cli.cli.app import main

    out = tmp_path_factory.mktemp("runs")
    main([str(a) for a in RUN] + ["-t", "200000", "--json", str(out / "base.json")])
    main([str(a) for a in RUN] + ["-t", "100000", "--json", str(out / "same.json")])
    # a "regression": carms replaced by its independent-sample control (variance ×1.11) under carms's name
    main(
        [str(a) for a in RUN[:-3]]
        + ["-e", "loorf,carms-indep,carms-sb", "-q", "-t", "200000", "--json", str(out / "worse.json")]
    )
    worse = json.loads((out / "worse.json").read_text())
    for entry in worse["estimators"]:
        if entry["name"] == "carms-indep":
            entry["name"] = "carms"
    (out / "worse.json").write_text(json.dumps(worse))
    main(["variance", "-k", 4, "-n", 3, "-t", "1000", "-q", "--json", str(out / "other.json")])
    return out


def test_same_problem_no_regression(cli, records):
    result = cli("compare", records / "base.json", records / "same.json")
    assert result.code == 0
    assert "no regression" in result.out.splitlines()[-1]
    record = cli("compare", records / "base.json", records / "same.json", "--json", "-").json()
    assert record["schema"] == "carms-cli/compare/1" and record["regressed"] is False
    assert {e["status"] for e in record["estimators"]} <= {"ok", "improved"}


def test_significant_regression_fails_with_exit_1(cli, records):
    strict = cli("compare", records / "base.json", records / "worse.json", "--tolerance", "variance:2%")
    assert strict.code == 1 and "REGRESSION: carms" in strict.out
    lenient = cli("compare", records / "base.json", records / "worse.json", "--tolerance", "variance:30%")
    assert lenient.code == 0
    improved = cli("compare", records / "worse.json", records / "base.json", "--tolerance", "2%", "--json", "-").json()
    assert {e["name"]: e["status"] for e in improved["estimators"]}["carms"] == "improved"


def test_not_comparable_or_unreadable_is_exit_2(cli, records, tmp_path):
    other = cli("compare", records / "base.json", records / "other.json")
    assert other.code == 2 and other.err.startswith("Error: runs are not comparable: categories differs")
    missing = cli("compare", records / "base.json", tmp_path / "nope.json")
    assert missing.code == 2 and "cannot read the current" in missing.err
    (tmp_path / "bad.json").write_text("{not json")
    assert cli("compare", records / "base.json", tmp_path / "bad.json").code == 2
    (tmp_path / "list.json").write_text(json.dumps({"schema": "carms-cli/list/1"}))
    wrong = cli("compare", records / "base.json", tmp_path / "list.json")
    assert wrong.code == 2 and "not a 'carms variance --json' record" in wrong.err


def test_variance_baseline_and_max_ratio_gates(cli, records):
    args = [str(a) for a in RUN] + ["-t", "100000"]
    assert cli(*args, "--baseline", records / "base.json").code == 0
    gated = cli(
        *[a for a in args if a != "-q"],
        "-e",
        "loorf,carms-indep,carms-sb",
        "--baseline",
        records / "base.json",
        "--tolerance",
        "variance:2%",
    )
    assert gated.code == 0  # carms-indep is "new", carms is "missing": nothing comparable regressed
    assert cli(*args, "--max-variance-ratio", "1.5").code == 0
    tight = cli(*args, "--max-variance-ratio", "0.5")
    assert tight.code == 1 and tight.err.startswith("Gate failed: variance ratio to loorf above 0.5")
    assert cli(*args, "--baseline", records / "other.json").code == 2


def test_max_variance_ratio_without_loorf_is_refused_before_sampling(cli):
    # 10^12 trials would run for hours: the refusal must come before any sampling
    refused = cli("variance", "-k", 4, "-t", 10**12, "-e", "carms", "--max-variance-ratio", "2", "-q")
    assert refused.code == 2
    assert refused.err.strip() == "Error: --max-variance-ratio needs loorf among the estimators"


def test_tolerance_parsing():
    assert parse_tolerance("variance:10%") == pytest.approx(0.10)
    assert parse_tolerance("x1.05") == pytest.approx(0.05)
    assert parse_tolerance("variance:x1.10") == pytest.approx(0.10)
    for ambiguous in ("0.05", "variance:5"):
        with pytest.raises(InputError, match="ambiguous"):
            parse_tolerance(ambiguous)
    with pytest.raises(InputError):
        parse_tolerance("bias:1%")


def test_compare_statistics_on_synthetic_records():
    def record(total, half, unbiased=True):
        return {
            "schema": "carms-cli/variance/1",
            "config": {
                "categories": 3,
                "samples": 2,
                "dims": 1,
                "objective": "linear",
                "binary": False,
                "probs": [[0.2, 0.3, 0.5]],
            },
            "estimators": [
                {
                    "name": "x",
                    "unbiased_by_design": True,
                    "unbiased": unbiased,
                    "bias_max_abs_z": 9.0,
                    "variance_total": total,
                    "variance_total_ci95": [total - half, total + half],
                }
            ],
        }

    base = record(1.0, 0.01)
    assert compare_records(base, record(1.05, 0.01), 0.10)[0].status == "ok"
    assert compare_records(base, record(1.25, 0.01), 0.10)[0].status == "regressed"
    assert compare_records(base, record(1.25, 0.5), 0.10)[0].status == "ok"  # not significant
    assert compare_records(base, record(0.7, 0.01), 0.10)[0].status == "improved"
    assert compare_records(base, record(1.0, 0.01, unbiased=False), 0.10)[0].status == "regressed"


def test_sweep_rows_seeds_and_rerun_commands(cli, tmp_path):
    result = cli(
        "sweep",
        "-k",
        "3,5",
        "-n",
        "2..3",
        "-e",
        "loorf,carms",
        "-t",
        20000,
        "--jsonl",
        tmp_path / "rows.jsonl",
        "--csv",
        tmp_path / "rows.csv",
        "-q",
    )
    assert result.code == 0
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2
    assert [(r["categories"], r["samples"], r["estimator"]) for r in rows[:4]] == [
        (3, 2, "loorf"),
        (3, 2, "carms"),
        (3, 3, "loorf"),
        (3, 3, "carms"),
    ]
    assert len(list(csv.DictReader(io.StringIO((tmp_path / "rows.csv").read_text())))) == 8
    # any row re-runs alone to the same numbers
    row = rows[5]
    args = shlex.split(row["command"])[1:] + ["-q", "--json", "-"]
    rerun = cli(*args).json()
    entry = next(e for e in rerun["estimators"] if e["name"] == row["estimator"])
    assert entry["variance_total"] == row["variance_total"]
    # a point's seed depends on its own coordinates only
    alone = cli("sweep", "-k", "5", "-n", "3", "-e", "loorf,carms", "-t", 20000, "--jsonl", "-", "-q")
    first = json.loads(alone.out.splitlines()[0])
    assert first["seed"] == next(r["seed"] for r in rows if (r["categories"], r["samples"]) == (5, 3))


def test_sweep_table_and_errors(cli):
    table = cli("sweep", "-k", "4", "-n", "2,4", "-o", "linear;quadratic:0.3", "-e", "loorf,carms", "-t", 5000)
    assert table.code == 0 and "re-run alone" in table.out and "quadratic:0.3" in table.out
    assert cli("sweep", "-n", "2..x").code == 2
    assert cli("sweep", "-k", "1").code == 2
    assert cli("sweep", "--jsonl", "-", "--csv", "-").code == 2
    assert cli("sweep", "-k", "3", "-e", "arm").code == 2


def test_fixed_probabilities_across_the_grid(cli):
    out = cli(
        "sweep",
        "-k",
        4,
        "--probs",
        "0.1,0.2,0.3,0.4",
        "-n",
        "2..4",
        "-e",
        "loorf,carms",
        "-t",
        20000,
        "--json",
        "-",
        "-q",
    ).json()
    ratios = [r["variance_ratio_to_loorf"] for r in out["rows"] if r["estimator"] == "carms"]
    assert len(ratios) == 3 and np.all(np.asarray(ratios) < 1.0)


def test_sweep_on_a_local_dask_cluster_equals_the_local_run(cli, tmp_path):
    pytest.importorskip("distributed")
    args = ["sweep", "-k", "4", "-n", "2..3", "-e", "loorf,carms", "-t", 20000, "-q"]
    assert cli(*args, "--jsonl", tmp_path / "local.jsonl").code == 0
    assert cli(*args, "--jsonl", tmp_path / "dask.jsonl", "--dask", "local:2").code == 0

    def rows(name):
        return [
            {k: v for k, v in json.loads(line).items() if k != "trials_per_second"}
            for line in (tmp_path / name).read_text().splitlines()
        ]

    assert rows("local.jsonl") == rows("dask.jsonl") and len(rows("local.jsonl")) == 4


def test_unreachable_dask_scheduler_is_exit_2(cli, monkeypatch):
    pytest.importorskip("distributed")
    import carms_cli.analysis.distributed

    monkeypatch.setattr(carms_cli.analysis.distributed, "CONNECT_TIMEOUT", 2)
    result = cli("sweep", "-k", 3, "-n", 2, "-t", 100, "-q", "--dask", "tcp://127.0.0.1:9")
    assert result.code == 2 and result.err.startswith("Error: cannot connect to the Dask scheduler")
    assert cli("sweep", "-k", 3, "-n", 2, "-t", 100, "-q", "--dask", "local:x").code == 2


def test_variance_and_sweep_figures(cli, tmp_path):
    assert cli("variance", "-k", 5, "-t", 20000, "-q", "--plot", tmp_path / "v.png").code == 0
    png = (tmp_path / "v.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    terminal = cli("variance", "-k", 5, "-t", 20000, "-q", "--plot", "-")
    assert terminal.code == 0 and "carms" in terminal.out and "█" in terminal.out
    sweep = ["sweep", "-k", 6, "-n", "2..4", "-e", "loorf,carms", "-t", 10000, "-q"]
    assert cli(*sweep, "--plot", tmp_path / "s.svg").code == 0
    svg = (tmp_path / "s.svg").read_text()
    assert "<svg" in svg and len(svg) > 5_000
    chart = cli(*sweep, "--plot", "-")
    assert "against samples" in chart.out and "o loorf" in chart.out
    two_axes = cli("sweep", "-k", "3,4", "-n", "2,3", "-t", 100, "--plot", "-")
    assert two_axes.code == 2 and "exactly one swept parameter" in two_axes.err
    assert cli("variance", "-k", 4, "-t", 1000, "--plot", tmp_path / "v.jpg").code == 2


def test_compare_refuses_damaged_records_with_one_line(cli, tmp_path):
    """Issue 19, item 4: malformed, non-UTF-8 or overflowed records are exit 2 with one line, never a
    traceback or the gate's exit 1; a current variance that is not a number fails the gate."""
    good = tmp_path / "good.json"
    assert cli("variance", "-k", 4, "-n", 3, "-e", "loorf,carms", "-t", 5_000, "-q", "--json", good).code == 0
    record = json.loads(good.read_text())
    cases = {
        "binary.json": b"\xff",
        "list.json": b"[1, 2]",
        "no-estimators.json": json.dumps({"schema": "carms-cli/variance/1", "config": {}}).encode(),
        "no-name.json": json.dumps({**record, "estimators": [{"variance_total": 1.0}]}).encode(),
    }
    overflowed = json.loads(good.read_text())
    overflowed["estimators"][0]["variance_total_ci95"] = [None, None]
    cases["overflowed.json"] = json.dumps(overflowed).encode()
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        result = cli("compare", tmp_path / name, good)
        assert result.code == 2, name
        assert result.err.startswith("Error: ") and result.err.strip().count("\n") == 0, name
    broken = json.loads(good.read_text())
    broken["estimators"][1]["variance_total"] = None
    (tmp_path / "nan.json").write_text(json.dumps(broken))
    gated = cli("compare", good, tmp_path / "nan.json", "--json", "-")
    assert gated.code == 1
    statuses = {c["name"]: c["status"] for c in gated.json()["estimators"]}
    assert statuses == {"loorf": "ok", "carms": "regressed"}


def test_outputs_are_checked_before_any_work(cli, tmp_path):
    """Issue 19, items 3 and 7: an output that would overwrite an input, a missing folder or a
    bad --plot suffix is refused (exit 2) before sampling, with the input left intact."""
    objective = tmp_path / "obj.csv"
    objective.write_text("3,-1,2,0.5\n")
    huge = ("-t", 10**12, "-q")  # hours of sampling: a refusal must come first
    cases = [
        (
            ("variance", "--probs", "0.1,0.2,0.3,0.4", "-o", f"file:{objective}", "-n", 3, "--csv", objective),
            "objective",
        ),
        (("variance", "--json", tmp_path / "missing" / "r.json"), "folder does not exist"),
        (("variance", "--json", tmp_path), "is a folder"),
        (("variance", "--plot", tmp_path / "v.pdf"), ".png or .svg"),
    ]
    for args, words in cases:
        result = cli(*args, *huge)
        assert result.code == 2 and words in result.err and result.err.count("\n") == 1, args
    assert objective.read_text() == "3,-1,2,0.5\n"
    assert cli("sweep", "-k", "3,4", "-t", 10**9, "--jsonl", tmp_path / "no" / "s.jsonl", "-q").code == 2


def test_an_empty_objective_file_is_one_line(cli, tmp_path):
    """Issue 19, item 11: NumPy's warning about an empty CSV no longer leaks beside the error."""
    empty = tmp_path / "e.csv"
    empty.write_text("")
    result = cli("variance", "--probs", "0.1,0.2,0.3,0.4", "-o", f"file:{empty}", "-q")
    assert result.code == 2 and result.err.startswith("Error: objective file") and result.err.count("\n") == 1


def test_overflowing_objective_values_are_refused_up_front(cli, tmp_path):
    """Issue 19, item 9: values near 1e308 would overflow the statistics: refused before any work, naming
    the largest magnitude that works (exit 2, never a false "biased" that fails --fail-on-bias)."""
    huge = tmp_path / "h.csv"
    huge.write_text("1e308,-1e308,1e308,0\n")
    args = ("variance", "--probs", "0.1,0.2,0.3,0.4", "-n", 3, "-o", f"file:{huge}", "-e", "loorf,carms", "-t", 5_000)
    result = cli(*args, "-q", "--fail-on-bias", "--json", "-")
    assert result.code == 2 and result.out == "" and result.err.count("\n") == 1
    assert "stay finite only up to |f| = " in result.err


def test_overflowed_statistics_give_no_false_bias_verdict():
    """Past the up-front check (a Problem built by hand), overflowed numbers are no verdict, never "biased"."""
    from carms_cli.analysis.variance import analyse_variance
    from carms_cli.discrete.objectives import build_objective
    from carms_cli.discrete.problem import Problem
    from carms_cli.discrete.registry import parse_estimators

    objective = build_objective("needle:1", 1, 4, 0)
    objective = type(objective)("huge", "1e308 needle", objective.unary * 1e308)
    probs = np.array([[0.1, 0.2, 0.3, 0.4]])
    problem = Problem(4, 3, 1, probs, "--probs", objective, 5_000, 0)
    report = analyse_variance(problem, parse_estimators("loorf,carms", 4, 3, 1, objective), 1)
    assert all(result.unbiased is None for result in report.results)
