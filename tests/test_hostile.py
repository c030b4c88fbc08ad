"""Hostile and careless input (issue 19): every case is one line, the documented exit code, no traceback.

Each test reproduces one defect of the issue and fails if the defect comes back. Cases that need
a real process (stdout encodings, a full disk, a closed pipe) run ``python -m carms_cli``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from carms_cli.core import errors

ROOT = Path(__file__).resolve().parents[1]
PROBS = "0.1,0.2,0.3,0.4"


def one_error_line(result, code=2):
    """The result failed with ``code`` and said why in exactly one ``Error:`` line."""
    assert result.code == code, (result.code, result.err)
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
    return result.err


def carms(*args, env=None, **popen):
    """Run ``python -m carms_cli ARGS`` in a fresh process (COLUMNS unset, no debug traceback)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "CARMS_DEBUG")}
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(env or {})
    command = [sys.executable, "-m", "carms_cli", *map(str, args)]
    return subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, **popen)


# --- item 5: compare refuses different objectives; --tolerance says what it means -------------------


def test_compare_refuses_runs_whose_objective_contents_differ(cli, tmp_path):
    """`-o table` with another --seed is another table under the same name (--probs fixed)."""
    runs = {}
    for seed in (1, 2):
        runs[seed] = tmp_path / f"seed{seed}.json"
        args = ("variance", "--probs", PROBS, "-n", 3, "-o", "table", "--seed", seed, "-e", "loorf", "-t", 20_000)
        assert cli(*args, "-q", "--json", runs[seed]).code == 0
    assert json.loads(runs[1].read_text())["config"]["objective_fingerprint"].startswith("sha256:")
    error = one_error_line(cli("compare", runs[1], runs[2]))
    assert "objective's contents differ" in error
    # a record written before fingerprints existed is read as before
    legacy = json.loads(runs[2].read_text())
    del legacy["config"]["objective_fingerprint"]
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    assert cli("compare", runs[1], tmp_path / "legacy.json").code in (0, 1)


def test_compare_refuses_an_edited_objective_file(cli, tmp_path):
    table = tmp_path / "f.csv"
    records = []
    for values in ("3,-1,2,0.5\n", "3,-1,2,0.6\n"):
        table.write_text(values)
        records.append(tmp_path / f"r{len(records)}.json")
        args = ("variance", "--probs", PROBS, "-n", 3, "-o", f"file:{table}", "-e", "loorf", "-t", 20_000, "-q")
        assert cli(*args, "--json", records[-1]).code == 0
    assert "objective's contents differ" in one_error_line(cli("compare", *records))
    assert cli("compare", records[0], records[0]).code == 0


@pytest.mark.parametrize("tolerance", ["variance:5", "5", "0.1", "variance:", "bias:5%", "variance:x0.9", "x", "-5%"])
def test_ambiguous_or_bad_tolerance_is_refused_with_the_forms_that_work(cli, tmp_path, tolerance):
    record = tmp_path / "r.json"
    assert cli("variance", "-k", 4, "-n", 3, "-e", "loorf", "-t", 20_000, "-q", "--json", record).code == 0
    error = one_error_line(cli("compare", record, record, "--tolerance", tolerance))
    assert "--tolerance" in error
    if tolerance in ("variance:5", "5", "0.1"):
        assert "ambiguous" in error and "variance:10%" in error and "variance:x1.10" in error


def test_tolerance_as_a_ratio_means_the_same_as_a_percentage(cli, tmp_path):
    record = tmp_path / "r.json"
    assert cli("variance", "-k", 4, "-n", 3, "-e", "loorf", "-t", 20_000, "-q", "--json", record).code == 0
    as_ratio = cli("compare", record, record, "--tolerance", "variance:x1.05", "--json", "-").json()
    as_percent = cli("compare", record, record, "--tolerance", "variance:5%", "--json", "-").json()
    assert as_ratio["tolerance"] == pytest.approx(as_percent["tolerance"]) == pytest.approx(0.05)
    assert as_ratio["summary"].endswith("(tolerance variance:5%)")


