"""Hostile input, second round (issue 19's remainder): every case is one line, the documented exit code.

Memory refused up front by ``bench`` and ``duplicates`` too, naming the largest K that fits;
``carms pmf``'s progress; the continuous family's overflow and bad-input battery; a sweep that
will not overwrite finished points.
"""

import re

import pytest

from carms_cli.core.budget import check_size, largest_fitting, parse_memory
from carms_cli.core.errors import InputError
from tests.test_hostile import one_error_line

# --- memory: bench and duplicates estimate per estimator before allocating ---------------------------


def test_largest_fitting_is_the_brute_force_answer():
    for budget in (0, 1, 7, 100, 1000, 10**6):
        for upper in (1, 2, 5, 64, 1000):
            estimate = lambda size: 3 * size * size + 5  # noqa: E731 (any non-decreasing estimate)
            expected = max((s for s in range(1, upper + 1) if estimate(s) <= budget), default=0)
            assert largest_fitting(estimate, budget, upper) == expected
    assert largest_fitting(lambda size: size, 10, 100, lower=20) == 0


def test_check_size_names_the_largest_size_or_says_none_fits():
    check_size(lambda k: 8 * k, 10, 80, "ten", "K")  # fits exactly: no error
    with pytest.raises(InputError, match=r"the largest K that fits is 12$"):
        check_size(lambda k: 8 * k, 20, 100, "twenty", "K")
    with pytest.raises(InputError, match=r"not even K = 2 fits \(raise --max-memory\)$"):
        check_size(lambda k: 8 * k, 20, 10, "twenty", "K", lower=2)


def _largest_k(error):
    return int(re.search(r"the largest K that fits is ([0-9,]+)$", error.strip()).group(1).replace(",", ""))


def test_duplicates_over_the_budget_is_refused_naming_the_largest_k(cli):
    from carms_cli.analysis.duplicates import duplicates_bytes

    error = one_error_line(cli("duplicates", "-k", 120, "-t", 40_000, "--max-memory", "60M"))
    assert error.startswith("Error: duplicate statistics at K = 120, n = 4, 40,000 sets would need about ")
    largest, budget = _largest_k(error), parse_memory("60M")
    assert 2 <= largest < 120
    assert duplicates_bytes(largest, 4, 40_000) <= budget < duplicates_bytes(largest + 1, 4, 40_000)
    assert "not even K = 2 fits" in one_error_line(cli("duplicates", "-k", 120, "--max-memory", "1M"))


def test_bench_over_the_budget_is_refused_per_estimator_naming_the_largest_k(cli):
    from carms_cli.analysis.bench import bench_bytes
    from carms_cli.discrete.registry import parse_estimators

    args = ("bench", "-k", 3000, "-t", 1000, "--no-startup", "--threads", 2, "--max-memory", "100M")
    error = one_error_line(cli(*args))
    assert error.startswith("Error: this bench (3 estimators at K = 3,000, D = 1, 2 threads) would need about")
    largest, budget = _largest_k(error), parse_memory("100M")
    specs = parse_estimators("carms,loorf,reinforce", 3000, 4)
    assert bench_bytes(largest, 1, specs, 2, 1000, False) <= budget < bench_bytes(largest + 1, 1, specs, 2, 1000, False)
    # one estimator fits where three do not only if its own case is smaller: the peak is per case
    assert bench_bytes(3000, 1, specs[2:], 2, 1000, False) <= bench_bytes(3000, 1, specs, 2, 1000, False)


def test_variance_over_the_budget_also_names_the_largest_k(cli):
    args = ("variance", "-k", 1000, "-d", 1000, "-e", "loorf,reinforce", "-t", 20_000, "-q", "--max-memory", "200M")
    assert 2 <= _largest_k(one_error_line(cli(*args))) < 1000


# --- sweep: a re-run without --resume does not replace the finished points --------------------------


def test_a_sweep_will_not_replace_a_jsonl_holding_rows_unless_told(cli, tmp_path):
    args = ["sweep", "-k", "3,4", "-n", 2, "-e", "loorf", "-t", 2000, "-q"]
    jsonl = tmp_path / "s.jsonl"
    assert cli(*args, "--jsonl", jsonl).code == 0
    before = jsonl.read_text()
    assert before.count("\n") == 2
    error = one_error_line(cli(*args, "--jsonl", jsonl))
    assert error == (
        f"Error: '{jsonl}' already holds 2 rows of an earlier sweep: add --resume to keep its completed points "
        "and run only the others, or --overwrite to replace it\n"
    )
    assert jsonl.read_text() == before  # untouched
    assert "choose one" in one_error_line(cli(*args, "--jsonl", jsonl, "--resume", "--overwrite"))
    assert cli(*args, "--jsonl", jsonl, "--resume").code == 0 and jsonl.read_text() == before  # nothing to run
    other = ["sweep", "-k", 5, "-n", 2, "-e", "loorf", "-t", 2000, "-q", "--jsonl", jsonl, "--overwrite"]
    assert cli(*other).code == 0
    assert jsonl.read_text().count("\n") == 1 and '"categories": 5' in jsonl.read_text()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli(*args, "--jsonl", empty).code == 0  # an empty file holds nothing to lose
