"""von Mises(0, κ) implicit reparameterization: sampler, ∂x/∂κ against mpmath, ``carms implicit --dist vonmises``.

* the compiled derivative is within 1e−12 relative of the 40-digit mpmath reference over
  κ ∈ [1e−3, 1e4] (and 1e5) at quantiles 1e−6 … 1 − 1e−6, at the near/tail boundary cos x = A,
  next to 0 and next to ±π (no absolute floor: both integrals are one-signed), median ≤ 2e−15;
* the reference (quadrature of ∂_κ q) equals the definition −mpmath.diff(quad F)/q;
* 1 − I₁/I₀ against mpmath on both sides of the switch to its asymptotic series;
* the Best–Fisher sampler passes a fixed-seed Kolmogorov–Smirnov test against scipy.stats.vonmises
  (p > 0.001) at κ = 1e−3 … 1e3, κ = 0 is uniform, draws do not depend on the batch they are in,
  and the CUDA path draws the CPU's numbers (simulator);
* E[−sin x·∂x/∂κ] = 1 − A/κ − A² at fixed seeds (|z| ≤ 5);
* the command's table, JSON, CSV, ``--max-error`` gate and bad input.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mpmath
import numpy as np
import pytest
from scipy import stats

from carms_cli.analysis.implicit_vonmises import cos_slope
from carms_cli.continuous.kernels import vonmises
from carms_cli.continuous.vonmises import kappa_derivative, reference_by_differentiation, reference_kappa_derivative
from carms_cli.core.rng import stream_key

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = [1e-6, 1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-6]
KAPPAS = [1e-3, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 10.5, 19.99, 20.0, 50.0, 100.0, 1e3, 1e4, 1e5]


def _points(kappa):
    """x at quantiles of von Mises(0, κ), around the near/tail boundary cos x = A, next to 0 and ±π."""
    xs = list(stats.vonmises.ppf(QUANTILES, kappa))
    boundary = float(np.arccos(1 - vonmises.mean_resultant_gap(kappa)))
    xs += [-boundary, np.nextafter(-boundary, 0.0), -boundary * (1 + 1e-9), boundary, 1e-9, -1e-300]
    xs += [-3.14, np.pi - 1e-6, -np.pi, np.pi]
    return np.array([x for x in xs if x != 0.0])  # the median, 0: ∂x/∂κ = 0 exactly (tested apart)


def _relative(value, reference):
    return abs(float(value) - reference) / abs(reference)


@pytest.mark.parametrize("kappa", KAPPAS)
def test_derivative_is_within_1e_12_of_mpmath(kappa):
    x = _points(kappa)
    g, terms = kappa_derivative(kappa, x)
    errors = [_relative(gi, reference_kappa_derivative(kappa, float(xi))) for gi, xi in zip(g, x, strict=True)]
    assert max(errors) <= 1e-12, (kappa, x[int(np.argmax(errors))], max(errors))
    assert np.median(errors) <= 2e-15
    assert 2 <= terms.min() and terms.max() <= 20 * vonmises.TAIL_NODES


def test_the_tail_series_equals_the_panels_and_mpmath_at_its_switch():
    for kappa in [30.0, 1e3, 1e5]:
        gap = vonmises.mean_resultant_gap(kappa)
        start = float(np.arccos(1 - gap))
        for x in -np.geomspace(start * (1 + 1e-12), 2 * np.arcsin(vonmises.SERIES_SIN), 25):
            series, terms = vonmises._tail_series(kappa, gap, np.sin(x / 2))
            panels, _ = vonmises._tail(kappa, gap, x, np.sin(x / 2))
            if kappa * np.cos(x / 2) ** 2 >= vonmises.SERIES_FROM and terms:
                assert _relative(series, panels) <= 2e-15, (kappa, x)
    # either side of κ·cos²(x/2) = SERIES_FROM, where the series takes over from the panels
    kappa = 30.0
    edge = -2 * float(np.arccos(np.sqrt(vonmises.SERIES_FROM / kappa)))
    x = np.array([edge, np.nextafter(edge, 0.0), np.nextafter(edge, -4.0)])
    g, _ = kappa_derivative(kappa, x)
    for gi, xi in zip(g, x, strict=True):
        assert _relative(gi, reference_kappa_derivative(kappa, float(xi))) <= 1e-14


def test_derivative_at_zero_is_zero_and_odd():
    x = np.array([0.0, -0.0, 0.3, -0.3, 2.0, -2.0, 1e-200, -1e-200])
    for kappa in [0.0, 1e-3, 3.0, 1e4]:
        g, _ = kappa_derivative(kappa, x)
        assert g[0] == 0.0 and g[1] == 0.0
        np.testing.assert_array_equal(g[2::2], -g[3::2])
        assert np.all(g[3::2] > 0)  # a larger κ pulls x < 0 towards 0


def test_kappa_zero_is_minus_sin_x():
    # κ → 0: F = ½ + x/(2π) + κ sin(x)/(2π) + O(κ²), q = 1/(2π), so ∂x/∂κ = −sin x
    x = np.linspace(-3.1, 3.1, 41)
    g, _ = kappa_derivative(0.0, x)
    np.testing.assert_allclose(g, -np.sin(x), rtol=1e-14, atol=1e-16)


def test_the_reference_is_the_derivative_of_the_quadrature_of_f():
    for kappa, x in [(0.01, -2.0), (1.0, 0.4), (10.0, -0.05), (10.0, 1.9), (1e3, -0.08)]:
        assert _relative(reference_by_differentiation(kappa, x), reference_kappa_derivative(kappa, x)) <= 1e-14


def test_one_minus_mean_resultant_matches_mpmath():
    for kappa in [0.0, 1e-300, 1e-3, 0.5, 1.0, 7.0, 19.99, 20.0, 20.01, 64.0, 1e3, 1e6, 1e12]:
        with mpmath.workdps(30):
            k = mpmath.mpf(kappa)
            exact = 1.0 if kappa == 0 else float(1 - mpmath.besseli(1, k) / mpmath.besseli(0, k))
        assert _relative(vonmises.mean_resultant_gap(kappa), exact) <= 1e-14, kappa


@pytest.mark.parametrize("kappa", [1e-3, 0.1, 1.0, 10.0, 100.0, 1e3])
def test_sampler_matches_scipy_kolmogorov_smirnov(kappa):
    x = np.empty(20_000)
    vonmises.vonmises_samples(np.uint64(stream_key(11, 201)), np.uint64(0), kappa, x)
    assert np.all(np.abs(x) <= np.pi)
    assert stats.kstest(x, stats.vonmises(kappa).cdf).pvalue > 1e-3


def test_kappa_zero_is_uniform_and_tiny_kappa_is_not_lost():
    key = np.uint64(stream_key(12, 201))
    uniform, tiny = np.empty(20_000), np.empty(20_000)
    assert vonmises.vonmises_samples(key, np.uint64(0), 0.0, uniform) == 0  # every attempt is accepted
    assert stats.kstest(uniform, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
    # κ = 1e−12: the stable ρ = κh keeps the wrapped-Cauchy parameter (the textbook form gives ρ = 0 here)
    vonmises.vonmises_samples(key, np.uint64(0), 1e-12, tiny)
    assert np.all(np.isfinite(tiny)) and np.max(np.abs(tiny - uniform)) < 1e-9


def test_draws_do_not_depend_on_the_batch():
    key = np.uint64(stream_key(13, 201))
    whole, part = np.empty(300), np.empty(100)
    vonmises.vonmises_samples(key, np.uint64(0), 2.0, whole)
    vonmises.vonmises_samples(key, np.uint64(150), 2.0, part)
    np.testing.assert_array_equal(part, whole[150:250])


@pytest.mark.parametrize("kappa, seed", [(0.3, 1), (2.0, 2), (30.0, 3), (1e3, 4)])
def test_monte_carlo_identity(kappa, seed):
    count = 100_000
    x, g = np.empty(count), np.empty(count)
    vonmises.vonmises_samples_with_derivative(np.uint64(stream_key(seed, 201)), np.uint64(0), kappa, x, g)
    values = -np.sin(x) * g
    z = (values.mean() - cos_slope(kappa)) / (values.std(ddof=1) / np.sqrt(count))
    assert abs(z) <= 5, (kappa, values.mean(), cos_slope(kappa), z)


def test_cos_slope_is_the_derivative_of_the_mean_resultant():
    for kappa in [1e-3, 1.0, 40.0]:
        with mpmath.workdps(30):
            exact = mpmath.diff(lambda k: mpmath.besseli(1, k) / mpmath.besseli(0, k), kappa)
        assert _relative(cos_slope(kappa), float(exact)) <= 1e-14


CUDA_SCRIPT = """
    import numpy as np
    from numba import cuda
    from carms_cli.continuous.kernels import vonmises as vm
    from carms_cli.core.rng import stream_key

    @cuda.jit
    def draw(key, kappa, gap, out, derivative):
        i = cuda.grid(1)
        if i < out.shape[0]:
            value, _ = vm.vonmises_variate(key, np.uint64(i), kappa)
            out[i] = value
            derivative[i] = vm.kappa_derivative(kappa, gap, value)

    key = np.uint64(stream_key(5, 201))
    for kappa in (0.0, 0.7, 40.0):
        n = 96
        x_cpu, g_cpu = np.empty(n), np.empty(n)
        vm.vonmises_samples_with_derivative(key, np.uint64(0), kappa, x_cpu, g_cpu)
        x_gpu, g_gpu = np.zeros(n), np.zeros(n)
        draw[3, 32](key, kappa, vm.mean_resultant_gap(kappa), x_gpu, g_gpu)
        assert np.array_equal(x_cpu, x_gpu) and np.array_equal(g_cpu, g_gpu), kappa
    print("ok")
