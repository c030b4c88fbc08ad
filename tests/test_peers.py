"""ARSM, UNORD and the Gumbel relaxations: what is specific to them beyond the parametrised
kernel, enumeration and unbiasedness tests (which cover them through the registry).

Statistical tests use fixed seeds and the threshold |z| <= 5.
"""

import math

import numpy as np
import pytest

from carms_cli.core.engine import set_threads
from carms_cli.discrete.exact.moments import exact_moments
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS, get_estimator
from carms_cli.discrete.source import run_plan
from tests.naive import arsm_dirichlet

Z_MAX = 5.0


def _variance(raw):
    return raw.m2 / (raw.trials - 1)


@pytest.mark.parametrize(
    "config",
    [
        dict(probs="0.1,0.2,0.3,0.4", objective="table", samples=3, seed=11),
        dict(categories=3, dims=2, objective="pairwise", samples=4, seed=3),
        dict(probs="0.7,0.2,0.07,0.03;0.25,0.25,0.25,0.25", objective="table", samples=2, seed=5),
    ],
    ids=["A3", "K3D2-pairwise", "K4D2-skew"],
)
def test_unord_monte_carlo_variance_matches_subset_enumeration(config):
    problem = build_problem(**config, trials=200_000)
    spec = ESTIMATORS["unord"]
    exact = exact_moments(problem, spec)
    assert exact.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(exact.mean, problem.exact_gradient(), atol=1e-12)
    raw = run_plan(build_plan(problem, spec), problem.trials, set_threads(None))
    se = np.sqrt(np.maximum(exact.fourth_central - exact.variance**2, 0) / raw.trials)
    ok = se > 0
    z = (_variance(raw)[ok] - exact.variance[ok]) / se[ok]
    assert np.max(np.abs(z)) <= Z_MAX, z


def test_unord_with_every_configuration_is_exact():
    """n = K^D: the set is the whole space, so every estimate equals the gradient."""
    problem = build_problem(probs="0.1,0.2,0.3,0.4", objective="table", samples=4, trials=1000, seed=1)
    raw = run_plan(build_plan(problem, ESTIMATORS["unord"]), problem.trials, 1)
    assert np.allclose(raw.mean, problem.exact_gradient(), atol=1e-12)
    assert np.all(_variance(raw) < 1e-12)  # rounding of the running sums only


def test_unord_beats_loorf_on_the_paper_toy():
    problem = build_problem(categories=3, dims=3, samples=3, alpha=10, objective="linear", seed=1)
    unord = exact_moments(problem, ESTIMATORS["unord"]).variance_total
    loorf = exact_moments(problem, ESTIMATORS["loorf"]).variance_total
    assert unord < loorf


def test_arsm_counts_distinct_configurations_exactly():
    """The kernel's evaluation count equals a brute-force count over all K² swaps."""
    problem = build_problem(categories=4, dims=3, objective="pairwise", samples=2, trials=300, seed=4)
    plan = build_plan(problem, ESTIMATORS["arsm"])
    raw = run_plan(plan, problem.trials, 1)
    expected = 0
    for trial in range(problem.trials):
        pi = arsm_dirichlet(plan, trial)
        configs = set()
        for c in range(4):
            for j in range(4):
                swapped = pi.copy()
                swapped[:, [c, j]] = swapped[:, [j, c]]
                configs.add(tuple((np.log(swapped) - np.log(plan.probs)).argmin(axis=1)))
        expected += len(configs)
    assert raw.evaluation_sum == expected
    assert 1 <= expected / problem.trials <= 4 * 3 / 2 + 1


def test_arsm_cost_is_reported_not_n(cli):
    result = cli("variance", "-k", 5, "-n", 3, "-t", 20_000, "--estimators", "loorf,arsm", "--json", "-")
    assert result.code == 0, result.err
    entries = {e["name"]: e for e in result.json()["estimators"]}
    assert entries["loorf"]["evaluations_per_estimate"] == 3
    arsm = entries["arsm"]["evaluations_per_estimate"]
    assert 1 < arsm <= 11 and arsm != int(arsm)
    assert entries["arsm"]["variance_times_evaluations"] == pytest.approx(entries["arsm"]["variance_total"] * arsm)
    assert entries["arsm"]["duplicates"]["mean_unique"] is None


