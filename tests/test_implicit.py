"""Implicit reparameterization of the Gamma shape: ∂x/∂α against mpmath, Monte Carlo identities, ``carms implicit``.

* the compiled float64 derivative is within 1e−12 relative of the 40-digit mpmath reference over
  α ∈ [1e−4, 1e6] at quantiles from 1e−6 to 1 − 1e−6 and at the branch edges (x = 1.5, x = α);
  the float32 variant within 1e−4 on normal x;
* the mpmath reference itself agrees with an independent quadrature of ∫ (ln t − ψ(α)) q(t) dt;
* the term budget grows with α (a fixed cap of 500 would not do at α ≥ 1e5);
* E[∂x/∂α] = 1 and E[(1/x)·∂x/∂α] = ψ′(α) at fixed seeds (|z| ≤ 5);
* the command draws the continuous family's Gamma variates (the same numbers), and its table,
  JSON, CSV, ``--max-error`` gate and bad input.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from scipy import special

from carms_cli.continuous.implicit import reference_shape_derivative, shape_derivative
from carms_cli.continuous.kernels import implicit, numpy_backend, temme
from carms_cli.core.rng import stream_key

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = [1e-6, 1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-6]
ALPHAS = [1e-4, 1e-3, 0.01, 0.1, 0.5, 0.999, 1.0, 1.5, 3.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]


def _points(alphas):
    """(α, x) at quantiles of Gamma(α, 1) and at the branch edges; x = 0 and subnormal x left out."""
    points = []
    for alpha in alphas:
        xs = list(special.gammaincinv(alpha, QUANTILES))
        xs += [1.5, np.nextafter(1.5, 2.0), alpha, np.nextafter(alpha, np.inf), alpha + np.sqrt(alpha)]
        points += [(alpha, float(x)) for x in xs if x >= np.finfo(float).tiny]
    return points


def _relative(value, reference):
    return abs(float(value) - reference) / abs(reference)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_float64_derivative_is_within_1e_12_of_mpmath(alpha):
    points = _points([alpha])
    x = np.array([p[1] for p in points])
    g, terms = shape_derivative(alpha, x)
    errors = [_relative(gi, reference_shape_derivative(alpha, xi)) for gi, xi in zip(g, x, strict=True)]
    assert max(errors) <= 1e-12, (alpha, x[int(np.argmax(errors))], max(errors))
    assert np.median(errors) <= 1e-14
    assert terms.max() <= 128 + 16 * np.sqrt(alpha)


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0, 10.0, 1e3, 1e6])
def test_float32_derivative_is_within_1e_4_on_normal_x(alpha):
    a32 = np.float32(alpha)
    x = np.array([x for _, x in _points([float(a32)])], dtype=np.float32)
    x = x[x >= np.finfo(np.float32).tiny]
    g, _ = shape_derivative(float(a32), x, np.float32)
    assert g.dtype == np.float32
    errors = [_relative(gi, reference_shape_derivative(float(a32), float(xi))) for gi, xi in zip(g, x, strict=True)]
    assert max(errors) <= 1e-4, (alpha, max(errors))


def test_zero_and_subnormal_x():
    g, terms = shape_derivative(0.001, np.array([0.0, 5e-324, 1e-315, 2e-310]))
    assert g[0] == 0.0 and terms[0] == 0
    for gi, xi in zip(g[1:], [5e-324, 1e-315, 2e-310], strict=True):
        assert _relative(gi, reference_shape_derivative(0.001, xi)) <= 1e-12  # g is normal though x is not


def test_the_reference_agrees_with_an_independent_quadrature():
    # ∂_α P(α, x) = ∫₀ˣ (ln t − ψ(α)) q(t) dt; with t = x·u^{1/α} the singularity at 0 goes away
    with mpmath.workdps(40):
        for alpha, x in [(0.01, 0.3), (0.7, 2.5), (3.0, 1.0), (30.0, 35.0)]:
            a, point = mpmath.mpf(alpha), mpmath.mpf(x)
            psi, log_gamma = mpmath.digamma(a), mpmath.loggamma(a)

            def integrand(u, a=a, point=point, psi=psi):
                t = point * u ** (1 / a)
                return (mpmath.log(t) - psi) * mpmath.exp(-t)

            lower = mpmath.exp(a * mpmath.log(point) - log_gamma) / a * mpmath.quad(integrand, [0, 1])
            density = mpmath.exp((a - 1) * mpmath.log(point) - point - log_gamma)
            assert abs(float(-lower / density) / reference_shape_derivative(alpha, x) - 1) <= 1e-14


def test_log_minus_digamma_matches_mpmath():
    for a in [1e-4, 0.003, 0.5, 1.0, 1.4616321449683622, 2.5, 9.99, 10.0, 10.01, 123.4, 1e6, 1e12]:
        with mpmath.workdps(30):
            exact = float(mpmath.log(a) - mpmath.digamma(a))
        assert _relative(implicit.log_minus_digamma(a), exact) <= 2e-15, a


def test_the_term_budget_grows_with_alpha():
    # near x ≈ α the series needs about 8.5√α terms: far beyond a fixed cap of 500 at α = 1e5
    for alpha in [1e4, 1e5]:
        table = np.empty(implicit.TABLE_SIZE)
        implicit.shape_table(alpha, table)
        for x in [alpha - 0.5 * np.sqrt(alpha), alpha]:
            g, terms = implicit.gamma_series(alpha, x, table)
            assert terms > 8 * np.sqrt(alpha) and (alpha < 1e5 or terms > 500)
            assert _relative(g, reference_shape_derivative(alpha, x)) <= 1e-12


@pytest.mark.parametrize("alpha", [1e-3, 0.999, 1.0, 3.0, 9.99])
def test_the_tabled_series_and_its_wider_reach_against_mpmath(alpha):
    # below α = 10 the series' first SERIES_TERMS terms come from the per-α table (four chains); for α ≥ 1
    # it reaches up to x = α + 2.5 + α/4 (both sides of that switch here)
    table = np.empty(implicit.TABLE_SIZE)
    implicit.shape_table(alpha, table)
    assert table[implicit.TABLE_TEMME] == 0 and table[implicit.TABLE_COEFFICIENTS] == 1.0
    edge = alpha + 2.5 + alpha / 4
    for x in [1e-300, 1e-3, 0.5, 1.5, alpha, edge, np.nextafter(edge, np.inf)]:
        g, terms = implicit.gamma_shape_derivative_terms(alpha, x, table)
        assert _relative(g, reference_shape_derivative(alpha, x)) <= 1e-14, (alpha, x, terms)
        if x == edge and alpha >= 1:
            assert terms % 4 == 0  # the series (checked after every fourth term), not the fraction


def test_the_series_goes_on_past_the_table_s_terms():
    # called directly at x = 22 for α = 9.99 (the fraction's region) the series needs more terms than the
    # table holds: the recursion goes on from where the table stopped (its cancellation costs ~1e−13 there)
    alpha, x = 9.99, 22.0
    table = np.empty(implicit.TABLE_SIZE)
    implicit.shape_table(alpha, table)
    g, terms = implicit.gamma_series(alpha, x, table)
    assert terms > implicit.SERIES_TERMS
    assert _relative(g, reference_shape_derivative(alpha, x)) <= 1e-12


def _x_at_eta(alpha, eta):
    """x = αλ with λ − 1 − ln λ = η²/2, sign(λ − 1) = sign(η)."""
    with mpmath.workdps(30):
        lam = mpmath.findroot(lambda t: t - 1 - mpmath.log(t) - mpmath.mpf(eta) ** 2 / 2, 1 + eta + eta**2 / 3)
        return float(alpha * lam)


def test_temme_coefficients_are_dlmf_s():
    # DLMF 8.12.11: c₀(η) = −1/3 + η/12 − 2η²/135 + η³/864 + η⁴/2835 − …; c₁(0) = −1/540; c₂(0) = 25/6048
    d = temme.temme_coefficients()
    assert list(d[0][:5]) == [Fraction(-1, 3), Fraction(1, 12), Fraction(-2, 135), Fraction(1, 864), Fraction(1, 2835)]
    assert d[1][0] == Fraction(-1, 540) and d[2][0] == Fraction(25, 6048)
    assert temme.stirling_coefficients(4) == [1, Fraction(1, 12), Fraction(1, 288), Fraction(-139, 51840)]
    # against the closed forms c₀ = 1/(λ − 1) − 1/η, c₁ = 1/η³ − 1/(λ − 1)³ − 1/(λ − 1)² − 1/(12(λ − 1))
    for eta in [-0.9, -0.3, 0.4, 1.0]:
        with mpmath.workdps(40):
            lam = mpmath.findroot(lambda t, e=eta: t - 1 - mpmath.log(t) - mpmath.mpf(e) ** 2 / 2, 1 + eta)
            m, e = lam - 1, mpmath.mpf(eta)
            closed = [1 / m - 1 / e, 1 / e**3 - 1 / m**3 - 1 / m**2 - 1 / (12 * m)]
            for k in range(2):
                taylor = sum(mpmath.mpf(c.numerator) / c.denominator * e**n for n, c in enumerate(d[k]))
                assert abs(taylor - closed[k]) <= 1e-13 * abs(closed[k]), (eta, k)


@pytest.mark.parametrize("alpha", [np.nextafter(10.0, 0.0), 10.0, 31.7, 1e3, 1e6])
def test_both_sides_of_each_switch_against_mpmath(alpha):
    # switches: α = 10 (Temme from there), |η| = 1 on both sides of the bulk, and the series / fraction
    # switch at x = α + 0.3√α behind it
    table = np.empty(implicit.TABLE_SIZE)
    implicit.shape_table(alpha, table)
    points = [alpha, np.nextafter(alpha, 0.0), alpha + 0.3 * np.sqrt(alpha)]
    for eta in [-1.0, 1.0]:
        edge = _x_at_eta(alpha, eta)
        points += [edge * (1 - 1e-9), edge * (1 + 1e-9)]
    temme_used = []
    for x in points:
        g, terms = implicit.gamma_shape_derivative_terms(alpha, x, table)
        temme_used.append(table[implicit.TABLE_TEMME] > 0 and implicit.gamma_uniform(alpha, x, table) >= 0)
        assert _relative(g, reference_shape_derivative(alpha, x)) <= 1e-12, (alpha, x, terms)
    if alpha < 10:
        assert not any(temme_used)
    else:  # inside |η| ≤ 1: Temme; just outside: the series (left) or the continued fraction (right)
        assert temme_used == [True, True, True, False, True, True, False]


@pytest.mark.parametrize("alpha", [10.0, 100.0, 1e4])
def test_temme_agrees_with_the_series_and_fraction_over_the_bulk(alpha):
    # no mpmath: the two independent derivations agree where both converge (|η| ≤ 1)
    table = np.empty(implicit.TABLE_SIZE)
    implicit.shape_table(alpha, table)
    for eta in np.linspace(-0.999, 0.999, 41):
        x = _x_at_eta(alpha, eta) if eta else alpha
        other = implicit.gamma_series if x <= alpha + 0.3 * np.sqrt(alpha) else implicit.gamma_fraction
        assert _relative(implicit.gamma_uniform(alpha, x, table), other(alpha, x, table)[0]) <= 1e-14, (alpha, eta)


def test_the_command_draws_the_continuous_family_gamma_variates():
    key = np.uint64(stream_key(4, 201))
    for alpha in [0.3, 2.0]:
        ours = np.empty(500)
        implicit.gamma_samples(key, np.uint64(0), alpha, ours)
        counters = np.arange(500, dtype=np.uint64)
        theirs, _ = numpy_backend.gamma_variates(key, counters, np.full(500, alpha))
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("alpha, seed", [(0.3, 1), (1.0, 2), (5.0, 3), (200.0, 4)])
def test_monte_carlo_identities(alpha, seed):
    count = 200_000
    x, g = np.empty(count), np.empty(count)
    implicit.gamma_samples_with_derivative(np.uint64(stream_key(seed, 201)), np.uint64(0), alpha, x, g)
    for values, target in [(g, 1.0), (g / x, float(special.polygamma(1, alpha)))]:
        z = (values.mean() - target) / (values.std(ddof=1) / np.sqrt(count))
        assert abs(z) <= 5, (alpha, target, values.mean(), z)
    # the rate: x = x̃/β has ∂x/∂α = g/β, so E = 1/β for any β
    beta = 2.5
    assert abs((g / beta).mean() - 1 / beta) <= 5 * (g / beta).std() / np.sqrt(count)


def test_the_float32_kernel_draws_the_rounded_float64_variates():
    key = np.uint64(stream_key(0, 201))
    x64, g64 = np.empty(2000), np.empty(2000)
    x32, g32 = np.empty(2000, np.float32), np.empty(2000, np.float32)
    implicit.gamma_samples_with_derivative(key, np.uint64(0), 2.0, x64, g64)
    implicit.gamma_samples_with_derivative32(key, np.uint64(0), 2.0, x32, g32)
    np.testing.assert_array_equal(x32, x64.astype(np.float32))
    np.testing.assert_allclose(g32, g64, rtol=1e-4)


FAST = ["implicit", "--alpha", "1e-3,1,1e6", "--draws", "12", "--batch", "1000", "--repeats", "1"]


def test_cli_table_json_and_csv(cli, tmp_path):
    result = cli(*FAST, "--csv", tmp_path / "rows.csv")
    assert result.code == 0, result.err
    for text in ["implicit", "float64", "max rel err", "median rel err", "x = 0", "subnormal", "ns sample",
                 "ns +∂x/∂α", "E[∂x/∂α] (z)", "0.001", "1e+06"]:  # fmt: skip
        assert text in result.out
    lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert lines[0].startswith("distribution,dtype,alpha,draws") and len(lines) == 4
    record = cli(*FAST, "--json", "-").json()
    assert record["schema"] == "carms-cli/implicit/1" and record["passed"] is True
    assert [row["alpha"] for row in record["rows"]] == [1e-3, 1.0, 1e6]
    for row in record["rows"]:
        assert row["draws"] == 12 and row["checked"] + row["underflows"] + row["subnormals"] == 12
        assert row["max_rel_error"] <= 1e-12 and row["ns_sample"] > 0 and row["ns_sample_derivative"] > 0
        assert row["mean_ratio_target"] == pytest.approx(float(special.polygamma(1, row["alpha"])))
    assert json.loads(json.dumps(record)) == record


def test_cli_float32(cli):
    record = cli("implicit", "--alpha", "0.1,10", "--draws", "20", "--batch", "1000", "-r", "1", "--dtype",
                 "float32", "--json", "-").json()  # fmt: skip
    assert record["config"]["dtype"] == "float32"
    assert all(row["max_rel_error"] <= 1e-4 for row in record["rows"])


def test_cli_max_error_gate(cli):
    fails = cli(*FAST, "--max-error", "1e-30", "-q")
    assert fails.code == 1
    passes = cli(*FAST, "--max-error", "1e-12")
    assert passes.code == 0 and "every row passes" in passes.out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--alpha", "-1"], "--alpha"),
        (["--alpha", "1,x"], "--alpha"),
        (["--alpha", "1e9"], "--alpha"),
        (["--dist", "weibull"], "--dist"),
        (["--dtype", "float16"], "--dtype"),
        (["--draws", "1"], "--draws"),
        (["--batch", "10"], "--batch"),
        (["--max-error", "0"], "--max-error"),
        (["--max-error", "nan"], "--max-error"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(cli, args, message):
    assert message in cli("implicit", "--draws", "3", *args).error_line()


CUDA_SCRIPT = """
    import numpy as np
    from numba import cuda
    from carms_cli.continuous.kernels import implicit
    from carms_cli.continuous.kernels.trial import gamma_variate
    from carms_cli.core.kernels.cuda_launch import unwrap
    from carms_cli.core.rng import stream_key

    @cuda.jit
    def draw(key, alpha, table, table32, x, g, g32, points, at_points):
        i = cuda.grid(1)
        if i < x.shape[0]:
            value, _ = gamma_variate(key, np.uint64(i), alpha)
            unwrap(x)[i] = value
            unwrap(g)[i] = implicit.gamma_shape_derivative(alpha, value, unwrap(table))
            rounded = np.float32(value)
            unwrap(g32)[i] = implicit.gamma_shape_derivative32(np.float32(alpha), rounded, unwrap(table32))
        if i < points.shape[0]:
            unwrap(at_points)[i] = implicit.gamma_shape_derivative(alpha, unwrap(points)[i], unwrap(table))

    key = np.uint64(stream_key(7, 201))
    count = 48
    # α < 1 (the boost; series and fraction), α = 2, and α = 50 (Temme in the bulk); every branch at
    # given points too (x = 0, the series, Temme on both sides of α, the fraction)
    for alpha in [0.3, 2.0, 50.0]:
        points = np.array([0.0, 0.2, 1.0, 3.0, 10.0, 45.0, 55.0, 120.0])
        at_points = np.empty(points.shape[0])
        table = np.empty(implicit.TABLE_SIZE)
        implicit.shape_table(alpha, table)
        table32 = np.empty(implicit.TABLE_SIZE, dtype=np.float32)
        implicit.prepare_shape32(np.float32(alpha), table32)
        x, g = np.empty(count), np.empty(count)
        g32 = np.empty(count, dtype=np.float32)
        draw[2, 32](key, alpha, cuda.to_device(table), cuda.to_device(table32), x, g, g32, points, at_points)
        cpu_points, terms = np.empty(points.shape[0]), np.empty(points.shape[0], np.int64)
        implicit.shape_derivatives(alpha, points, cpu_points, terms)
        assert np.array_equal(at_points, cpu_points), alpha
        cpu_x, cpu_g = np.empty(count), np.empty(count)
        implicit.gamma_samples_with_derivative(key, np.uint64(0), alpha, cpu_x, cpu_g)
        x32, cpu_g32 = np.empty(count, np.float32), np.empty(count, np.float32)
        implicit.gamma_samples_with_derivative32(key, np.uint64(0), alpha, x32, cpu_g32)
        assert np.array_equal(x, cpu_x) and np.array_equal(g, cpu_g), alpha
        assert np.array_equal(g32, cpu_g32), alpha
    print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_simulated_cuda_device_functions_give_the_cpu_numbers():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CUDA_SCRIPT)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_underflowed_and_subnormal_draws_are_reported_not_nan(cli):
    # float64 at α = 1e-3: about half the draws underflow to x = 0 (∂x/∂α = 0 there), a few are subnormal
    record = cli("implicit", "--alpha", "1e-3", "--draws", "60", "--batch", "1000", "-r", "1", "--json", "-").json()
    (row,) = record["rows"]
    key = np.uint64(stream_key(0, 201))
    x = np.empty(60)
    implicit.gamma_samples(key, np.uint64(0), 1e-3, x)
    assert row["underflows"] == int((x == 0).sum()) > 0
    assert row["subnormals"] == int(((x > 0) & (x < np.finfo(float).tiny)).sum())
    assert row["timing_underflows"] > 0 and row["mean_ratio"] is None and np.isfinite(row["mean_derivative"])
    g, _ = shape_derivative(1e-3, x)
    assert np.all(np.isfinite(g)) and np.all(g[x == 0] == 0)
    # float32 at α = 0.01: the float64 draws rounded; x = 0 and subnormal x counted apart from normal x
    record = cli("implicit", "--alpha", "0.01", "--draws", "400", "--batch", "1000", "-r", "1", "--dtype", "float32",
                 "--json", "-").json()  # fmt: skip
    (row,) = record["rows"]
    x = np.empty(400)
    implicit.gamma_samples(key, np.uint64(0), float(np.float32(0.01)), x)
    x32 = x.astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    assert row["underflows"] == int((x32 == 0).sum()) > 0
    assert row["subnormals"] == int(((x32 > 0) & (x32 < tiny)).sum()) > 0
    assert row["checked"] == int((x32 >= tiny).sum())
    g32, _ = shape_derivative(float(np.float32(0.01)), x32, np.float32)
    assert np.all(np.isfinite(g32)) and np.all(g32[x32 == 0] == 0)
    table = cli("implicit", "--alpha", "1e-3", "--draws", "20", "--batch", "1000", "-r", "1")
    assert "x of the timing batch underflowed to 0" in table.out


