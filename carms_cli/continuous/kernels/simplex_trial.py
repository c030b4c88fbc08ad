"""Per-trial logic of Beta and Dirichlet runs: implicit (CDF), implicit-gamma-ratio, score, score-loo, score-baseline.

One chunk kernel (:func:`simplex_chunk`, the signature of :func:`~carms_cli.continuous.kernels.trial.plain_chunk`)
runs every estimator of the two distributions; :func:`~carms_cli.continuous.kernels.chunks.kernel_for` sends
them here.

**Draws.** Trial t owns the counters ``t·U …`` of its stream. Beta: sample i, coordinate d takes the
two Gamma sub-keys at ``2(i·D + d)`` (G_a) and ``2(i·D + d) + 1`` (G_b); Dirichlet: sample i takes the
K sub-keys ``i·K … i·K + K − 1`` (:func:`~carms_cli.continuous.kernels.beta.dirichlet_draw`). The
kernel keeps x in ``x``, and in ``eps`` 1 − x = G_b/ΣG (Beta) or ln x_k = ln G_k − ln ΣG
(Dirichlet), so neither ln x nor ln(1 − x) is taken of an x that rounded to 0 or 1.

**Derivatives** (per sample; f′ = ∂f/∂x, c_j = g(α_j, G_j)/ΣG with g the Gamma shape derivative):

* CDF-implicit, Beta: ∂x/∂a, ∂x/∂b = −∂_{a,b} I_x(a, b)/q(x) (for x > ½ from 1 − x ~ Beta(b, a):
  ∂x/∂a = −∂(1 − x)/∂a, exact where x rounds to 1); Dirichlet: with (A_i, B_i) those of
  the marginal Beta(α_i, α₀ − α_i) at x_i, g_j = f′_j A_j + Σ_{i≠j} f′_i B_i;
* gamma ratio, Beta: ∂x/∂a = c_a(1 − x), ∂x/∂b = −c_b x; Dirichlet: g_j = c_j(f′_j − Σ_i x_i f′_i).

Scratch use (the delta buffers are free here): ``term_a`` and ``term_c`` hold one sample's
per-coordinate derivatives or scores, ``point`` the Dirichlet's Gammas and ``beta`` their logs.
"""

import math

import numpy as np

from carms_cli.continuous.codes import DistributionCode, EstimatorCode, ParameterCode
from carms_cli.continuous.kernels.beta import beta_derivatives_terms, dirichlet_draw, gamma_parts
from carms_cli.continuous.kernels.implicit import gamma_shape_derivative, log_minus_digamma
from carms_cli.continuous.kernels.trial import accumulate, close_row, objective_gradient, objective_value
from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel

BETA = int(DistributionCode.BETA)
IMPLICIT = int(EstimatorCode.IMPLICIT)
RATIO = int(EstimatorCode.IMPLICIT_GAMMA_RATIO)
SCORE_LOO = int(EstimatorCode.SCORE_LOO)
SCORE_BASELINE = int(EstimatorCode.SCORE_BASELINE)
BETA_B = int(ParameterCode.BETA_B)

_TINY = np.finfo(np.float64).tiny
_ONE = np.uint64(1)


@jit.helper(inline="always")
def ratio_coefficient(shape, g, log_g, total, x_j, table):  # pragma: no cover - compiled
    """Return c = g(α, G)/ΣG; when the Gammas underflowed (ΣG < tiny), x_j·(ψ(α + 1) − ln G)/α, its limit."""
    if total >= _TINY:
        return gamma_shape_derivative(shape, g, table) / total
    above = shape + 1.0
    return x_j * (math.log(above) - log_minus_digamma(above) - log_g) / shape


@jit.helper(inline="always")
def beta_pair(key, counter, a, b, table_a, table_b, ratio):  # pragma: no cover - compiled
    """Draw x ~ Beta(a, b) from the sub-keys at ``counter``, ``counter + 1``.

    Returns x, 1 − x, ln x, ln(1 − x), c_a, c_b (the ratio coefficients; 0 unless ``ratio``) and the
    rejections.
    """
    ma, ta, rejected_a = gamma_parts(key, counter, a)
    mb, tb, rejected_b = gamma_parts(key, counter + _ONE, b)
    log_a, log_b = math.log(ma) + ta, math.log(mb) + tb
    ga, gb = ma * math.exp(ta), mb * math.exp(tb)
    total = ga + gb
    if total >= _TINY:
        x, y, log_total = ga / total, gb / total, math.log(total)
    else:  # both underflowed: from the logs
        top = max(log_a, log_b)
        ea, eb = math.exp(log_a - top), math.exp(log_b - top)
        x, y, log_total = ea / (ea + eb), eb / (ea + eb), top + math.log(ea + eb)
    ca, cb = 0.0, 0.0
    if ratio:
        ca = ratio_coefficient(a, ga, log_a, total, x, table_a)
        cb = ratio_coefficient(b, gb, log_b, total, y, table_b)
    return x, y, log_a - log_total, log_b - log_total, ca, cb, rejected_a + rejected_b


