"""``carms bench``: record structure, rates, uniforms per trial, start-up timing and bad input.

No timing thresholds: only that every rate is positive and the derived numbers are consistent.
"""

import importlib.util
import statistics
import sys

import pytest

from carms_cli.analysis.bench import startup_seconds, uniforms_per_trial
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS

SMALL = ["bench", "-k", 4, "-n", 3, "-t", 20_000, "--numpy-trials", 3_000, "-r", 2, "--no-startup"]


def test_json_record_has_rates_ratio_and_bound_per_case(cli):
    result = cli(*SMALL, "-e", "carms,loorf", "--json", "-")
    assert result.code == 0, result.err
    record = result.json()
    assert record["schema"] == "carms-cli/bench/1"
    assert record["config"]["categories"] == 4 and record["config"]["repeats"] == 2
    assert record["startup"] is None
    assert [case["estimator"] for case in record["cases"]] == ["carms", "loorf"]
    for case in record["cases"]:
        assert case["trials"]["numba"] == 20_000 and case["trials"]["numpy"] == 3_000
        assert case["trials"]["bound"] >= 20_000
        assert all(len(case["seconds"][name]) == 2 for name in ("numba", "numpy", "bound"))
        rates = case["trials_per_second"]
        assert set(rates) == {"numba", "numpy"} and all(rate > 0 for rate in rates.values())
        for name in ("numba", "numpy"):
            assert rates[name] == pytest.approx(case["trials"][name] / statistics.median(case["seconds"][name]))
        assert case["ratio"] == pytest.approx(rates["numba"] / rates["numpy"])
        bound = case["bound_trials_per_second"]
        assert bound == pytest.approx(case["trials"]["bound"] / statistics.median(case["seconds"]["bound"]))
        for name in ("numba", "numpy"):
            assert case["fraction_of_bound"][name] == pytest.approx(rates[name] / bound)
    assert record["cases"][0]["uniforms_per_trial"] == 3  # order draw + n − 1 Dirichlet spacings


def test_table_and_json_file(cli, tmp_path):
    target = tmp_path / "bench.json"
    result = cli(*SMALL, "-e", "reinforce", "-r", 1, "--json", target)
    assert result.code == 0, result.err
    assert "reinforce" in result.out and "numpy/bound" in result.out
    assert target.read_text().startswith("{")


def test_numpy_trials_are_chosen_automatically(cli):
    record = cli("bench", "-k", 3, "-n", 2, "-t", 5_000, "-r", 1, "-e", "loorf", "--no-startup", "--json", "-").json()
    assert record["config"]["numpy_trials"] is None
    assert record["cases"][0]["trials"]["numpy"] >= 1_000


@pytest.mark.parametrize(
    ("name", "k", "n", "expected"),
    [
        ("reinforce", 10, 4, 4),  # one order: no order draw
        ("carms", 10, 4, 4),  # order draw + n − 1 uniforms cut into n Dirichlet spacings
        ("carms-gauss", 10, 3, 5),  # Box–Muller draws uniforms in pairs
        ("carms-g", 10, 4, 30),  # one tuple per category
        ("carms-sb", 10, 4, 27),  # one tuple per stage (upper bound)
        ("carms-g-ref", 5, 3, 101 * 10),  # 1 + R sample sets
        ("arm", 2, 4, 4),  # n/2 pair uniforms, read again by the weighting
        ("disarm", 2, 4, 2),
        ("arsm", 10, 4, 10),  # one Dirichlet(1) draw of K uniforms
        ("unord", 10, 4, 4),  # one uniform per configuration (D = 1)
        ("gumbel-st:1", 10, 4, 40),  # K Gumbels per sample
    ],
)
def test_uniforms_per_trial(name, k, n, expected):
    problem = build_problem(categories=k, samples=n, trials=1, seed=0)
    spec = ESTIMATORS[name]
    assert uniforms_per_trial(build_plan(problem, spec), spec) == expected


def test_uniforms_per_trial_scale_with_dims():
    problem = build_problem(categories=6, samples=4, dims=3, trials=1, seed=0)
    assert uniforms_per_trial(build_plan(problem, ESTIMATORS["carms"]), ESTIMATORS["carms"]) == 3 * 4