@pytest.mark.parametrize("alpha", [0.3, 5.0, 50.0, 1e4])
def test_the_sampling_kernel_s_derivative_is_the_checked_one(alpha):
    # gamma_samples_with_derivative calls the inlined shape_derivative, `carms implicit` checks
    # shape_derivative_terms: one rule, bitwise the same numbers (every branch: the CUDA test's points too)
    key = np.uint64(stream_key(9, 201))
    x, g = np.empty(5000), np.empty(5000)
    implicit.gamma_samples_with_derivative(key, np.uint64(0), alpha, x, g)
    checked, _ = shape_derivative(alpha, x)
    np.testing.assert_array_equal(g, checked)


PTX_SCRIPT = """
    import numpy as np
    from numba import cuda
    import numba.cuda.dispatcher as dispatcher
    from carms_cli.continuous.kernels import implicit
    from carms_cli.continuous.kernels.trial import gamma_variate

    class Device:  # no GPU needed: give device-function compilation a target architecture
        compute_capability = (8, 0)

    dispatcher.get_current_device = lambda: Device()

    def draw(key, alpha, table, table32, x, g, g32):
        i = cuda.grid(1)
        if i < x.shape[0]:
            value, _ = gamma_variate(key, np.uint64(i), alpha)
            x[i] = value
            g[i] = implicit.gamma_shape_derivative(alpha, value, table)
            g32[i] = implicit.gamma_shape_derivative32(np.float32(alpha), np.float32(value), table32)

    f64, f32 = "float64[::1]", "float32[::1]"
    signature = f"void(uint64, float64, {f64}, {f32}, {f64}, {f64}, {f32})"
    ptx, _ = cuda.compile_ptx(draw, signature, cc=(8, 0))
    assert ".entry" in ptx
    print("ptx", len(ptx))
"""


def test_the_device_helpers_compile_to_ptx_where_the_toolkit_wheels_are_installed():
    if importlib.util.find_spec("numba_cuda") is None or importlib.util.find_spec("nvidia") is None:
        pytest.skip("CUDA toolkit wheels are not installed: pip install 'numba-cuda[cu12]' to run this check")
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PTX_SCRIPT)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=900,
    )  # fmt: skip
    if result.returncode != 0 and "NVVM" in result.stderr and "not found" in result.stderr.lower():
        pytest.skip("NVVM not found: pip install 'numba-cuda[cu12]'")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ptx")