@jit.helper(inline="always")
def beta_sample(
    key, first, estimator, dims, param_a, param_b, parameters, score_offset, shape_table, x_i, y_i, term_a
):  # pragma: no cover - compiled
    """Draw one Beta sample (D coordinates) into ``x_i``, ``y_i`` (= 1 − x); derivatives or scores into ``term_a``."""
    rejections = 0
    ratio = estimator == RATIO
    for d in range(dims):
        counter = first + np.uint64(2 * d)
        x, y, log_x, log_y, ca, cb, rejected = beta_pair(
            key, counter, param_a[d], param_b[d], shape_table[d], shape_table[dims + d], ratio
        )
        rejections += rejected
        x_i[d], y_i[d] = x, y
        da, db = 0.0, 0.0
        if estimator == IMPLICIT and x <= 0.5:
            da, db, _ = beta_derivatives_terms(param_a[d], param_b[d], x)
        elif estimator == IMPLICIT:  # on the complement 1 − x ~ Beta(b, a), exact where x rounds to 1
            db, da, _ = beta_derivatives_terms(param_b[d], param_a[d], y)
            da, db = -da, -db
        for j in range(parameters.shape[0]):
            p = j * dims + d
            second = parameters[j] == BETA_B
            if estimator == IMPLICIT:
                term_a[p] = db if second else da
            elif ratio:
                term_a[p] = -cb * x if second else ca * y
            else:
                term_a[p] = (log_y if second else log_x) - score_offset[p]
    return rejections


@jit.helper(inline="always")
def dirichlet_sample(
    key, first, estimator, dims, alpha, rest, score_offset, shape_table, x_i, logs_i, gammas, logs, term_a, term_c
):  # pragma: no cover - compiled
    """Draw one Dirichlet sample into ``x_i``, ln x into ``logs_i``; A, B, c or scores into ``term_a``, ``term_c``."""
    total, rejections = dirichlet_draw(key, first, alpha, gammas, logs, x_i)
    if total >= _TINY:
        log_total = math.log(total)
    else:
        top = logs[0]
        for k in range(1, dims):
            top = max(top, logs[k])
        scaled = 0.0
        for k in range(dims):
            scaled += math.exp(logs[k] - top)
        log_total = top + math.log(scaled)
    for k in range(dims):
        logs_i[k] = logs[k] - log_total
        if estimator == IMPLICIT:
            term_a[k], term_c[k], _ = beta_derivatives_terms(alpha[k], rest[k], x_i[k])
        elif estimator == RATIO:
            term_a[k] = ratio_coefficient(alpha[k], gammas[k], logs[k], total, x_i[k], shape_table[k])
        else:
            term_a[k] = logs_i[k] - score_offset[k]
    return rejections


@jit.helper(inline="always")
def path_estimate(dist, estimator, dims, size, x_i, slope, term_a, term_c, g):  # pragma: no cover - compiled
    """Add one sample's f′·∂x/∂θ to g (``slope`` = ∇f at the sample)."""
    if dist == BETA:
        for p in range(size):
            g[p] += slope[p % dims] * term_a[p]
    elif estimator == IMPLICIT:  # g_j = f′_j A_j + Σ_{i≠j} f′_i B_i
        cross = 0.0
        for i in range(dims):
            cross += slope[i] * term_c[i]
        for j in range(dims):
            g[j] += slope[j] * (term_a[j] - term_c[j]) + cross
    else:  # g_j = c_j (f′_j − Σ_i x_i f′_i)
        mean = 0.0
        for i in range(dims):
            mean += x_i[i] * slope[i]
        for j in range(dims):
            g[j] += term_a[j] * (slope[j] - mean)


# fmt: off
@cached_kernel(nogil=True, _nrt=False)
def simplex_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials of a Beta or Dirichlet estimator (module docstring) into one chunk row."""
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    path = estimator == IMPLICIT or estimator == RATIO
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        f_mean = 0.0
        for i in range(n):
            if dist == BETA:
                rejections += beta_sample(
                    key, base + np.uint64(2 * i * dims), estimator, dims, param_a, param_b, parameters,
                    score_offset, shape_table, x[i], eps[i], term_a,
                )
            else:
                rejections += dirichlet_sample(
                    key, base + np.uint64(i * dims), estimator, dims, param_a, param_b, score_offset,
                    shape_table, x[i], eps[i], point, beta, term_a, term_c,
                )
            if path:
                objective_gradient(objective, objective_params, x[i], dims, slope)
                path_estimate(dist, estimator, dims, size, x[i], slope, term_a, term_c, g)
            elif estimator == SCORE_LOO:
                f_values[i] = objective_value(objective, objective_params, x[i], dims)
                f_mean += f_values[i]
                for p in range(size):
                    fresh_a[i, p] = term_a[p]
            else:
                value = objective_value(objective, objective_params, x[i], dims)
                for p in range(size):
                    b = baseline[p] if estimator == SCORE_BASELINE else 0.0
                    g[p] += (value - b) * term_a[p]
        if estimator == SCORE_LOO:  # g = (1/(n − 1)) Σ_i (f_i − f̄) s_i
            f_mean *= inv_n
            inv = 1.0 / (n - 1)
            for i in range(n):
                weight = (f_values[i] - f_mean) * inv
                for p in range(size):
                    g[p] += weight * fresh_a[i, p]
        else:
            for p in range(size):
                g[p] *= inv_n
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)
# fmt: on
