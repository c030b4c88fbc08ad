"""``carms continuous`` end to end: unbiased against the exact gradient, records, gates, bad input.

Monte Carlo checks use fixed seeds; an estimator is unbiased when its Bonferroni-corrected
bias test passes (max |z| ≤ Φ⁻¹(1 − 10⁻³/(2P)), below 5 for every problem here) and its
Monte Carlo variance agrees with the exact one (``variance_exact_z_max`` ≤ 5).
"""

import json

import numpy as np
import pytest

from carms_cli.continuous.problem import build_problem
from carms_cli.continuous.registry import ESTIMATORS, refusal

#: Problems covering each distribution, reported parameter and objective shape.
PROBLEMS = {
    "gaussian-cos": ["--dist", "gaussian", "--mu", "1", "--sigma", "1", "-o", "cos:1"],
    "gaussian-square-2d": ["--dist", "gaussian", "--mu", "0.5,-1", "--sigma", "1,2", "-o", "square:1"],
    "gaussian-exp-log-sigma": ["--dist", "gaussian", "--mu", "0.3", "--sigma", "0.8", "--param", "log-sigma",
                               "-o", "exp:0.5"],
    "gaussian-step-mu": ["--dist", "gaussian", "--mu", "0.2", "--sigma", "1.5", "--param", "mu", "-o", "step:0.5"],
    "exponential-square": ["--dist", "exponential", "--rate", "2", "-o", "square:1"],
    "gamma-log": ["--dist", "gamma", "--alpha", "0.5,3", "--rate", "2", "-o", "log"],
    "gamma-shape-laplace": ["--dist", "gamma", "--alpha", "0.5,3", "--rate", "2", "--param", "alpha", "-o",
                            "laplace:0.7"],
}


def _applicable(args):
    """The estimators that apply to the problem a command line states."""
    options = dict(zip(args[::2], args[1::2], strict=True))
    given = {name: options.get(f"--{name}") for name in ("mu", "sigma", "rate", "alpha")}
    problem = build_problem(options["--dist"], given, options.get("--param"), options["-o"], 4, None, 100, 0)
    return [name for name, spec in ESTIMATORS.items() if refusal(spec, problem) is None]


@pytest.mark.parametrize("name", PROBLEMS)
def test_every_estimator_is_unbiased_and_its_variance_exact(cli, name):
    args = PROBLEMS[name]
    estimators = _applicable(args)
    result = cli("continuous", *args, "-n", "4", "-t", "60000", "--seed", "3", "-e", ",".join(estimators),
                 "--exact", "--json", "-", "--fail-on-bias")
    assert result.code == 0, result.err
    record = result.json()
    assert record["config"]["family"] == "continuous"
    for entry in record["estimators"]:
        assert entry["unbiased"] is True, (entry["name"], entry["bias_max_abs_z"])
        assert entry["bias_max_abs_z"] <= 5
        if entry["variance_exact_total"] is not None:
            assert entry["bias_exact_max_abs"] < 1e-9 * (1 + np.abs(record["config"]["exact_gradient"]).max())
            if entry["variance_exact_z_max"] is not None:
                assert entry["variance_exact_z_max"] <= 5, entry["name"]
            assert entry["variance_total_ci95"][0] <= entry["variance_exact_total"] * 1.05 + 1e-20
        else:
            assert entry["exact_note"].startswith("n/a: ")


def test_the_delta_control_variate_removes_all_variance_for_a_quadratic_objective(cli):
    result = cli("continuous", "--mu", "0.5,1", "--sigma", "1,2", "-o", "quad-form:1,-2", "-e",
                 "score-delta,pathwise-delta", "-t", "5000", "--json", "-")
    assert result.code == 0, result.err
    record = result.json()
    for entry in record["estimators"]:
        # h = f exactly, so β = 1 and every estimate is ∇E[h] = the exact gradient (rounding aside)
        assert max(entry["variance"]) < 1e-20, entry["name"]
        assert np.allclose(entry["mean"], record["config"]["exact_gradient"], rtol=1e-12)


def test_evaluations_are_counted_honestly(cli):
    result = cli("continuous", "--mu", "0,1", "-n", "3", "-t", "2000", "-e", "pathwise,score-loo,score-delta,mvd",
                 "--json", "-")
    assert result.code == 0, result.err
    evaluations = {entry["name"]: entry["evaluations_per_estimate"] for entry in result.json()["estimators"]}
    # P = 4 coordinates (μ and σ of D = 2): MVD 2 per sample per coordinate; the delta CV's n fresh samples
    assert evaluations == {"pathwise": 3, "score-loo": 3, "score-delta": 6, "mvd": 24}


def test_same_seed_same_numbers_whatever_the_threads(cli):
    common = ("continuous", "--dist", "gamma", "--alpha", "0.7", "-o", "cos:2", "-t", "30000", "--json", "-", "-q")
    one, two = cli(*common, "--threads", "1"), cli(*common, "--threads", "2")
    assert one.code == two.code == 0
    for a, b in zip(one.json()["estimators"], two.json()["estimators"], strict=True):
        assert a["mean"] == b["mean"] and a["variance"] == b["variance"]
        assert a["rejections_per_trial"] == b["rejections_per_trial"]


