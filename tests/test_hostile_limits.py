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


# --- the continuous family: overflow and infinite variance refused up front ----------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "exp:-0.01", "--mu", 300], "the estimates can overflow float64 (|f| overflows float64"),
        (["-o", "poly:0,0,0,0,0,0,0,0,0,0,0,0,1", "--mu", 1e30], "the estimates can overflow float64"),
        (["-o", "square", "--mu", 1e100], "the estimates can reach |g| = "),
        (["--sigma", 1e-300], "the estimates can reach |g| = "),
        (["--dist", "exponential", "--rate", 1e-300, "-o", "square"], "the estimates can overflow float64"),
        (["-o", "quad-form:1e200"], "the estimates can overflow float64"),
        (["-o", "cos:1e300"], "the estimates can reach |g| = "),
    ],
)
def test_continuous_estimates_that_would_overflow_are_refused_naming_the_limit(cli, args, said):
    from carms_cli.continuous.magnitude import largest_estimate

    error = one_error_line(cli("continuous", *args, "-t", 20_000, "-e", "pathwise,score", "--fail-on-bias", "-q"))
    assert said in error
    limit = float(re.search(r"stay finite only up to \|g\| = ([0-9.e+]+);", error).group(1))
    size = 1 if "exponential" in args else 2
    assert limit == pytest.approx(largest_estimate(20_000, size), rel=1e-2)


def test_continuous_magnitudes_below_the_limit_run_and_pass(cli):
    """Large but representable: μ = 1e60 under square gives |g| ≈ 1e61, far below the limit, and an honest verdict."""
    args = ("continuous", "-o", "square", "--mu", 1e60, "-t", 20_000, "-e", "pathwise,score", "--fail-on-bias")
    result = cli(*args, "-q", "--json", "-")
    assert result.code == 0, result.err
    assert all(entry["unbiased"] is not False for entry in result.json()["estimators"])


def test_estimate_bound_covers_every_sampled_estimate():
    """The bound is an upper bound of what the kernels draw: every per-trial |g| stays below it."""
    import numpy as np

    from carms_cli.continuous.kernels import numpy_backend
    from carms_cli.continuous.magnitude import estimate_bound
    from carms_cli.continuous.registry import parse_estimators
    from carms_cli.continuous.source import kernel_args
    from tests.test_continuous_exact import make

    for dist, values, objective in [
        ("gaussian", {"mu": 0.4, "sigma": 1.3}, "poly:1,-2,0.5,0.1"),
        ("gaussian", {"mu": -2.0, "sigma": 0.2}, "exp:-3"),
        ("exponential", {"rate": 0.7}, "square:1"),
        ("gamma", {"alpha": 0.3, "rate": 2.0}, "log"),
    ]:
        problem = make(dist, values, objective, samples=4)
        bound, _ = estimate_bound(problem)
        for spec in parse_estimators("all", problem):
            g, _ = numpy_backend.trial_estimates(kernel_args(problem, spec, np.zeros(problem.size)), 0, 4000)
            assert np.all(np.isfinite(g))
            assert np.all(np.abs(g) <= bound), (dist, objective, spec.name, np.abs(g).max(), bound)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "exp:-0.5"], "E[f²] is infinite unless k > -1/(4 sigma²) = -0.25"),
        (["-o", "exp:-0.1", "--sigma", 2], "E[f²] is infinite unless k > -1/(4 sigma²) = -0.0625"),
        (["--dist", "exponential", "-o", "exp:-0.01"], "faster than the exponential density falls"),
        (["--dist", "gamma", "-o", "exp:-0.3"], "faster than the gamma density falls"),
    ],
)
def test_continuous_objectives_without_a_variance_are_refused_not_called_biased(cli, args, said):
    assert said in one_error_line(cli("continuous", *args, "-t", 20_000, "--fail-on-bias", "-q"))


def test_an_optimal_baseline_without_quadrature_is_left_out_or_refused(cli):
    """exp:k<0 has no quadrature for the optimal baseline: `-e all` leaves score-baseline out, naming it is exit 2."""
    args = ("continuous", "-o", "exp:-3", "--mu", -2, "--sigma", 0.2, "-t", 2000, "-q")
    record = cli(*args, "-e", "all", "--json", "-")
    assert record.code == 0 and "score-baseline" not in [entry["name"] for entry in record.json()["estimators"]]
    assert "needs the optimal baseline" in one_error_line(cli(*args, "-e", "score-baseline"))


def test_continuous_sweep_checks_overflow_at_every_point_before_sampling(cli, tmp_path):
    jsonl = tmp_path / "s.jsonl"
    args = ("sweep", "--family", "continuous", "-o", "square", "--mu", "1,1e100", "-t", 2000, "-q", "--jsonl", jsonl)
    error = one_error_line(cli(*args))
    assert "the estimates can reach |g|" in error and not jsonl.exists()
    args = ("sweep", "--family", "continuous", "-o", "exp", "--k=-1,1", "-t", 2000, "-q", "--jsonl", jsonl)
    assert "E[f²] is infinite" in one_error_line(cli(*args)) and not jsonl.exists()


