"""The command line: JSON record, CSV, verdicts, gates, reproducibility and bad input."""

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from carms_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
TIMING_KEYS = {"wall_seconds", "trials_per_second", "seconds_per_estimate"}


def _numbers(record):
    """The JSON record without timing fields or the thread count."""
    if isinstance(record, dict):
        return {k: _numbers(v) for k, v in record.items() if k not in TIMING_KEYS | {"threads"}}
    if isinstance(record, list):
        return [_numbers(v) for v in record]
    return record


def test_json_record_has_the_documented_fields(cli):
    result = cli("variance", "-k", 5, "-n", 3, "-t", 20_000, "--json", "-")
    assert result.code == 0, result.err
    record = result.json()
    assert record["schema"] == "carms-cli/variance/1"
    config = record["config"]
    for key in ("categories", "samples", "dims", "trials", "seed", "probs", "objective", "exact_gradient", "threads"):
        assert key in config
    assert config["categories"] == 5 and config["samples"] == 3 and config["trials"] == 20_000
    names = [e["name"] for e in record["estimators"]]
    assert names == ["reinforce", "loorf", "carms", "carms-gauss"]
    for entry in record["estimators"]:
        assert np.asarray(entry["mean"]).shape == (1, 5)
        assert np.asarray(entry["variance"]).shape == (1, 5)
        for key in ("variance_total", "bias_max_abs_z", "unbiased", "trials_per_second", "variance_total_ci95"):
            assert key in entry
        assert 1 <= entry["duplicates"]["mean_unique"] <= 3
        assert entry["evaluations_per_estimate"] == 3
    loorf = next(e for e in record["estimators"] if e["name"] == "loorf")
    assert loorf["variance_ratio_to_loorf"] == 1.0


def test_problem_a_carms_beats_loorf_and_the_table_says_so(cli, problem_a_file):
    args = ["variance", "--probs", "0.1,0.2,0.3,0.4", "-o", f"file:{problem_a_file}", "-n", 3, "-t", 200_000]
    table = cli(*args)
    assert table.code == 0, table.err
    assert re.search(r"carms: total variance [\d.]+ is below loorf's", table.out)
    record = cli(*args, "--json", "-").json()
    totals = {e["name"]: e["variance_total"] for e in record["estimators"]}
    assert totals["carms"] < totals["loorf"]
    assert np.allclose(record["config"]["exact_gradient"], [[0.21, -0.38, 0.33, -0.16]])
    assert all(e["unbiased"] for e in record["estimators"])


def test_same_seed_same_numbers_whatever_the_threads(cli):
    args = ["variance", "-k", 6, "-d", 2, "-o", "pairwise", "-t", 50_000, "--seed", 3, "--json", "-"]
    one = cli(*args, "--threads", 1).json()
    two = cli(*args, "--threads", 2).json()
    assert _numbers(one) == _numbers(two)
    other_seed = cli(*args[:-4], "--seed", 4, "--json", "-").json()
    assert _numbers(other_seed) != _numbers(one)


def test_csv_has_one_row_per_estimator(cli, tmp_path):
    target = tmp_path / "out.csv"
    result = cli("variance", "-k", 4, "-t", 10_000, "-e", "loorf,carms", "--csv", target, "-q")
    assert result.code == 0 and result.out == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["name"] for r in rows] == ["loorf", "carms"]
    assert float(rows[1]["variance_total"]) > 0


def test_json_to_a_file_and_table_to_stdout(cli, tmp_path):
    target = tmp_path / "out.json"
    result = cli("variance", "-k", 3, "-t", 5_000, "-e", "carms", "--json", target)
    assert result.code == 0
    assert "carms" in result.out and target.read_text().startswith("{")


def test_fail_on_bias_gate(cli):
    ok = cli("variance", "-k", 4, "-t", 20_000, "--fail-on-bias", "-q")
    assert ok.code == 0
    # a family-wise level of 0.9999 puts the threshold near zero: some |z| must exceed it
    failed = cli("variance", "-k", 4, "-t", 20_000, "--fail-on-bias", "-q", "--significance", "0.9999999")
    assert failed.code == 1
    assert failed.err.startswith("Gate failed: biased")


