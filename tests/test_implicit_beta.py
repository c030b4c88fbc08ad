"""Beta and Dirichlet implicit derivatives: sampler, both paths against mpmath, Monte Carlo identities, the command.

* the sampler: G = M·e^t equals the Gamma sampler's variates bitwise; Beta and Dirichlet marginals
  pass a Kolmogorov–Smirnov test against scipy.stats.beta at p > 0.01 (fixed seeds); when every
  Gamma underflows, x comes from ln G and sums to 1;
* CDF-implicit ∂x/∂a, ∂x/∂b within 1e−12 relative of the 40-digit mpmath reference over
  a, b ∈ [1e−2, 1e4] at quantiles and around the switch points; the reference agrees with an
  independent quadrature; float32 within 1e−4 on normal x;
* gamma ratio within 1e−12 of its mpmath reference at drawn G (x = 1 included) and at underflowed G;
* E[∂x_i/∂α_j] = (δ_ij α₀ − α_i)/α₀² for both paths (|z| ≤ 5), the cdf path's lower variance, and
  the timed kernels computing exactly the checked values;
* ``carms implicit --dist beta|dirichlet``: table, JSON, CSV, gate and bad input.
"""

import json
import math

import mpmath
import numpy as np
import pytest
from scipy import special, stats

from carms_cli.continuous.beta import reference_beta_derivatives, reference_ratio_jacobian
from carms_cli.continuous.kernels import beta, numpy_backend
from carms_cli.core.rng import stream_key

QUANTILES = [1e-6, 1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-6]
SHAPES = [0.01, 0.1, 0.5, 1.0, 2.5, 20.0, 21.0, 100.0, 1e3, 1e4]
KEY = np.uint64(stream_key(0, 201))


def _relative(value, reference):
    return abs(float(value) - reference) / abs(reference)


def _draw(alpha, draws, seed=0):
    alpha = np.asarray(alpha, dtype=np.float64)
    dims = alpha.shape[0]
    x, gammas, logs = np.empty((draws, dims)), np.empty((draws, dims)), np.empty((draws, dims))
    totals = np.empty(draws)
    beta.dirichlet_samples(np.uint64(stream_key(seed, 201)), np.uint64(0), alpha, x, gammas, logs, totals)
    return x, gammas, logs, totals


def _cdf(a, b, x, dtype=np.float64):
    """(∂x/∂a, ∂x/∂b, terms) at every x by the compiled CDF-implicit path."""
    x = np.ascontiguousarray(x, dtype=dtype)
    alpha, rest = np.array([a, b], dtype=dtype), np.array([b, a], dtype=dtype)
    jacobian = np.zeros((x.shape[0], 2, 2), dtype=dtype)
    terms = np.zeros(x.shape[0], dtype=np.int64)
    kernel = beta.cdf_jacobians32 if dtype == np.float32 else beta.cdf_jacobians
    kernel(alpha, rest, np.stack([x, 1 - x], axis=1), 1, jacobian, terms)
    return jacobian[:, 0, 0], jacobian[:, 0, 1], terms


# ---------------------------------------------------------------- sampler


def test_the_gammas_are_the_gamma_sampler_variates():
    alpha = np.array([0.3, 2.0, 0.01])
    _, gammas, logs, _ = _draw(alpha, 400, seed=4)
    counters = np.arange(400 * 3, dtype=np.uint64)
    expected, _ = numpy_backend.gamma_variates(np.uint64(stream_key(4, 201)), counters, np.tile(alpha, 400))
    np.testing.assert_allclose(gammas.reshape(-1), expected, rtol=1e-12)
    positive = gammas > 0
    np.testing.assert_allclose(np.exp(logs[positive]), gammas[positive], rtol=1e-12)