"""


def test_the_cuda_path_draws_the_cpu_numbers_in_the_simulator():
    pytest.importorskip("numba.cuda")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CUDA_SCRIPT)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


FAST = ["implicit", "--dist", "vonmises", "--kappa", "0.1,10,1e4", "--draws", "8", "--batch", "1000", "-r", "1"]


def test_cli_table_json_and_csv(cli, tmp_path):
    result = cli(*FAST, "--csv", tmp_path / "rows.csv")
    assert result.code == 0, result.err
    for text in [
        "von Mises",
        "max rel err",
        "median rel err",
        "nodes",
        "rejected",
        "ns +∂x/∂κ",
        "1 − A/κ − A²",
        "10000",
    ]:
        assert text in result.out
    lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert lines[0].startswith("distribution,dtype,kappa,draws") and len(lines) == 4
    record = cli(*FAST, "--json", "-").json()
    assert record["passed"] is True and record["config"]["kappas"] == [0.1, 10.0, 1e4]
    assert [row["kappa"] for row in record["rows"]] == [0.1, 10.0, 1e4]
    for row in record["rows"]:
        assert row["distribution"] == "vonmises" and row["checked"] + row["zeros"] == 8
        assert row["max_rel_error"] <= 1e-12 and row["ns_sample"] > 0 and row["ns_sample_derivative"] > 0
        assert row["cos_slope_target"] == pytest.approx(cos_slope(row["kappa"]), rel=1e-15)
        assert abs(row["cos_slope_z"]) <= 5
    assert json.loads(json.dumps(record)) == record


def test_the_command_draws_on_its_one_stream(cli):
    from carms_cli.analysis import implicit, implicit_vonmises

    assert implicit_vonmises.STREAM == implicit.STREAM
    record = cli(*FAST[:4], "1", "--draws", "5", "--batch", "1000", "-r", "1", "--seed", "9", "--json", "-").json()
    x = np.empty(5)
    vonmises.vonmises_samples(np.uint64(stream_key(9, implicit.STREAM)), np.uint64(0), 1.0, x)
    assert record["rows"][0]["worst_x"] in x


def test_cli_max_error_gate(cli):
    assert cli(*FAST, "--max-error", "1e-30", "-q").code == 1
    passes = cli(*FAST, "--max-error", "1e-12")
    assert passes.code == 0 and "every row passes" in passes.out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kappa", "-1"], "--kappa"),
        (["--kappa", "1,x"], "--kappa"),
        (["--kappa", "nan"], "--kappa"),
        (["--kappa", "1e7"], "--kappa"),
        (["--kappa", ","], "--kappa"),
        (["--dtype", "float32"], "--dtype"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(cli, args, message):
    assert message in cli("implicit", "--dist", "vonmises", "--draws", "3", *args).error_line()