# --- the hostile battery for `carms continuous` and `carms implicit` ------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--dist", "gamma", "--alpha", "0"], "--alpha must be positive"),
        (["--dist", "gamma", "--alpha", "-1"], "--alpha must be positive"),
        (["--dist", "gamma", "--alpha", "nan"], "--alpha must be finite"),
        (["--dist", "gamma", "--alpha", "inf"], "--alpha must be finite"),
        (["--dist", "gamma", "--alpha", "1,x"], "--alpha must be comma-separated numbers"),
        (["--dist", "gamma", "--alpha", ",,"], "--alpha must be comma-separated numbers"),
        (["--dist", "gamma", "--alpha", "1,2,3", "-d", 2], "--alpha has 3 values but D = 2"),
        (["--mu", "nan"], "--mu must be finite"),
        (["--sigma", "-inf"], "--sigma must be finite"),
        (["--sigma", "0"], "--sigma must be positive"),
        (["-t", 0], "--trials must be"),
        (["-n", 0], "--samples must be in 1..64"),
        (["--json", "/nonexistent/folder/r.json"], "cannot write --json"),
    ],
)
def test_continuous_hostile_inputs_are_one_line_exit_2(cli, args, said):
    assert said in one_error_line(cli("continuous", *args, "-q"))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--alpha", ""], "--alpha is empty"),
        (["--alpha", ",,"], "--alpha is empty"),
        (["--alpha", "1,x"], "--alpha expects comma-separated numbers"),
        (["--alpha", "0"], "--alpha values must lie in"),
        (["--alpha", "-1"], "--alpha values must lie in"),
        (["--alpha", "nan"], "--alpha values must lie in"),
        (["--alpha", "inf"], "--alpha values must lie in"),
        (["--draws", 0], "--draws must be at least 2"),
        (["--draws", 10**12], "the largest --draws that fits is"),
        (["--draws", 10**8, "--max-memory", "1G"], "the largest --draws that fits is"),
        (["--max-memory", "lots"], "--max-memory expects"),
        (["--json", "/nonexistent/folder/r.json"], "cannot write --json"),
    ],
)
def test_implicit_hostile_inputs_are_one_line_exit_2(cli, args, said):
    assert said in one_error_line(cli("implicit", *args, "-q"))


def test_implicit_draws_that_fit_the_budget_are_the_ones_named():
    from carms_cli.analysis.implicit import implicit_bytes

    budget = parse_memory("1G")
    with pytest.raises(InputError) as refused:
        check_size(lambda count: implicit_bytes(count, 10**6), 10**8, budget, "checking", "--draws", lower=2)
    largest = int(re.search(r"is ([0-9,]+)$", str(refused.value)).group(1).replace(",", ""))
    assert implicit_bytes(largest, 10**6) <= budget < implicit_bytes(largest + 1, 10**6)


def test_implicit_to_a_closed_pipe_is_one_line_and_exit_2():
    import subprocess

    from carms_cli.core import errors
    from tests.test_hostile import carms

    process = carms("implicit", "--alpha", "1", "--draws", 50, "--batch", 1000, "-r", 1, stdout=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == errors.EXIT_USAGE
    assert err.decode().endswith("(broken pipe)\n") and err.decode().count("\n") == 1


# --- carms pmf: progress on stderr for the long parts (the --check sampling, laying out K² cells) -------


class _RecordingBar:
    made: list = []

    def __init__(self, total, enabled, delay=1.0, label="sampling", unit="trials"):
        self.total, self.enabled, self.label, self.unit, self.calls = total, enabled, label, unit, []
        _RecordingBar.made.append(self)

    def __call__(self, done, total=None):
        self.calls.append((done, self.total if total is None else total))

    def close(self):
        self.closed = True


def test_pmf_reports_progress_of_the_check_and_of_printing(cli, monkeypatch):
    import carms_cli.present.table as table

    monkeypatch.setattr(table, "ProgressBar", _RecordingBar)
    monkeypatch.setenv("COLUMNS", "60")  # K = 12 at 60 columns: several column blocks per matrix
    _RecordingBar.made = []
    assert cli("pmf", "-k", 12, "--check", 70_000).code == 0
    sampling, printing = _RecordingBar.made
    assert (sampling.label, sampling.unit, sampling.total, sampling.enabled) == ("sampling", "sets", 70_000, True)
    assert [done for done, _ in sampling.calls] == sorted(done for done, _ in sampling.calls)
    assert sampling.calls[-1] == (70_000, 70_000) and len(sampling.calls) > 1 and sampling.closed
    assert (printing.label, printing.unit) == ("printing", "tables") and printing.closed
    done, total = printing.calls[-1]
    assert done == total > 4 and [d for d, _ in printing.calls] == list(range(1, total + 1))
    _RecordingBar.made = []
    quiet = cli("pmf", "-k", 12, "--check", 70_000, "-q")
    assert quiet.code == 0 and quiet.out == "" and quiet.err == ""
    assert [bar.enabled for bar in _RecordingBar.made] == [False]


def test_progress_bar_is_silent_when_stderr_is_not_a_terminal(capsys):
    from carms_cli.present.table import ProgressBar

    bar = ProgressBar(10, enabled=True, delay=0.0, label="printing", unit="tables")
    for done in range(1, 11):
        bar(done)
    bar.close()
    assert not bar.enabled and capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ("vae train --latent 20x10 --batch 2000000 --steps 2".split(), "the largest --batch that fits is"),
        ("vae train --latent 100000x1000 --steps 2".split(), "not even --batch = 1 fits"),
        ("vae variance --latent 3x4 --replicates 100000000".split(), "not even --batch = 1 fits"),
        ("vae train --latent 30x40 --batch 5000 --steps 2 --max-memory 1M".split(), "the budget of 1 MiB"),
    ],
)
def test_vae_runs_beyond_the_memory_budget_are_refused_up_front(cli, args, says):
    """The model commands get the memory guarantee too: one line and exit 2, nothing allocated."""
    error = one_error_line(cli(*args, "--data", "planted:3x4", "-q"))
    assert says in error and "would need about" in error, error