@pytest.mark.parametrize("a, b, seed", [(0.5, 0.5, 1), (2.0, 5.0, 2), (0.05, 3.0, 3), (300.0, 20.0, 4)])
def test_beta_variates_pass_a_kolmogorov_smirnov_test(a, b, seed):
    x, *_ = _draw([a, b], 20_000, seed)
    assert stats.kstest(x[:, 0], stats.beta(a, b).cdf).pvalue > 0.01


def test_dirichlet_marginals_pass_a_kolmogorov_smirnov_test():
    alpha = np.array([0.5, 1.0, 2.0, 7.0])
    x, *_ = _draw(alpha, 20_000, seed=5)
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-14)
    for i in range(4):
        marginal = stats.beta(alpha[i], alpha.sum() - alpha[i])
        assert stats.kstest(x[:, i], marginal.cdf).pvalue > 0.01, i


def test_underflowed_gammas_give_x_from_their_logarithms():
    x, gammas, logs, totals = _draw([1e-3, 1e-3], 200, seed=6)
    fallen = totals < np.finfo(float).tiny
    assert fallen.sum() >= 10  # about a quarter of the draws at α = 1e−3
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-14)
    expected = special.softmax(logs[fallen], axis=1)
    np.testing.assert_allclose(x[fallen], expected, rtol=1e-13)


# ---------------------------------------------------------------- CDF-implicit path


def _points(a, b):
    """x at quantiles of Beta(a, b) and around both switch points; 0, 1 and subnormal x left out."""
    xs = list(special.betaincinv(a, b, QUANTILES))
    for switch in [(a + 1) / (a + b + 2), (a + 1) / (a + b)]:
        xs += [switch * f for f in (0.99, 1.0, 1.01, 1.5, 3.0)]
    return np.array(sorted({x for x in xs if np.finfo(float).tiny <= x < 1}))


@pytest.mark.parametrize("a", SHAPES)
def test_cdf_derivatives_are_within_1e_12_of_mpmath(a):
    worst = 0.0
    for b in [0.01, 0.5, 3.0, 100.0, 1e4]:
        if a >= 1e3 and b >= 1e3:
            continue  # mpmath takes seconds per point there: see the heavy test
        xs = _points(a, b)
        da, db, _ = _cdf(a, b, xs)
        for k, x in enumerate(xs):
            ra, rb = reference_beta_derivatives(a, b, float(x))
            error = max(_relative(da[k], ra), _relative(db[k], rb))
            assert error <= 1e-12, (a, b, x, error)
            assert ra > 0 > rb  # Beta is stochastically increasing in a, decreasing in b
            worst = max(worst, error)
    assert worst > 0  # the comparison is not vacuous


@pytest.mark.heavy
def test_cdf_derivatives_at_large_a_and_b():
    # mpmath takes seconds per point here (minutes at a = b = 1e4): one point each side of the switch
    for a, b, quantile in [(1e3, 1e4, 0.3), (1e4, 1e3, 0.7)]:
        x = float(special.betaincinv(a, b, quantile))
        da, db, terms = _cdf(a, b, np.array([x]))
        assert terms[0] <= 2 * (128 + 16 * np.sqrt(max(a, b)))
        ra, rb = reference_beta_derivatives(a, b, x)
        assert max(_relative(da[0], ra), _relative(db[0], rb)) <= 1e-12, (a, b, x)


def test_x_zero_and_one_give_the_limit_zero():
    da, db, terms = _cdf(0.5, 2.0, np.array([0.0, 1.0]))
    assert list(da) == [0.0, 0.0] and list(db) == [0.0, 0.0] and list(terms) == [0, 0]


def test_subnormal_x():
    xs = np.array([5e-324, 1e-315, 2e-310])
    da, db, _ = _cdf(0.01, 2.0, xs)
    for k, x in enumerate(xs):
        ra, rb = reference_beta_derivatives(0.01, 2.0, float(x))
        assert max(_relative(da[k], ra), _relative(db[k], rb)) <= 1e-12


