"""Every example in examples/ runs (at small size) and says what it should."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _env():
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def test_every_example_is_exercised():
    assert {p.name for p in EXAMPLES.iterdir() if p.suffix in {".sh", ".py"}} == {
        "problem_a.sh",
        "numpy_baseline.py",
        "arms_toy.sh",
        "ci_gate.sh",
        "carms_vs_n.sh",
        "carms_toy.py",
        "gpu_check.py",
    }


def test_carms_toy_example():
    """The paper's toy at small size: every cell is a median ± std, and carms (exact) sits below
    loorf (exact) at every alpha, as spec 14.2 reports."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "carms_toy.py"), "20000"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[2:6]]
    assert [row[0] for row in rows] == ["1", "10", "100", "1000"]
    for row in rows:
        loorf, carms = (float(cell.split("±")[0]) for cell in row[1:3])
        assert carms < loorf
        assert "mc" in row  # carms-g has no enumeration


def test_ci_gate_example():
    result = subprocess.run(
        ["bash", str(EXAMPLES / "ci_gate.sh"), "50000"], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "no regression" in result.stdout and result.stdout.strip().endswith("gate passed")


def test_carms_vs_n_example():
    result = subprocess.run(
        ["bash", str(EXAMPLES / "carms_vs_n.sh"), "20000"], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["n", "carms/loorf", "carms-gauss/loorf", "carms-sb/loorf"] and len(lines) == 8


def test_arms_toy_example(tmp_path):
    target = tmp_path / "toy.png"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "arms_toy.sh"), str(target), "40", "300"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:4] == b"\x89PNG" and "figure written" in result.stdout


def test_problem_a_example():
    result = subprocess.run(
        ["bash", str(EXAMPLES / "problem_a.sh"), "100000"], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "carms / loorf total variance: 0.7" in result.stdout


def test_numpy_baseline_example():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "numpy_baseline.py"), "--trials", "100000"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for label in ("numpy", "numba"):
        line = next(x for x in lines if x.startswith(f"{label}: max |z|"))
        assert float(line.split("=")[1].split(",")[0]) <= 5.0
    assert any(x.startswith("speed-up:") for x in lines)


def test_gpu_check_example():
    """Without a GPU: one 'no GPU' line and exit 0. Under the CUDA simulator, at a tiny size: every
    estimator's numbers match between CPU and GPU, and both throughputs are reported."""
    import importlib.util

    env = _env()
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    command = [sys.executable, str(EXAMPLES / "gpu_check.py"), "1000"]
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
    assert lines[0].startswith("CPU against GPU (the Numba CUDA simulator), 1,000 trials")
    for problem in ("categorical", "binary", "multi-variable"):
        line = next(x for x in lines if x.startswith(f"{problem}: "))
        assert line.endswith(": same"), line
    assert any(x.startswith("multi-variable  carms-g-ref") for x in lines)  # throughput rows
    assert "cuda/numba" in simulated.stdout and lines[-1] == "CPU and GPU numbers match"