def test_continuous_tolerance_and_trials_are_checked_as_for_variance(cli, tmp_path):
    record = tmp_path / "c.json"
    base = ("continuous", "-t", 20_000, "-e", "pathwise", "-q")
    assert cli(*base, "--json", record).code == 0
    assert "ambiguous" in one_error_line(cli(*base, "--baseline", record, "--tolerance", "variance:5"))
    assert cli(*base, "--baseline", record, "--tolerance", "variance:x1.5").code == 0
    assert "--trials must be" in one_error_line(cli("continuous", "-t", 1, "-q"))


# --- item 6: memory and work estimated before allocating ------------------------------------------


def test_a_problem_too_big_for_memory_is_refused_before_allocating(cli):
    error = one_error_line(cli("variance", "-k", 100_000, "-d", 10_000, "-e", "loorf", "--max-memory", "64G"))
    assert "would need about" in error and "GiB" in error and "--max-memory" in error


@pytest.mark.parametrize("command", ["variance", "exact", "pmf", "duplicates", "bench"])
def test_every_allocating_command_takes_max_memory(cli, command):
    assert "--max-memory" in cli(command, "--help").out
    error = one_error_line(cli(command, "-k", 100_000, "--max-memory", "1M"))
    assert "would need about" in error or "budget" in error
    assert "--max-memory expects" in one_error_line(cli(command, "--max-memory", "lots"))


def test_run_memory_counts_plans_and_batches(cli):
    """The problem fits but the run's plans and chunk buffers (all estimators, all threads) do not."""
    args = ("variance", "-k", 1000, "-d", 1000, "-e", "loorf,reinforce", "-t", 20_000, "-q")
    error = one_error_line(cli(*args, "--max-memory", "200M"))
    assert error.startswith("Error: this run (2 estimators at K = 1,000, D = 1,000")


def test_pmf_tables_too_big_are_refused(cli):
    error = one_error_line(cli("pmf", "-k", 5000, "--construction", "stick", "--max-memory", "4G"))
    assert "pair pmf tables at K = 5,000" in error


def _npy_header_only(path, shape, descr="<f8"):
    with open(path, "wb") as handle:
        npy.write_array_header_1_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})


def test_npy_header_with_a_huge_shape_is_refused_without_loading(cli, tmp_path):
    huge = tmp_path / "huge.npy"
    _npy_header_only(huge, (10**12,))  # claims 8 TB, holds nothing
    assert "has shape (1000000000000,)" in one_error_line(cli("variance", "--probs", PROBS, "-o", f"file:{huge}"))
    full = tmp_path / "full.npy"
    _npy_header_only(full, (2,) * 24)  # a valid full K^D table for K = 2, D = 24: 128 MiB to read
    args = ("variance", "-k", 2, "-d", 24, "-o", f"file:{full}", "-e", "loorf", "-q", "--max-memory", "100M")
    assert "would need about" in one_error_line(cli(*args))


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (np.array([1 + 2j, 2, 3, 4]), "complex"),
        (np.array(["2020-01-01"] * 4, dtype="datetime64[D]"), "dates"),
        (np.array([1, 2, 3, 4], dtype="timedelta64[s]"), "time spans"),
        (np.array(["a", "b", "c", "d"]), "not real numbers"),
    ],
)
def test_npy_objectives_of_non_real_dtypes_are_refused(cli, tmp_path, values, said):
    path = tmp_path / "f.npy"
    np.save(path, values)
    assert said in one_error_line(cli("variance", "--probs", PROBS, "-o", f"file:{path}", "-q"))


def test_npy_of_integers_and_booleans_is_read_as_numbers(cli, tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.array([3, -1, 2, 0], dtype=np.int32))
    assert cli("variance", "--probs", PROBS, "-o", f"file:{path}", "-e", "loorf", "-t", 20_000, "-q").code == 0


# --- item 9: objective magnitudes that would overflow the statistics ---------------------------------