def test_the_reference_agrees_with_an_independent_quadrature():
    # ∂_a I_x(a, b) = ∫₀ˣ q(t)(ln t − ψ(a) + ψ(a + b)) dt, ∂_b likewise with ln(1 − t) − ψ(b);
    # with t = u^{1/a} the singularity at 0 goes away
    with mpmath.workdps(30):
        for a, b, x in [(0.5, 0.5, 0.3), (2.0, 5.0, 0.2), (0.1, 3.0, 0.6), (30.0, 20.0, 0.55)]:
            p, q, point = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
            log_beta = mpmath.log(mpmath.beta(p, q))
            shift = mpmath.digamma(p + q)
            level_a, level_b = shift - mpmath.digamma(p), shift - mpmath.digamma(q)

            def integral(level, p=p, q=q, log_beta=log_beta, point=point):
                def integrand(u):
                    t = u ** (1 / p)
                    return mpmath.exp((q - 1) * mpmath.log(1 - t) - log_beta) / p * level(t)

                return mpmath.quad(integrand, [0, point**p])

            density = mpmath.exp((p - 1) * mpmath.log(point) + (q - 1) * mpmath.log(1 - point) - log_beta)
            da = integral(lambda t, c=level_a: mpmath.log(t) + c)
            db = integral(lambda t, c=level_b: mpmath.log(1 - t) + c)
            ra, rb = reference_beta_derivatives(a, b, x)
            assert abs(float(-da / density) / ra - 1) <= 1e-14, (a, b, x)
            assert abs(float(-db / density) / rb - 1) <= 1e-14, (a, b, x)


@pytest.mark.parametrize("a, b", [(0.5, 0.5), (2.0, 100.0), (0.05, 3.0), (1e3, 20.0)])
def test_float32_cdf_derivatives_are_within_1e_4_on_normal_x(a, b):
    a32, b32 = float(np.float32(a)), float(np.float32(b))
    xs = _points(a32, b32).astype(np.float32)
    xs = xs[(xs >= np.finfo(np.float32).tiny) & (xs < 1)]
    da, db, _ = _cdf(a32, b32, xs, np.float32)
    assert da.dtype == np.float32
    for k, x in enumerate(xs):
        ra, rb = reference_beta_derivatives(a32, b32, float(x))
        assert max(_relative(da[k], ra), _relative(db[k], rb)) <= 1e-4, (a, b, x)


#: The plain fraction's worst float32 points (its odd Lentz steps cancelled near the switch point, the series
#: bracket beyond it): relative errors 5.0e−4, 4.2e−4, 3.4e−4, 3.3e−4, 2.8e−4, 2.3e−4, 1.8e−4 and 8.9e−5 there.
FLOAT32_WORST = [
    (1e4, 0.5, 0.999808),
    (21.0, 1e4, 0.00219495),
    (20.0, 30.0, 0.63),
    (1e4, 20.0, 0.997796),
    (1e4, 0.01, 0.999849),
    (0.01, 1e4, 0.00015147),
    (0.5, 1e4, 0.000449977),
    (30.0, 1e4, 0.00309073),
]


@pytest.mark.parametrize("a, b, x", FLOAT32_WORST)
def test_float32_cdf_derivatives_where_the_plain_fraction_cancelled(a, b, x):
    a32, b32, x32 = (float(np.float32(v)) for v in (a, b, x))
    da, db, _ = _cdf(a32, b32, np.array([x32]), np.float32)
    ra, rb = reference_beta_derivatives(a32, b32, x32)
    assert max(_relative(da[0], ra), _relative(db[0], rb)) <= 1e-5, (a, b, x)