@pytest.mark.parametrize(
    "args, message",
    [
        (["-k", "1"], "--categories must be at least 2"),
        (["-n", "1"], "--samples must be at least 2"),
        (["-d", "0"], "--dims must be at least 1"),
        (["--probs", "0.5,-0.1,0.6"], "negative probability"),
        (["--probs", "0.5,nan,0.5"], "NaN"),
        (["--probs", "0.5,0.4"], "sums to 0.9"),
        (["--probs", "0.5,0.5", "-k", "3"], "has 2 categories per row but --categories is 3"),
        (["--probs", "0.5,0.5;0.2,0.3,0.5"], "different lengths"),
        (["--probs", "0.5,0.5;0.5,0.5", "-d", "3"], "has 2 rows but --dims is 3"),
        (["--probs", "0.5,abc"], "not a number"),
        (["--probs", "1,0"], "zero probability"),
        (["--probs", "0.5,0.5", "--logits", "1,2"], "either --probs or --logits"),
        (["--alpha", "0"], "--alpha must be a positive number"),
        (["-e", "carmz"], "did you mean 'carms'"),
        (["-o", "quadratc"], "did you mean 'quadratic'"),
        (["-o", "quadratic:x"], "expects a number"),
        (["-o", "needle:12", "-k", "5"], "outside 0..4"),
        (["-o", "file:/nonexistent/table.npy"], "does not exist"),
        (["-t", "0"], "--trials must be positive"),
        (["-t", "-5"], "--trials must be positive"),
        (["--threads", "0"], "--threads must be in"),
        (["--significance", "2"], "--significance must be in"),
        (["-k", "2000"], "copula evaluations"),
        (["-k", "300", "-d", "3000", "-e", "carms-g"], "GiB of tables"),
        (["-d", "2000", "-k", "100", "-o", "pairwise"], "pairwise objective table"),
        (["-n", "three"], "--samples"),
        (["--bogus"], "No such option"),
        (["--json", "-", "--csv", "-"], "cannot both write to stdout"),
        (["--json", "/nonexistent/dir/out.json", "-t", "100"], "cannot write --json"),
        (["--seed", "-1"], "--seed must be in"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(cli, args, message):
    result = cli("variance", *args)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert "Traceback" not in result.err


def test_unreadable_objective_file(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,x\n")
    result = cli("variance", "-k", 3, "-o", f"file:{bad}")
    assert result.code == 2 and result.err.startswith("Error: cannot read objective file")
    wrong_shape = tmp_path / "shape.npy"
    np.save(wrong_shape, np.zeros(5))
    result = cli("variance", "-k", 3, "-o", f"file:{wrong_shape}")
    assert result.code == 2 and "expected (1, 3)" in result.err


def test_logits_and_broadcast_rows(cli):
    record = cli("variance", "--logits=-1,0,1", "-d", 2, "-t", 2_000, "-e", "loorf", "--json", "-").json()
    probs = np.asarray(record["config"]["probs"])
    expected = np.exp([-1, 0, 1]) / np.exp([-1, 0, 1]).sum()
    assert probs.shape == (2, 3) and np.allclose(probs, expected)


def test_every_command_has_help_and_is_in_the_readme(cli):
    readme = (ROOT / "README.md").read_text()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert commands
    for name in commands:
        result = cli(name, "--help")
        assert result.code == 0 and "Usage" in result.out
        assert f"carms {name}" in readme
    assert cli("--help").code == 0


@pytest.mark.parametrize("command", ["variance", "continuous"])
def test_every_variance_option_is_documented_in_the_readme(cli, command):
    readme = (ROOT / "README.md").read_text()
    help_text = cli(command, "--help").out
    for option in set(re.findall(r"--[a-z][a-z-]+", help_text)) - {"--help"}:
        assert option in readme, option


def test_module_entry_point_and_version():
    result = subprocess.run([sys.executable, "-m", "carms_cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("carms-cli ")
    bad = subprocess.run([sys.executable, "-m", "carms_cli", "variance", "-k", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0


def test_the_entry_point_exits_normally_under_a_profiler():
    """The console script ends with os._exit (skipping teardown), except where a profiler or
    tracer still has to report at exit."""
    command = [sys.executable, "-m", "cProfile", "-m", "carms_cli", "--version"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("carms-cli ")
    assert "function calls" in result.stdout


def test_no_command_shows_help_and_exits_2(cli):
    result = cli()
    assert result.code == 2
    assert "variance" in result.out
    assert result.err.strip() == "Error: missing command (see 'carms --help')"


def test_rarely_drawn_categories_are_reported_untested_not_passed(cli):
    # p has one category of 0.97: at 200 trials the others are expected < 100 times each
    record = cli("variance", "--probs", "0.97,0.01,0.01,0.01", "-t", 200, "--json", "-").json()
    for entry in record["estimators"]:
        assert entry["bias_tested_coordinates"] == 1
        assert entry["unbiased"] is True
    none = cli("variance", "--probs", "0.25,0.25,0.25,0.25", "-t", 10, "-e", "carms", "--json", "-").json()
    entry = none["estimators"][0]
    assert entry["bias_tested_coordinates"] == 0
    assert entry["unbiased"] is None and entry["bias_max_abs_z"] is None
    table = cli("variance", "--probs", "0.25,0.25,0.25,0.25", "-t", 10, "-e", "carms")
    assert "untested" in table.out and "4 of 4 coordinates not bias-tested" in table.out
    gate = cli("variance", "--probs", "0.25,0.25,0.25,0.25", "-t", 10, "-e", "carms", "--fail-on-bias", "-q")
    assert gate.code == 0


def test_warmup(cli):
    result = cli("warmup")
    assert result.code == 0 and result.out.startswith("kernels ready for backend cpu at n = 4")
    assert cli("warmup", "--samples", "2,3").code == 0
    bad = cli("warmup", "--samples", "1")
    assert bad.code == 2 and bad.err.startswith("Error: --samples must be at least 2")


def test_problem_options_are_declared_once_and_shared(cli):
    """The problem options come from one declaration (cli/options.PROBLEM_OPTIONS): each command
    lists the ones it takes, with the shared help text."""
    import pytest

    from carms_cli.cli.options import PROBLEM_OPTIONS, problem_options

    takes = {
        "variance": set(PROBLEM_OPTIONS),
        "exact": set(PROBLEM_OPTIONS),
        "pmf": {"categories", "samples", "seed", "probs", "logits", "alpha", "max_memory"},
        "duplicates": {"categories", "samples", "seed", "probs", "logits", "alpha", "max_memory"},
        "bench": {"categories", "samples", "dims", "seed", "objective", "max_memory"},
    }
    # options a command declares itself, with its own meaning (bench: --alpha is the Gamma shapes
    # of --family implicit, not the Dirichlet concentration of the shared problem options)
    own = {"bench": {"alpha"}}
    for command, names in takes.items():
        names = {name.replace("_", "-") for name in names}
        help_text = cli(command, "--help").out
        shown = set(re.findall(r"^\W --([a-z-]+)", help_text, re.M))  # rows, not wrapped help
        assert names <= shown, command
        unexpected = {name.replace("_", "-") for name in PROBLEM_OPTIONS} - names - own.get(command, set())
        assert not unexpected & shown, command
    assert "--family implicit" in cli("bench", "--help").out
    with pytest.raises(ValueError, match="unknown problem options"):
        problem_options("colour")


def test_a_bug_is_one_line_and_exit_3_and_ctrl_c_exit_130(capsys, monkeypatch):
    """Issue 19, items 8 and 10: an unexpected exception is not the gate's exit 1 and prints no
    traceback (unless CARMS_DEBUG is set); Ctrl-C is one line and exit 130."""
    import pytest

    from carms_cli.cli import app as cli_app
    from carms_cli.cli.app import main

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("CARMS_DEBUG", raising=False)
    monkeypatch.setattr(cli_app, "app", broken)
    assert main(["list"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Error: internal error (ZeroDivisionError: a bug)") and err.count("\n") == 1

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_app, "app", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err == "Error: interrupted\n"
    monkeypatch.setenv("CARMS_DEBUG", "1")
    monkeypatch.setattr(cli_app, "app", broken)
    with pytest.raises(ZeroDivisionError):
        main(["list"])
