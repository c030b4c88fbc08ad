"""``carms bench --family implicit``: Gamma draws alone and with ∂x/∂α, timed side by side.

Timings are not asserted (the machine is shared); the record's structure, its consistency
(ns with the derivative = ns alone + ns of the derivative; the ratio from the same repetitions),
that both kernels drew the same numbers on any thread count, and bad input are.
"""

import numpy as np
import pytest

from carms_cli.analysis.bench import IMPLICIT_ALPHAS, IMPLICIT_CHUNK, _implicit_timer, bench_implicit_case
from carms_cli.continuous.kernels import implicit
from carms_cli.core.rng import stream_key

SMALL = ["bench", "--family", "implicit", "--batch", "20000", "-r", "2", "--threads", "2"]


def test_record_and_table(cli):
    record = cli(*SMALL, "--json", "-").json()
    config = record["config"]
    assert config["family"] == "implicit" and config["threads"] == 2 and config["batch"] == 20_000
    assert [case["alpha"] for case in record["cases"]] == list(IMPLICIT_ALPHAS)
    for case in record["cases"]:
        assert len(case["seconds"]["sample"]) == len(case["seconds"]["derivative"]) == 2
        assert case["ns_derivative"] == pytest.approx(case["ns_sample_derivative"] - case["ns_sample"])
        ratios = [(b - a) / a for a, b in zip(case["seconds"]["sample"], case["seconds"]["derivative"], strict=True)]
        assert case["ratio"] == pytest.approx(float(np.median(ratios)))
        assert case["meets_ratio_target"] == (case["ratio"] <= 1.0)
        assert (case["meets_ns_target"] is None) == (case["alpha"] > 10)
    # α = 0.01: some of 20,000 draws underflow to 0 (P(x = 0) ≈ P(U^{100} < 2^{−1074}) ≈ 6e−4), and are counted
    assert record["cases"][0]["underflows"] > 0
    table = cli(*SMALL, "--alpha", "0.5,1000")
    assert table.code == 0, table.err
    for text in ["implicit", "ns sample", "ns +∂x/∂α", "∂x/∂α ÷ sample", "x = 0", "0.5", "1000", "target"]:
        assert text in table.out


def test_the_timed_chunks_on_two_threads_give_one_call_s_numbers():
    key = np.uint64(stream_key(3, 201))
    draws = 2 * IMPLICIT_CHUNK + 5
    x, g = np.empty(draws), np.empty(draws)
    seconds = _implicit_timer(implicit.gamma_samples_with_derivative, key, 0.7, (x, g), 2)(draws)
    assert seconds > 0
    one_x, one_g = np.empty(draws), np.empty(draws)
    implicit.gamma_samples_with_derivative(key, np.uint64(0), 0.7, one_x, one_g)
    assert np.array_equal(x, one_x) and np.array_equal(g, one_g)
    case = bench_implicit_case(0.7, draws, 1, 2, 3)
    assert case.draws == draws and case.underflows == 0 and case.rejections_per_draw > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--alpha", "0"], "--alpha"),
        (["--batch", "0"], "--batch"),
        (["--backend", "cuda"], "--backend"),
        (["-e", "pathwise"], "--estimators"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, message):
    assert message in cli(*SMALL, *args).error_line()


def test_alpha_belongs_to_the_implicit_family(cli):
    result = cli("bench", "--alpha", "1", "--no-startup", "-t", "1000")
    assert result.code == 2 and "--family implicit" in result.err


@pytest.mark.parametrize(
    "dist, args, parameters, paths",
    [
        ("beta", ["--a", "0.5,30", "--b", "2,1e4"], [[0.5, 2.0], [30.0, 1e4]], ["gamma-ratio", "cdf"]),
        ("dirichlet", ["--alpha", "0.5,1,2"], [[0.5, 1.0, 2.0]], ["gamma-ratio", "cdf"]),
        ("vonmises", ["--kappa", "0.1,100"], [[0.1], [100.0]], ["integral"]),
    ],
)
def test_other_distributions_record_and_table(cli, dist, args, parameters, paths):
    small = ["bench", "--family", "implicit", "--dist", dist, "--batch", "3000", "-r", "2", "--threads", "2", *args]
    record = cli(*small, "--json", "-").json()
    assert record["config"]["distribution"] == dist and record["config"]["targets"] is None
    cases = record["cases"]
    assert [case["parameters"] for case in cases] == [p for p in parameters for _ in paths]
    assert [case["path"] for case in cases] == paths * len(parameters)
    for case in cases:
        assert case["draws"] == 3000 and len(case["seconds"]["sample"]) == len(case["seconds"]["derivative"]) == 2
        assert case["ns_derivative"] == pytest.approx(case["ns_sample_derivative"] - case["ns_sample"])
        ratios = [(b - a) / a for a, b in zip(case["seconds"]["sample"], case["seconds"]["derivative"], strict=True)]
        assert case["ratio"] == pytest.approx(float(np.median(ratios)))
        assert case["rejections_per_draw"] >= 0
    table = cli(*small)
    assert table.code == 0, table.err
    for text in ["implicit", "ns sample", "÷ sample", "rejections", *paths]:
        assert text in table.out


def test_a_dirichlet_batch_is_cut_to_the_jacobian_budget():
    from carms_cli.analysis.bench import IMPLICIT_JACOBIAN_VALUES, bench_implicit_paths

    dims = 32
    cases = bench_implicit_paths("dirichlet", [1.0] * dims, 10**9, 1, 1, 0)
    assert [case.draws for case in cases] == [IMPLICIT_JACOBIAN_VALUES // dims**2] * 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dist", "vonmises", "--alpha", "1"], "--alpha"),
        (["--dist", "beta", "--kappa", "1"], "--kappa"),
        (["--kappa", "1"], "--kappa"),
        (["--dist", "cauchy"], "--dist"),
        (["--dist", "beta", "--a", "0"], "--a"),
    ],
)
def test_other_distributions_bad_input(cli, args, message):
    assert message in cli(*SMALL, *args).error_line()


def test_dist_belongs_to_the_implicit_family(cli):
    result = cli("bench", "--dist", "beta", "--no-startup", "-t", "1000")
    assert result.code == 2 and "--family implicit" in result.err