@pytest.mark.heavy
@pytest.mark.parametrize("a", SHAPES)
def test_float32_cdf_derivatives_over_the_grid(a):
    # the float64 test's grid at float32-rounded (a, b, x): ≤ 8.8e−5 measured (at (0.01, 30), a small shape's levels)
    for b in [0.01, 0.5, 3.0, 100.0, 1e4]:
        if a >= 1e3 and b >= 1e3:
            continue
        a32, b32 = float(np.float32(a)), float(np.float32(b))
        xs = _points(a32, b32).astype(np.float32)
        xs = xs[(xs >= np.finfo(np.float32).tiny) & (xs < 1)]
        da, db, _ = _cdf(a32, b32, xs, np.float32)
        for k, x in enumerate(xs):
            ra, rb = reference_beta_derivatives(a32, b32, float(x))
            assert max(_relative(da[k], ra), _relative(db[k], rb)) <= 1e-4, (a, b, x)


# ---------------------------------------------------------------- gamma-ratio path


def _ratio(alpha, gammas, logs, totals, x, dtype=np.float64):
    alpha = np.asarray(alpha, dtype=dtype)
    jacobian = np.zeros((x.shape[0], alpha.shape[0], alpha.shape[0]), dtype=dtype)
    arrays = [np.ascontiguousarray(value, dtype=dtype) for value in (gammas, logs, totals, x)]
    kernel = beta.ratio_jacobians32 if dtype == np.float32 else beta.ratio_jacobians
    kernel(alpha, *arrays, alpha.shape[0], jacobian)
    return jacobian


@pytest.mark.parametrize("alpha", [(0.01, 0.01), (0.5, 3.0), (40.0, 2.0), (0.3, 1.0, 5.0)])
def test_gamma_ratio_jacobian_is_within_1e_12_of_mpmath(alpha):
    x, gammas, logs, totals = _draw(alpha, 25, seed=7)
    jacobian = _ratio(alpha, gammas, logs, totals, x)
    checked = 0
    for index in range(25):
        if (gammas[index] == 0).any():
            continue
        reference = reference_ratio_jacobian(alpha, gammas[index])
        errors = np.abs(jacobian[index] - reference) / np.abs(reference)
        assert errors.max() <= 1e-12, (alpha, gammas[index], errors.max())
        checked += 1
    assert checked >= 15
    if alpha == (0.01, 0.01):
        assert (x == 1).any()  # x rounded to 1, yet 1 − x = G₂/ΣG keeps ∂x/∂a exact


def test_gamma_ratio_jacobian_when_every_gamma_underflowed():
    # g(α, G)/ΣG = x_j·g/G with g/G = −∂_α P(α, G)/(G q(G)), computed here in mpmath at G = e^ℓ
    alpha = np.array([1e-3, 2e-3])
    logs = np.array([[-800.0, -803.5]])
    x = special.softmax(logs, axis=1)
    jacobian = _ratio(alpha, np.zeros((1, 2)), logs, np.zeros(1), x)
    with mpmath.workdps(40):
        for j in range(2):
            a, point = mpmath.mpf(alpha[j]), mpmath.exp(mpmath.mpf(logs[0, j]))
            derivative = -mpmath.diff(lambda s, point=point: mpmath.gammainc(s, 0, point, regularized=True), a)
            density = mpmath.exp((a - 1) * mpmath.log(point) - point - mpmath.loggamma(a))
            ratio = derivative / (density * point)
            for i in range(2):
                expected = float(ratio * x[0, j] * ((1 if i == j else 0) - mpmath.mpf(x[0, i])))
                assert _relative(jacobian[0, i, j], expected) <= 1e-12


def test_float32_gamma_ratio_is_within_1e_4():
    alpha = np.array([0.5, 3.0], dtype=np.float32).astype(np.float64)
    x, gammas, logs, totals = _draw(alpha, 30, seed=8)
    jacobian = _ratio(alpha, gammas, logs, totals, x, np.float32)
    for index in range(30):
        g32 = gammas[index].astype(np.float32).astype(np.float64)
        reference = reference_ratio_jacobian(alpha, g32)
        assert (np.abs(jacobian[index] - reference) / np.abs(reference)).max() <= 1e-4


