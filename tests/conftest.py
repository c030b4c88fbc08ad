"""Shared fixtures: small problems with known answers, and a CLI runner."""

import json

import numpy as np
import pytest

from carms_cli.cli.app import main
from carms_cli.discrete.problem import build_problem

PROBLEM_A_PROBS = "0.1,0.2,0.3,0.4"
PROBLEM_A_VALUES = [3.0, -1.0, 2.0, 0.5]
PROBLEM_A_GRADIENT = [0.21, -0.38, 0.33, -0.16]


@pytest.fixture(scope="session")
def problem_a_file(tmp_path_factory):
    """Problem A's objective table f = [3, −1, 2, .5] as a .npy file (decision 8)."""
    path = tmp_path_factory.mktemp("objectives") / "problem_a.npy"
    np.save(path, np.asarray(PROBLEM_A_VALUES))
    return path


@pytest.fixture
def problem_a(problem_a_file):
    def make(samples=3, trials=10_000, seed=0):
        return build_problem(
            probs=PROBLEM_A_PROBS, objective=f"file:{problem_a_file}", samples=samples, trials=trials, seed=seed
        )

    return make


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def error_line(self) -> str:
        """Check a refusal of bad input (exit code 2, one ``Error:`` line on stderr) and return that line."""
        assert self.code == 2, (self.code, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), self.err
        return lines[0]


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``carms ARGS`` in-process; returns exit code, stdout and stderr.

    ``CARMS_DEBUG=1``: a bug raises with its traceback here instead of exit 3 and one line. COLUMNS
    is unset, so tables are laid out wide as for any piped output (tests set it to choose a width).
    """
    monkeypatch.setenv("CARMS_DEBUG", "1")
    monkeypatch.delenv("COLUMNS", raising=False)  # piped output is laid out wide unless COLUMNS is set

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def skip_unless_applicable(spec, problem):
    """Skip a parametrised case whose estimator cannot run on this problem (binary-only, odd n)."""
    from carms_cli.discrete.registry import applicable

    reason = applicable(spec, problem.categories, problem.samples, problem.dims, problem.objective)
    if reason:
        pytest.skip(reason)