def test_startup_runs_fresh_processes_and_reports_wall_seconds():
    startup = startup_seconds(("--version",), warm_runs=3)
    assert startup["command"] == "carms --version"
    assert startup["cold_seconds"] > 0 and len(startup["warm_runs_seconds"]) == 3
    assert startup["warm_seconds"] == sorted(startup["warm_runs_seconds"])[1]  # the median


def test_a_failing_startup_command_is_an_error():
    with pytest.raises(RuntimeError, match="exited 2"):
        startup_seconds(("variance", "-k", "1"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", 0], "--repeats must be at least 1"),
        (["-t", 0], "--trials must be positive"),
        (["--numpy-trials", 0], "--numpy-trials must be positive"),
        (["--cuda-trials", 0], "--cuda-trials must be positive"),
        (["--backend", "gpu"], "--backend"),
        (["-e", "nope"], "unknown estimator"),
        (["-k", 1], "categories"),
        (["-k", 10, "-e", "arm"], "binary"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, message):
    result = cli("bench", "--no-startup", *args)
    assert result.code == 2
    assert result.err.startswith("Error: ") and message in result.err
    assert result.err.strip().count("\n") == 0


def test_module_entry_point_runs_bench():
    import subprocess

    command = [sys.executable, "-m", "carms_cli", "bench", "-k", 3, "-t", 2_000, "--numpy-trials", 1_000, "-r", 1]
    result = subprocess.run(
        [str(part) for part in [*command, "-e", "loorf", "--no-startup", "-q"]], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def _no_gpu_env():
    import os

    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return env


def test_cuda_backend_without_a_gpu_is_one_error_line_and_exit_2():
    """In subprocesses: CUDA detection must not touch this test process's numba."""
    import json
    import subprocess

    env = _no_gpu_env()
    probe = subprocess.run(
        [sys.executable, "-c", "from carms_cli.core.backends import cuda_status; print(cuda_status()[0])"],
        capture_output=True,
        text=True,
        env=env,
    )
    if probe.stdout.strip() == "True":
        pytest.skip("a CUDA GPU is available here")
    base = [sys.executable, "-m", "carms_cli", "bench", "-k", "3", "-t", "2000", "--numpy-trials", "1000", "-r", "1"]
    base += ["-e", "loorf", "--no-startup"]
    result = subprocess.run([*base, "--backend", "cuda"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --backend cuda: ")
    auto = subprocess.run([*base, "--backend", "auto", "--json", "-"], capture_output=True, text=True, env=env)
    assert auto.returncode == 0, auto.stderr
    record = json.loads(auto.stdout)
    assert record["config"]["backend"] == "cpu" and record["config"]["backend_note"].startswith("auto: ")
    assert record["config"]["cuda_trials"] is None
    case = record["cases"][0]
    assert case["cuda_ratio"] is None and set(case["trials_per_second"]) == {"numba", "numpy"}


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_cuda_backend_under_the_simulator_times_the_gpu_beside_the_cpu():
    import json
    import subprocess

    env = {**_no_gpu_env(), "NUMBA_ENABLE_CUDASIM": "1"}
    command = [sys.executable, "-m", "carms_cli", "bench", "-k", "3", "-n", "2", "-t", "2000", "--numpy-trials", "1000"]
    command += ["-r", "2", "-e", "carms,loorf", "--no-startup", "--backend", "cuda", "--cuda-trials", "1000"]
    result = subprocess.run([*command, "--json", "-"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert record["config"]["backend"] == "cuda" and record["config"]["cuda_trials"] == 1000
    assert "simulator" in record["config"]["backend_note"]
    for case in record["cases"]:
        assert case["trials"]["cuda"] == 1000 and len(case["seconds"]["cuda"]) == 2
        rates = case["trials_per_second"]
        assert rates["cuda"] == pytest.approx(1000 / statistics.median(case["seconds"]["cuda"]))
        assert case["cuda_ratio"] == pytest.approx(rates["cuda"] / rates["numba"])
        assert set(case["fraction_of_bound"]) == {"numba", "numpy"}