# ---------------------------------------------------------------- identities and the timed kernels


def _timed(alpha, draws, seed, path):
    alpha = np.asarray(alpha, dtype=np.float64)
    dims = alpha.shape[0]
    rest = np.array([math.fsum(np.delete(alpha, i)) for i in range(dims)])
    x, jacobian = np.empty((draws, dims)), np.zeros((draws, dims, dims))
    key = np.uint64(stream_key(seed, 201))
    if path == "cdf":
        beta.dirichlet_samples_cdf(key, np.uint64(0), alpha, rest, dims, x, jacobian)
    else:
        beta.dirichlet_samples_ratio(key, np.uint64(0), alpha, dims, x, jacobian)
    return x, jacobian


@pytest.mark.parametrize("alpha, seed", [((0.5, 0.5), 1), ((2.0, 7.0), 2), ((0.3, 1.0, 4.0), 3)])
@pytest.mark.parametrize("path", ["gamma-ratio", "cdf"])
def test_monte_carlo_identities(alpha, seed, path):
    count = 100_000
    _, jacobian = _timed(alpha, count, seed, path)
    total = sum(alpha)
    for i in range(len(alpha)):
        for j in range(len(alpha)):
            values = jacobian[:, i, j]
            target = ((total if i == j else 0.0) - alpha[i]) / total**2
            z = (values.mean() - target) / (values.std(ddof=1) / np.sqrt(count))
            assert abs(z) <= 5, (alpha, path, i, j, values.mean(), target, z)


def test_the_cdf_path_has_the_lower_variance():
    # E[(i) | x] has at most the variance of (i): for f = x at (0.5, 0.5) 0.112 against 0.207 (design note)
    _, ratio = _timed((0.5, 0.5), 100_000, 9, "gamma-ratio")
    _, cdf = _timed((0.5, 0.5), 100_000, 9, "cdf")
    assert cdf[:, 0, 0].var() == pytest.approx(0.112, rel=0.05)
    assert ratio[:, 0, 0].var() == pytest.approx(0.207, rel=0.05)


@pytest.mark.parametrize("path", ["gamma-ratio", "cdf"])
def test_the_timed_kernels_compute_the_checked_values(path):
    alpha = np.array([0.01, 0.7, 3.0])
    x, gammas, logs, totals = _draw(alpha, 300, seed=10)
    drawn_x, jacobian = _timed(alpha, 300, 10, path)
    np.testing.assert_array_equal(drawn_x, x)
    if path == "cdf":
        rest = np.array([math.fsum(np.delete(alpha, i)) for i in range(3)])
        expected = np.zeros_like(jacobian)
        beta.cdf_jacobians(alpha, rest, x, 3, expected, np.zeros(300, dtype=np.int64))
    else:
        expected = _ratio(alpha, gammas, logs, totals, x)
    np.testing.assert_array_equal(jacobian, expected)


def test_the_float32_kernels_draw_the_rounded_float64_variates():
    alpha = np.array([0.5, 2.0])
    x32, j32 = np.empty((500, 2), np.float32), np.zeros((500, 2, 2), np.float32)
    beta.dirichlet_samples_cdf32(KEY, np.uint64(0), alpha, alpha.astype(np.float32),
                                 alpha[::-1].astype(np.float32), 2, x32, j32)  # fmt: skip
    x64, j64 = _timed(alpha, 500, 0, "cdf")
    np.testing.assert_array_equal(x32, x64.astype(np.float32))
    # x₀'s own derivatives (x₁ = 1 − x₀ rounded to float32 near 1 carries x₀'s rounding, 1e−3 relative of 1 − x₁)
    normal = (x64[:, 0] > 1e-6) & (x64[:, 0] <= 0.5)
    np.testing.assert_allclose(j32[normal, 0], j64[normal, 0], rtol=1e-4)


# ---------------------------------------------------------------- the command