@pytest.fixture(scope="module")
def problem_a_relaxed(tmp_path_factory):
    path = tmp_path_factory.mktemp("objectives") / "problem_a.npy"
    np.save(path, np.asarray([3.0, -1.0, 2.0, 0.5]))
    return path


@pytest.mark.parametrize("kind", ["gumbel-softmax", "gumbel-st"])
def test_gumbel_bias_shrinks_and_variance_grows_as_temperature_falls(kind, problem_a_relaxed):
    """Problem A (spec 11's table): max |bias| ≈ 0.206, 0.117, 0.044 at τ = 2, 1, 0.5 with
    per-coordinate variance growing; each bias is far outside the Monte Carlo noise."""
    problem = build_problem(
        probs="0.1,0.2,0.3,0.4", objective=f"file:{problem_a_relaxed}", samples=2, trials=200_000, seed=3
    )
    biases, variances = [], []
    for tau in (2.0, 1.0, 0.5):
        raw = run_plan(build_plan(problem, get_estimator(f"{kind}:{tau}")), problem.trials, set_threads(None))
        bias = raw.mean - problem.exact_gradient()
        se = np.sqrt(_variance(raw) / raw.trials)
        assert np.max(np.abs(bias) / se) > 10  # biased by design, and visibly so
        biases.append(np.max(np.abs(bias)))
        variances.append(_variance(raw).sum())
    assert biases[0] > biases[1] > biases[2]
    assert variances[0] < variances[1] < variances[2]
    assert biases == pytest.approx([0.206, 0.117, 0.044], abs=0.01)


def test_straight_through_differs_from_softmax_on_a_pairwise_objective():
    problem = build_problem(categories=3, dims=2, objective="pairwise", samples=2, trials=50_000, seed=2)
    soft = run_plan(build_plan(problem, get_estimator("gumbel-softmax:0.5")), problem.trials, 1)
    hard = run_plan(build_plan(problem, get_estimator("gumbel-st:0.5")), problem.trials, 1)
    assert not np.allclose(soft.mean, hard.mean)


def test_temperature_is_part_of_the_name_and_validated(cli):
    assert get_estimator("gumbel-softmax").name == "gumbel-softmax:1"
    assert get_estimator("Gumbel-ST:0.25").temperature == 0.25
    for bad in ("gumbel-softmax:0", "gumbel-softmax:-1", "gumbel-st:abc", "gumbel-st:inf"):
        result = cli("variance", "-k", 3, "-t", 1000, "--estimators", bad)
        assert result.code == 2 and result.err.startswith("Error:") and "temperature" in result.err, result.err


def test_gumbel_refuses_an_objective_with_no_differentiable_extension(cli, tmp_path):
    table = tmp_path / "full.npy"
    np.save(table, np.arange(9.0))  # a full K^D table for K = 3, D = 2
    result = cli("variance", "-k", 3, "-d", 2, "-t", 1000, "--objective", f"file:{table}", "--estimators", "gumbel-st")
    assert result.code == 2 and "differentiable extension" in result.err
    result = cli("variance", "-k", 3, "-d", 2, "-t", 1000, "--objective", f"file:{table}", "--estimators", "all")
    assert result.code == 0, result.err  # `all` leaves out what cannot run here
    assert "gumbel-st:1 " not in result.out and "gumbel-softmax:1 " not in result.out


@pytest.mark.parametrize(
    "args, message",
    [
        (("-k", 2, "-d", 1, "-n", 3), "exceeds the K^D = 2 configurations"),
        (("-k", 10, "-n", 11), "at most 10"),
        (("-k", 129, "-n", 2), "K <= 128"),
    ],
)
def test_unord_and_arsm_limits_are_clear_errors(cli, args, message):
    name = "arsm" if "K <= 128" in message else "unord"
    result = cli("variance", *args, "-t", 1000, "--estimators", name)
    assert result.code == 2 and message in result.err, result.err
    assert result.err.count("\n") == 1


def test_exact_command_says_why_arsm_and_gumbel_have_no_enumeration(cli):
    result = cli("exact", "-k", 3, "-n", 2, "--estimators", "unord,arsm,gumbel-st", "--json", "-")
    assert result.code == 0, result.err
    text = result.out
    assert "Dirichlet(1)" in text and "Gumbel" in text
    assert math.isfinite(
        next(e for e in result.json()["estimators"] if e["name"] == "unord")["variance_total"]
    )