@pytest.mark.parametrize("magnitude", [1e155, 1e200, 1e308])
def test_objective_magnitudes_that_overflow_are_refused_up_front(cli, tmp_path, magnitude):
    path = tmp_path / "h.csv"
    path.write_text(f"{magnitude!r},{-magnitude!r},{magnitude!r},0\n")
    args = ("variance", "--probs", PROBS, "-n", 3, "-o", f"file:{path}", "-e", "loorf,carms", "-t", 20_000)
    error = one_error_line(cli(*args, "-q", "--fail-on-bias"))
    largest = float(re.search(r"up to \|f\| = ([0-9.e+]+)", error).group(1))
    assert 1e140 < largest < magnitude


def test_objective_magnitudes_below_the_limit_run_and_pass(cli, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("1e100,-1e100,1e100,0\n")
    args = ("variance", "--probs", PROBS, "-n", 3, "-o", f"file:{path}", "-e", "loorf,carms", "-t", 20_000)
    result = cli(*args, "-q", "--fail-on-bias", "--json", "-")
    assert result.code == 0, result.err
    assert all(entry["unbiased"] is True for entry in result.json()["estimators"])


# --- item 11: the smaller ones ---------------------------------------------------------------------


def test_one_trial_is_refused_because_its_variance_is_undefined(cli):
    assert "undefined" in one_error_line(cli("variance", "-t", 1, "-q"))


def test_an_alpha_too_large_says_the_largest_that_works(cli):
    error = one_error_line(cli("variance", "--alpha", 1e308, "-q"))
    assert "larger --alpha" not in error and "the largest that works is" in error
    assert cli("variance", "--alpha", 1e300, "-k", 4, "-e", "loorf", "-t", 20_000, "-q").code == 0


def test_an_empty_range_says_so(cli):
    assert "empty range '10..2'" in one_error_line(cli("sweep", "-k", "10..2"))
    assert "empty range '8..2'" in one_error_line(cli("train", "-n", "8..2"))


def test_help_shows_no_bool_after_flags(cli):
    for command in ("variance", "continuous", "sweep", "compare", "train", "exact", "pmf", "duplicates", "bench"):
        text = cli(command, "--help").out
        assert "--quiet" in text or "--help" in text
        assert "<bool>" not in text, command
    assert "<bool>" not in cli("--help").out


@pytest.mark.parametrize("command", [["variance", "-k", 5, "-n", 3], ["continuous", "-e", "pathwise,score"]])
def test_a_cp1252_stdout_shows_the_table(command):
    process = carms(*command, "-t", 20_000, env={"PYTHONIOENCODING": "cp1252"}, stdout=subprocess.PIPE)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    text = out.decode("cp1252")
    assert "estimator" in text and "Traceback" not in err.decode()
    if command[0] == "variance":
        assert "trials=20,000" in text


def test_a_full_disk_on_stdout_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        process = carms("variance", "-k", 5, "-n", 3, "-t", 20_000, stdout=full)
        _, err = process.communicate(timeout=300)
    assert process.returncode == errors.EXIT_USAGE
    assert err.decode() == "Error: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize(
    "command", [["variance", "-k", 5, "-n", 3, "-t", 20_000], ["continuous", "-t", 20_000], ["exact", "-k", 4]]
)
def test_a_closed_pipe_is_one_line_and_exit_2_not_the_gate(command):
    process = carms(*command, stdout=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line is written
    _, err = process.communicate(timeout=300)
    assert process.returncode == errors.EXIT_USAGE
    assert err.decode().endswith("(broken pipe)\n") and err.decode().count("\n") == 1


def test_readme_failure_modes_lists_the_exit_codes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Failure modes") :]
    section = section[: section.index("\n## ", 5)]
    for name in ("EXIT_OK", "EXIT_GATE", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"):
        assert f"| {getattr(errors, name)} |" in section, name
    for topic in ("--max-memory", "atomic", "cache"):
        assert topic in section.lower()