BETA = ["implicit", "--dist", "beta", "--a", "0.5,2", "--b", "0.5,100", "--draws", "10", "--batch", "1000", "-r", "1"]
DIRICHLET = ["implicit", "--dist", "dirichlet", "--alpha", "0.5,1,2/0.01,0.01", "--draws", "8", "--batch", "1000",
             "-r", "1"]  # fmt: skip


def test_cli_beta_table_json_and_csv(cli, tmp_path):
    result = cli(*BETA, "--csv", tmp_path / "rows.csv")
    assert result.code == 0, result.err
    for text in ["Beta(a, b)", "gamma-ratio", "cdf", "∂x/∂a", "∂x/∂b", "max rel err", "underflow", "ns +∂", "2,100"]:
        assert text in result.out
    lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert lines[0].startswith("distribution,dtype,parameters,path,wrt") and len(lines) == 1 + 8
    record = cli(*BETA, "--json", "-").json()
    assert record["schema"] == "carms-cli/implicit/1" and record["passed"] is True
    assert record["config"]["parameters"] == [[0.5, 0.5], [2.0, 100.0]]
    assert [(row["path"], row["wrt"]) for row in record["rows"][:4]] == [
        ("gamma-ratio", "a"), ("gamma-ratio", "b"), ("cdf", "a"), ("cdf", "b")]  # fmt: skip
    for row in record["rows"]:
        assert row["checked"] + row["underflows"] + row["subnormals"] == 10
        assert row["max_rel_error"] <= 1e-12 and row["ns_sample"] > 0 and row["ns_sample_derivative"] > 0
        a, b = row["parameters"]
        assert row["mean_target"] == pytest.approx(b / (a + b) ** 2 if row["wrt"] == "a" else -a / (a + b) ** 2)
        assert abs(row["mean_z"]) <= 5
    assert json.loads(json.dumps(record)) == record


def test_cli_dirichlet(cli):
    record = cli(*DIRICHLET, "--json", "-").json()
    assert record["config"]["alphas"] == [[0.5, 1.0, 2.0], [0.01, 0.01]]
    assert len(record["rows"]) == 2 * 3 + 2 * 2
    for row in record["rows"]:
        dims = len(row["parameters"])
        assert row["checked"] + row["underflows"] + row["subnormals"] == 8 * dims
        assert row["max_rel_error"] is None or row["max_rel_error"] <= 1e-12
        assert row["max_abs_z"] <= 5
    first = record["rows"][0]
    assert first["wrt"] == "alpha1" and first["mean_target"] == pytest.approx((3.5 - 0.5) / 3.5**2)


def test_cli_float32_and_gate(cli):
    record = cli(*BETA, "--dtype", "float32", "--json", "-").json()
    assert all(row["max_rel_error"] <= 1e-4 for row in record["rows"])
    assert cli(*BETA, "--max-error", "1e-30", "-q").code == 1
    passes = cli(*BETA, "--max-error", "1e-12")
    assert passes.code == 0 and "every row passes" in passes.out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dist", "beta", "--alpha", "1"], "--alpha"),
        (["--dist", "gamma", "--a", "1"], "--a"),
        (["--dist", "dirichlet", "--b", "1"], "--b"),
        (["--dist", "beta", "--a", "1,2,3", "--b", "1,2"], "--a and --b"),
        (["--dist", "beta", "--a", "0"], "--a"),
        (["--dist", "beta", "--b", "1,x"], "--b"),
        (["--dist", "dirichlet", "--alpha", "1"], "--alpha"),
        (["--dist", "dirichlet", "--alpha", "1,2/3"], "--alpha"),
        (["--dist", "dirichlet", "--alpha", ",".join(["1"] * 33)], "--alpha"),
        (["--dist", "dirichlet", "--alpha", "1,-2"], "--alpha"),
        (["--dist", "weibull"], "--dist"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(cli, args, message):
    result = cli("implicit", "--draws", "3", *args)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