def test_the_table_states_the_problem_and_the_reference(cli):
    result = cli("continuous", "--mu", "1", "--sigma", "1", "-o", "cos:1", "-t", "20000", "--exact", "-e", "all")
    assert result.code == 0, result.err
    assert "gaussian(mu = 1, sigma = 1)" in result.out and "objective cos:1" in result.out
    assert "carms-cli" in result.out and " · continuous · " in result.out
    for name in ("pathwise", "score", "score-baseline", "score-loo", "score-delta", "pathwise-delta", "mvd"):
        assert name in result.out
    assert "÷score" in result.out and "exact var: by quadrature" in " ".join(result.out.split())
    # the same note for both delta estimators is said once, naming both
    assert result.out.count("exact variance n/a") == 1
    assert "score-delta, pathwise-delta: exact variance n/a" in result.out


def test_baseline_gate_and_compare_read_the_continuous_problem(cli, tmp_path):
    base = tmp_path / "base.json"
    common = ("continuous", "--mu", "1", "-o", "exp:1", "-t", "20000", "-q")
    assert cli(*common, "--json", base).code == 0
    assert cli(*common, "--seed", "1", "--baseline", base).code == 0
    other = cli("continuous", "--mu", "2", "-o", "exp:1", "-t", "20000", "-q", "--baseline", base)
    assert other.code == 2 and "differs" in other.err


def test_max_variance_ratio_gate(cli):
    ok = cli("continuous", "-o", "cos:1", "-e", "score,pathwise,mvd", "-t", "20000", "-q", "--max-variance-ratio",
             "1.01")
    assert ok.code == 0, ok.err  # pathwise and mvd beat score here
    tight = cli("continuous", "-o", "cos:1", "-t", "20000", "-q", "--max-variance-ratio", "0.001")
    assert tight.code == 1 and "Gate failed: variance ratio to score" in tight.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sigma", "0"], "--sigma must be positive"),
        (["--sigma", "-1"], "--sigma must be positive"),
        (["--mu", "nan"], "--mu must be finite"),
        (["--mu", "inf"], "--mu must be finite"),
        (["--rate", "2"], "--rate does not apply to --dist gaussian"),
        (["--dist", "gamma", "--alpha", "0"], "--alpha must be positive"),
        (["--dist", "weibull"], "unknown distribution 'weibull'"),
        (["-o", "step:0", "-e", "pathwise"], "pathwise needs f′ but objective 'step:0' has no derivative"),
        (["--dist", "exponential", "-e", "score-delta"], "score-delta applies to --dist gaussian only"),
        (["-n", "1", "-e", "score-loo"], "score-loo needs -n 2 or more"),
        (["-o", "log"], "objective 'log' needs x > 0"),
        (["-o", "wiggle"], "unknown objective 'wiggle'"),
        (["--mu", "1,2", "--sigma", "1,2,3"], "different lengths"),
        (["--param", "rate"], "--param rate does not apply to --dist gaussian"),
        (["-e", "carms"], "unknown estimator 'carms' for carms continuous"),
        (["-t", "1"], "--trials must be in 2.."),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(cli, args, message):
    result = cli("continuous", *args)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.err


def test_the_json_record_has_the_shared_fields(cli):
    result = cli("continuous", "--dist", "gamma", "--alpha", "2", "--rate", "3", "-o", "square:0", "-t", "5000",
                 "--json", "-")
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["schema"] == "carms-cli/variance/1"
    config = record["config"]
    assert config["distribution"] == "gamma" and config["coordinates"] == ["rate[0]"]
    assert config["values"] == {"alpha": [2.0], "rate": [3.0]}
    # ∂β E[x²] = ∂β α(α + 1)/β² = −2α(α + 1)/β³
    assert np.isclose(config["exact_gradient"][0], -2 * 2 * 3 / 27, rtol=1e-12)
    entry = record["estimators"][0]
    for field in ("mean", "variance", "bias_z", "unbiased", "variance_total_ci95", "evaluations_per_estimate",
                  "variance_times_evaluations", "rejections_per_trial"):
        assert field in entry


def test_a_variance_that_is_zero_up_to_rounding_gets_no_variance_z(cli):
    # square:k at k = μ: MVD-μ's two points are mirror images, f(x⁺) = f(x⁻) up to rounding, so both
    # the exact and the Monte Carlo variance of mu[0] are ~1e−32; only sigma[0] is compared
    result = cli("continuous", "--mu", "1", "--sigma", "1", "-o", "square:1", "-t", "50000", "--exact", "-e", "mvd",
                 "--json", "-")
    assert result.code == 0, result.err
    (entry,) = result.json()["estimators"]
    assert entry["variance_exact"][0] < 1e-28 and entry["variance"][0] < 1e-28
    assert entry["variance_exact_z_max"] is not None and entry["variance_exact_z_max"] < 5
