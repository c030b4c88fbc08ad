"""Every example in examples/ runs (at small size) and says what it should.

The test is parametrised over the files themselves, so a new ``*.sh`` or ``*.py`` in examples/
is collected automatically and fails until it has an entry in SMALL_ARGS.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# Arguments that make each example run at small size ("{tmp}" is a per-test temporary directory).
SMALL_ARGS = {
    "arms_toy.sh": ["{tmp}/toy.png", "120", "300"],
    "carms_toy.py": ["20000"],
    "carms_vs_n.sh": ["20000"],
    "ci_gate.sh": ["50000"],
    "gpu_check.py": ["1000"],
    "numpy_baseline.py": ["--trials", "100000"],
    "problem_a.sh": ["100000"],
    "survey_figures.py": ["{tmp}/survey.png", "2000", "5"],
}

# Seconds before an example counts as hung (default 300).
TIMEOUTS = {"arms_toy.sh": 600}


def _example_files():
    return sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in {".sh", ".py"})


def _env():
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _check_arms_toy(result, tmp_path):
    assert (tmp_path / "toy.png").read_bytes()[:4] == b"\x89PNG" and "figure written" in result.stdout


def _check_carms_toy(result, tmp_path):
    """The paper's toy at small size: every cell is a median ± std, and carms (exact) sits below
    loorf (exact) at every alpha, as spec 14.2 reports."""
    rows = [line.split() for line in result.stdout.splitlines()[2:6]]
    assert [row[0] for row in rows] == ["1", "10", "100", "1000"]
    for row in rows:
        loorf, carms = (float(cell.split("±")[0]) for cell in row[1:3])
        assert carms < loorf
        assert "mc" in row  # carms-g has no enumeration


def _check_carms_vs_n(result, tmp_path):
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["n", "carms/loorf", "carms-gauss/loorf", "carms-sb/loorf"] and len(lines) == 8


def _check_ci_gate(result, tmp_path):
    assert "no regression" in result.stdout and result.stdout.strip().endswith("gate passed")


def _check_numpy_baseline(result, tmp_path):
    lines = result.stdout.splitlines()
    for label in ("numpy", "numba"):
        line = next(x for x in lines if x.startswith(f"{label}: max |z|"))
        assert float(line.split("=")[1].split(",")[0]) <= 5.0
    assert any(x.startswith("speed-up:") for x in lines)


def _check_problem_a(result, tmp_path):
    assert "carms / loorf total variance: 0.7" in result.stdout


def _check_survey_figures(result, tmp_path):
    """Three objectives, each an exact sweep and a Monte Carlo one; the square cost's exact
    variances at k = -3 are the spec's closed forms (score-mu 495, pathwise-mu 4, mvd-sigma 68)."""
    assert result.stdout.count("$ carms sweep --family continuous") == 6
    assert "square, k = -3: score 495/1546, score-baseline 134/664, pathwise 4/72, mvd 17.49/68" in result.stdout
    assert (tmp_path / "survey.png").read_bytes()[:4] == b"\x89PNG" and "figure written" in result.stdout


def _check_gpu_check(result, tmp_path):
    out = result.stdout.strip()
    assert out.startswith("no GPU: ") or out.endswith("CPU and GPU numbers match")


# What each example must print beyond exiting 0 (optional per file).
CHECKS = {
    "arms_toy.sh": _check_arms_toy,
    "carms_toy.py": _check_carms_toy,
    "carms_vs_n.sh": _check_carms_vs_n,
    "ci_gate.sh": _check_ci_gate,
    "gpu_check.py": _check_gpu_check,
    "numpy_baseline.py": _check_numpy_baseline,
    "problem_a.sh": _check_problem_a,
    "survey_figures.py": _check_survey_figures,
}


@pytest.mark.parametrize("name", _example_files())
def test_example_runs_at_small_size(name, tmp_path):
    if name not in SMALL_ARGS:
        pytest.fail(
            f"examples/{name} has no entry in SMALL_ARGS (tests/test_examples.py): add the arguments "
            "that run it at small size (and, ideally, a CHECKS entry for what it should print)",
            pytrace=False,
        )
    path = EXAMPLES / name
    interpreter = ["bash"] if path.suffix == ".sh" else [sys.executable]
    args = [arg.format(tmp=tmp_path) for arg in SMALL_ARGS[name]]
    result = subprocess.run(
        [*interpreter, str(path), *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=TIMEOUTS.get(name, 300),
    )
    assert result.returncode == 0, result.stderr
    if name in CHECKS:
        CHECKS[name](result, tmp_path)


def test_small_size_arguments_name_existing_examples():
    """No stale entries: every SMALL_ARGS, TIMEOUTS and CHECKS key is a file in examples/."""
    files = set(_example_files())
    for table in (SMALL_ARGS, TIMEOUTS, CHECKS):
        assert set(table) <= files, sorted(set(table) - files)


def test_gpu_check_example():
    """Without a GPU: one 'no GPU' line and exit 0. Under the CUDA simulator, at a tiny size: every
    estimator's numbers match between CPU and GPU, and both throughputs are reported."""
    import importlib.util

    env = _env()
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    # 200 trials: one simulated block per run (1,000 took minutes under the simulator)
    command = [sys.executable, str(EXAMPLES / "gpu_check.py"), "200"]
    plain = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert plain.returncode == 0, plain.stderr
    if plain.stdout.startswith("no GPU: "):
        assert plain.stdout.count("\n") == 1 and plain.stdout.strip().endswith("nothing to check")
    if importlib.util.find_spec("numba_cuda") is None:
        return
    simulated = subprocess.run(
        command, capture_output=True, text=True, env={**env, "NUMBA_ENABLE_CUDASIM": "1"}, timeout=600
    )
    assert simulated.returncode == 0, simulated.stderr
    lines = simulated.stdout.splitlines()
    assert lines[0].startswith("CPU against GPU (the Numba CUDA simulator), 200 trials")
    for problem in ("categorical", "binary", "multi-variable"):
        line = next(x for x in lines if x.startswith(f"{problem}: "))
        assert line.endswith(": same"), line
    assert any(x.startswith("multi-variable  carms-g-ref") for x in lines)  # throughput rows
    assert "cuda/numba" in simulated.stdout and lines[-1] == "CPU and GPU numbers match"
