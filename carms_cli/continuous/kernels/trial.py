"""Per-trial logic of the continuous family, written once: the chunk kernels and their helpers.

Like the discrete kernel it takes every input, scratch and output buffer from its caller and
allocates nothing, so the same function serves the CPU driver (a pool of threads, one call per
chunk, compiled without the GIL and without reference counting) and the CUDA driver (one chunk
per GPU thread); the helpers are inlined into it.

**Random numbers.** Trial t owns the counters ``t·U … t·U + U − 1`` of the estimator's stream
(U = :func:`carms_cli.continuous.kernels.layout.uniforms_per_trial`), used in a fixed order:

1. base draws, sample by sample and coordinate by coordinate — Gaussian: standard normals ε by
   Box–Muller, normal k from the pair of uniforms ``2⌊k/2⌋, 2⌊k/2⌋ + 1`` (cosine for even k,
   sine for odd k); Exponential: one uniform each, x = −ln(u)/λ; Gamma: one counter each, whose
   64-bit hash is the *sub-key* of a Marsaglia–Tsang rejection sampler drawing attempt a from
   the sub-key's counters ``3a, 3a + 1, 3a + 2`` (and the α < 1 boost from counter 2³²), so the
   unbounded number of attempts never shifts another draw; von Mises: one counter each, the
   sub-key of the Best–Fisher sampler of :mod:`carms_cli.continuous.kernels.vonmises` (the same
   three counters per attempt). The delta control variates draw n
   fresh samples after the n main ones;
2. MVD only: six counters per sample and reported coordinate, after the base draws.

The estimate g (P reported coordinates) is accumulated as ``Σ(g − r)`` and ``Σ(g − r)²`` about
the exact gradient r, with ``Σq``, ``Σq²`` (q = ‖g − r‖²), the evaluations and the Gamma
sampler's rejections per chunk row. Four kernels here and ``implicit_chunk``
(:mod:`carms_cli.continuous.kernels.implicit_trial`) share one signature
(:data:`carms_cli.continuous.kernels.chunks.KERNELS`) and each compile only their own
estimators' branches, on first use.
"""

import math

import numpy as np

from carms_cli.continuous.codes import DistributionCode, EstimatorCode, ObjectiveCode, ParameterCode
from carms_cli.continuous.kernels import layout
from carms_cli.continuous.kernels.layout import BOOST_COUNTER as BOOST_SUBKEY_COUNTER
from carms_cli.continuous.kernels.layout import MVD_SLOTS
from carms_cli.continuous.kernels.vonmises import vonmises_variate
from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel
from carms_cli.core.rng import mix64, uniform

SQUARE = int(ObjectiveCode.SQUARE)
EXP = int(ObjectiveCode.EXP)
COS = int(ObjectiveCode.COS)
POLY = int(ObjectiveCode.POLY)
LOG = int(ObjectiveCode.LOG)
COS_SUM = int(ObjectiveCode.COS_SUM)
QUAD_FORM = int(ObjectiveCode.QUAD_FORM)
STEP = int(ObjectiveCode.STEP)
LAPLACE = int(ObjectiveCode.LAPLACE)
SIN = int(ObjectiveCode.SIN)

GAUSSIAN = int(DistributionCode.GAUSSIAN)
EXPONENTIAL = int(DistributionCode.EXPONENTIAL)
GAMMA = int(DistributionCode.GAMMA)
VONMISES = int(DistributionCode.VONMISES)

PATHWISE = int(EstimatorCode.PATHWISE)
SCORE = int(EstimatorCode.SCORE)
SCORE_LOO = int(EstimatorCode.SCORE_LOO)
SCORE_DELTA = int(EstimatorCode.SCORE_DELTA)
PATHWISE_DELTA = int(EstimatorCode.PATHWISE_DELTA)
MVD = int(EstimatorCode.MVD)
MVD_UNCOUPLED = int(EstimatorCode.MVD_UNCOUPLED)
SCORE_BASELINE = int(EstimatorCode.SCORE_BASELINE)

MU = int(ParameterCode.MU)
SIGMA = int(ParameterCode.SIGMA)
LOG_SIGMA = int(ParameterCode.LOG_SIGMA)
RATE = int(ParameterCode.RATE)
SHAPE = int(ParameterCode.SHAPE)
KAPPA = int(ParameterCode.KAPPA)

BOOST_COUNTER = np.uint64(BOOST_SUBKEY_COUNTER)

_TWO_PI = 2.0 * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ONE = np.uint64(1)
_THREE = np.uint64(3)


@jit.helper(inline="always")
def phi(code, p, t):  # pragma: no cover - compiled
    """Return the separable objective's φ(t) (see :mod:`carms_cli.continuous.objectives`)."""
    if code == SQUARE:
        return (t - p[0]) * (t - p[0])
    if code == EXP:
        return math.exp(-p[0] * t * t)
    if code == COS:
        return math.cos(p[0] * t)
    if code == POLY:
        value = 0.0
        for i in range(p.shape[0] - 1, -1, -1):
            value = value * t + p[i]
        return value
    if code == LOG:
        return math.log(t)
    if code == STEP:
        return 1.0 if t > p[0] else 0.0
    if code == LAPLACE:
        return math.exp(-p[0] * t)
    if code == SIN:
        return math.sin(p[0] * t)
    return math.nan


@jit.helper(inline="always")
def phi_prime(code, p, t):  # pragma: no cover - compiled
    """φ′(t) of a separable objective (NaN for ``step``, which has none)."""
    if code == SQUARE:
        return 2.0 * (t - p[0])
    if code == EXP:
        return -2.0 * p[0] * t * math.exp(-p[0] * t * t)
    if code == COS:
        return -p[0] * math.sin(p[0] * t)
    if code == POLY:
        value = 0.0
        for i in range(p.shape[0] - 1, 0, -1):
            value = value * t + i * p[i]
        return value
    if code == LOG:
        return 1.0 / t
    if code == LAPLACE:
        return -p[0] * math.exp(-p[0] * t)
    if code == SIN:
        return p[0] * math.cos(p[0] * t)
    return math.nan


@jit.helper(inline="always")
def objective_value(code, p, x, dims):  # pragma: no cover - compiled
    """f(x) for one point x (D coordinates)."""
    if code == COS_SUM:
        total = 0.0
        for d in range(dims):
            total += x[d]
        return math.cos(p[0] * total)
    if code == QUAD_FORM:
        total = 0.0
        for d in range(dims):
            total += p[d] * x[d]
        return total * total
    value = 0.0
    for d in range(dims):
        value += phi(code, p, x[d])
    return value


@jit.helper(inline="always")
def objective_gradient(code, p, x, dims, out):  # pragma: no cover - compiled
    """∇f(x) into ``out`` (D coordinates)."""
    if code == COS_SUM:
        total = 0.0
        for d in range(dims):
            total += x[d]
        slope = -p[0] * math.sin(p[0] * total)
        for d in range(dims):
            out[d] = slope
    elif code == QUAD_FORM:
        total = 0.0
        for d in range(dims):
            total += p[d] * x[d]
        for d in range(dims):
            out[d] = 2.0 * total * p[d]
    else:
        for d in range(dims):
            out[d] = phi_prime(code, p, x[d])


@jit.helper(inline="always")
def taylor_value(f0, g0, hessian, centre, x, dims):  # pragma: no cover - compiled
    """Return the delta method's h(x) = f(μ) + ∇f(μ)·δ + ½ δᵀHδ with δ = x − μ."""
    value = f0
    for d in range(dims):
        delta = x[d] - centre[d]
        value += g0[d] * delta
        half = 0.5 * hessian[d, d] * delta
        for e in range(d):
            half += hessian[d, e] * (x[e] - centre[e])
        value += half * delta
    return value


@jit.helper(inline="always")
def taylor_gradient(g0, hessian, centre, x, dims, out):  # pragma: no cover - compiled
    """∇h(x) = ∇f(μ) + H(x − μ) into ``out``."""
    for d in range(dims):
        value = g0[d]
        for e in range(dims):
            value += hessian[d, e] * (x[e] - centre[e])
        out[d] = value


@jit.helper()
def gamma_variate(key, counter, shape):  # pragma: no cover - compiled
    """Return a Gamma(shape, 1) variate from the sub-key hashed at ``counter``, and its rejections.

    Marsaglia–Tsang (2000) for shape ≥ 1; for shape < 1 a Gamma(shape + 1) variate times
    U^{1/shape}. Attempt a uses the sub-key's counters 3a (and 3a + 1) for a Box–Muller normal
    and 3a + 2 for the acceptance uniform.
    """
    sub = mix64(key + (counter + _ONE) * _GOLDEN)
    alpha = shape if shape >= 1.0 else shape + 1.0
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    rejections = 0
    attempt = np.uint64(0)
    value = 0.0
    while True:
        first = attempt * _THREE
        z = math.sqrt(-2.0 * math.log(uniform(sub, first))) * math.cos(_TWO_PI * uniform(sub, first + _ONE))
        attempt += _ONE
        v = 1.0 + c * z
        if v <= 0.0:
            rejections += 1
            continue
        v = v * v * v
        u = uniform(sub, first + _THREE - _ONE)
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            value = d * v
            break
        rejections += 1
    if shape < 1.0:
        value *= math.exp(math.log(uniform(sub, BOOST_COUNTER)) / shape)
    return value, rejections


#: Counters taken by the base draws: the layout's own rule (the NumPy backend calls the same function)
base_uniforms = jit.helper(inline="always")(layout.base_uniforms)


@jit.helper(inline="always")
def draw_base(key, base, dist, samples, dims, param_a, param_b, x, eps):  # pragma: no cover - compiled
    """Draw ``samples`` samples into the first rows of x and ε; return the Gamma sampler's rejections.

    ``eps`` keeps the standard variate: ε for the Gaussian (x = μ + σε), the rate-1 variate
    x̃ for Exponential and Gamma (x = x̃/β), the von Mises(0, κ) variate ε ∈ [−π, π] for the
    von Mises (x = μ + ε; ``param_a`` = μ, ``param_b`` = κ). Draw k = i·D + d is sample i, coordinate d.
    """
    rejections = 0
    count = samples * dims
    if dist == GAUSSIAN:
        for k in range(0, count, 2):
            counter = base + np.uint64(k)
            radius = math.sqrt(-2.0 * math.log(uniform(key, counter)))
            angle = _TWO_PI * uniform(key, counter + _ONE)
            i, d = k // dims, k % dims
            e = radius * math.cos(angle)
            eps[i, d] = e
            x[i, d] = param_a[d] + param_b[d] * e
            if k + 1 < count:
                i, d = (k + 1) // dims, (k + 1) % dims
                e = radius * math.sin(angle)
                eps[i, d] = e
                x[i, d] = param_a[d] + param_b[d] * e
    elif dist == EXPONENTIAL:
        for k in range(count):
            i, d = k // dims, k % dims
            e = -math.log(uniform(key, base + np.uint64(k)))
            eps[i, d] = e
            x[i, d] = e / param_b[d]
    elif dist == VONMISES:
        for k in range(count):
            i, d = k // dims, k % dims
            e, rejected = vonmises_variate(key, base + np.uint64(k), param_b[d])
            rejections += rejected
            eps[i, d] = e
            x[i, d] = param_a[d] + e
    else:
        for k in range(count):
            i, d = k // dims, k % dims
            e, rejected = gamma_variate(key, base + np.uint64(k), param_a[d])
            rejections += rejected
            eps[i, d] = e
            x[i, d] = e / param_b[d]
    return rejections


@jit.helper(inline="always")
def score_term(parameter, dist, d, x, eps, param_a, param_b, offset):  # pragma: no cover - compiled
    """∂ log q(x_d|θ_d)/∂θ for one reported parameter of coordinate d.

    ``offset`` is the score's constant part for the parameters whose score is a statistic minus
    its mean: ψ(α) for the Gamma shape, s_α = log x̃ − ψ(α) with x̃ = βx; A(κ) = I₁(κ)/I₀(κ) for the
    von Mises concentration, s_κ = cos ε − A (computed on the host). von Mises location:
    s_μ = κ sin ε (ε = x − μ).
    """
    if parameter == SHAPE:
        return math.log(eps[d]) - offset
    if parameter == KAPPA:
        return math.cos(eps[d]) - offset
    if parameter == MU:
        if dist == VONMISES:
            return param_b[d] * math.sin(eps[d])
        return eps[d] / param_b[d]
    if parameter == SIGMA:
        return (eps[d] * eps[d] - 1.0) / param_b[d]
    if parameter == LOG_SIGMA:
        return eps[d] * eps[d] - 1.0
    # RATE: ∂/∂β log(β^α x^{α−1} e^{−βx}) = α/β − x (α = 1 for the Exponential)
    shape = param_a[d] if dist == GAMMA else 1.0
    return shape / param_b[d] - x[d]


@jit.helper(inline="always")
def path_term(parameter, d, slope, x, eps, param_b):  # pragma: no cover - compiled
    """``slope · ∂x_d/∂θ`` for one reported parameter of coordinate d (slope = ∂f/∂x_d)."""
    if parameter == MU:
        return slope
    if parameter == SIGMA:
        return slope * eps[d]
    if parameter == LOG_SIGMA:
        return slope * eps[d] * param_b[d]
    return -slope * x[d] / param_b[d]  # RATE: x = x̃/β


@jit.helper(inline="always")
def mvd_difference(
    key, counter, coupled, dist, parameter, d, point, dims, param_a, param_b, objective, objective_params
):  # pragma: no cover - compiled
    """One MVD term c·[f(x⁺) − f(x⁻)] for coordinate d of ``point`` (restored on return), and rejections.

    The draws come from the six counters ``counter …`` (see the module docstring and
    :mod:`carms_cli.continuous.registry`).
    """
    saved = point[d]
    mu, sigma = param_a[d], param_b[d]
    rejections = 0
    if parameter == MU:
        w_plus = math.sqrt(-2.0 * math.log(uniform(key, counter)))
        w_minus = w_plus if coupled else math.sqrt(-2.0 * math.log(uniform(key, counter + _ONE)))
        plus, minus = mu + sigma * w_plus, mu - sigma * w_minus
        scale = _INV_SQRT_2PI / sigma
    elif parameter == SIGMA or parameter == LOG_SIGMA:
        # double-sided Maxwell: |M|² ~ χ²₃ = −2 ln u + N², a random sign
        normal = math.sqrt(-2.0 * math.log(uniform(key, counter + _ONE))) * math.cos(
            _TWO_PI * uniform(key, counter + np.uint64(2))
        )
        magnitude = math.sqrt(-2.0 * math.log(uniform(key, counter)) + normal * normal)
        m = -magnitude if uniform(key, counter + _THREE) < 0.5 else magnitude
        if coupled:
            n = m * uniform(key, counter + np.uint64(4))  # M·U ~ N(0, 1)
        else:
            n = math.sqrt(-2.0 * math.log(uniform(key, counter + np.uint64(4)))) * math.cos(
                _TWO_PI * uniform(key, counter + np.uint64(5))
            )
        plus, minus = mu + sigma * m, mu + sigma * n
        scale = 1.0 if parameter == LOG_SIGMA else 1.0 / sigma
    else:
        # RATE: x⁺ ~ Gamma(α, β), x⁻ = (x̃ + E)/β ~ Gamma(α + 1, β) with E ~ Exp(1)
        shape, rate = (param_a[d], param_b[d]) if dist == GAMMA else (1.0, param_b[d])
        if dist == GAMMA:
            plus_standard, rejected = gamma_variate(key, counter, shape)
            rejections += rejected
        else:
            plus_standard = -math.log(uniform(key, counter))
        if coupled:
            minus_standard = plus_standard
        elif dist == GAMMA:
            minus_standard, rejected = gamma_variate(key, counter + _ONE, shape)
            rejections += rejected
        else:
            minus_standard = -math.log(uniform(key, counter + _ONE))
        minus_standard -= math.log(uniform(key, counter + np.uint64(2)))
        plus, minus = plus_standard / rate, minus_standard / rate
        scale = shape / rate
    point[d] = plus
    f_plus = objective_value(objective, objective_params, point, dims)
    point[d] = minus
    f_minus = objective_value(objective, objective_params, point, dims)
    point[d] = saved
    return scale * (f_plus - f_minus), rejections


@jit.helper(inline="always")
def sample_terms(
    estimator, dist, parameters, dims, x_i, eps_i, param_a, param_b, objective, objective_params,
    taylor_f0, taylor_g0, taylor_h, score_offset, slope, out_a, out_c,
):  # pragma: no cover - compiled
    """One sample's terms: a (the estimator's) and, for the delta CVs, c (the control variate's).

    Score family: a = f(x)·s(x), c = h(x)·s(x) (the delta CV) or s(x) (the constant baseline);
    pathwise family: a = ∇f(x)·∂x/∂θ, c = ∇h(x)·∂x/∂θ.
    Returns f(x) (score family; 0 otherwise).
    """
    value = 0.0
    if estimator == PATHWISE or estimator == PATHWISE_DELTA:
        objective_gradient(objective, objective_params, x_i, dims, slope)
        for j in range(parameters.shape[0]):
            for d in range(dims):
                out_a[j * dims + d] = path_term(parameters[j], d, slope[d], x_i, eps_i, param_b)
        if estimator == PATHWISE_DELTA:
            taylor_gradient(taylor_g0, taylor_h, param_a, x_i, dims, slope)
            for j in range(parameters.shape[0]):
                for d in range(dims):
                    out_c[j * dims + d] = path_term(parameters[j], d, slope[d], x_i, eps_i, param_b)
    else:
        value = objective_value(objective, objective_params, x_i, dims)
        if estimator == SCORE_DELTA:
            cv = taylor_value(taylor_f0, taylor_g0, taylor_h, param_a, x_i, dims)
        else:
            cv = 1.0 if estimator == SCORE_BASELINE else 0.0
        for j in range(parameters.shape[0]):
            for d in range(dims):
                s = score_term(parameters[j], dist, d, x_i, eps_i, param_a, param_b, score_offset[j * dims + d])
                out_a[j * dims + d] = value * s
                out_c[j * dims + d] = cv * s
    return value


@jit.helper(inline="always")
def accumulate(g, shift, size, out_s1, out_s2):  # pragma: no cover - compiled
    """Add g − r to ``Σ(g − r)`` and its square to ``Σ(g − r)²``; return ``q = ‖g − r‖²``."""
    q = 0.0
    for p in range(size):
        diff = g[p] - shift[p]
        out_s1[p] += diff
        out_s2[p] += diff * diff
        q += diff * diff
    return q


@jit.helper(inline="always")
def close_row(out_scalars, q_sum, q_sq_sum, evaluations, rejections):  # pragma: no cover - compiled
    """Add a chunk's ``Σq``, ``Σq²``, evaluations and rejections to its row's scalars."""
    out_scalars[0] += q_sum
    out_scalars[1] += q_sq_sum
    out_scalars[2] += evaluations
    out_scalars[3] += rejections


# The four kernels below share one signature (documented on plain_chunk) and differ in their
# trial body only: each compiles just its own estimators' code, on first use.
# _nrt=False: no reference counting (see the discrete kernel); they allocate nothing.
# fmt: off
@cached_kernel(nogil=True, _nrt=False)
def plain_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials ``start … stop − 1`` of ``pathwise``, ``score`` or ``score-baseline`` into one chunk row.

    Parameters
    ----------
    key, uniforms_per_trial : uint64
        The estimator's stream key and U (trial t owns counters ``t·U …``).
    dist, estimator : int
        :class:`~carms_cli.continuous.codes.DistributionCode` and ``EstimatorCode`` values.
    param_a, param_b : float64 (D,)
        (μ, σ) for the Gaussian, (α, β) for the Gamma, (1, λ) for the Exponential, (μ, κ) for the von Mises.
    parameters : int64 (J,)
        The reported parameters' ``ParameterCode`` values (P = J·D coordinates).
    objective, objective_params
        The objective's code and kernel parameters.
    shift : float64 (P,)
        The exact gradient r: the accumulators hold ``Σ(g − r)`` and ``Σ(g − r)²``.
    evaluations : int
        Evaluations of f or f′ per estimate.
    taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean
        The delta method: f(μ), ∇f(μ), ∇²f(μ) and ∇θ E[h] (P,).
    baseline : float64 (P,)
        The optimal constant baseline (score-baseline).
    score_offset : float64 (P,)
        The score's constant part (ψ(α) for the Gamma shape; see :func:`score_term`).
    shape_table : float64 (D, T)
        The Gamma shape derivative's per-α tables, or 1 − A(κ_d) (D, 1) for the von Mises κ (the
        ``implicit`` kernel's; (1, 1) otherwise).
    x, eps : float64 (2n, D)
        Samples and their standard variates (rows n … 2n − 1: the fresh samples).
    point, slope : float64 (D,)
        One sample's copy (MVD) and a gradient of f or h.
    g, term_a, term_c, beta : float64 (P,)
        The estimate, one sample's terms and the CV coefficients.
    fresh_a, fresh_c : float64 (n, P)
        Terms of the fresh samples (delta CVs) or the main samples' scores (score-loo).
    f_values : float64 (n,)
        f at the main samples (score-loo).
    out_s1, out_s2 : float64 (P,)
        ``Σ(g − r)`` and ``Σ(g − r)²`` of the row.
    out_scalars : float64 (4,)
        ``Σq``, ``Σq²``, evaluations and rejections of the row.
    """
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        rejections += draw_base(key, base, dist, n, dims, param_a, param_b, x, eps)
        for i in range(n):
            sample_terms(
                estimator, dist, parameters, dims, x[i], eps[i], param_a, param_b, objective,
                objective_params, taylor_f0, taylor_g0, taylor_h, score_offset, slope, term_a, term_c,
            )
            if estimator == SCORE_BASELINE:
                for p in range(size):
                    g[p] += term_a[p] - baseline[p] * term_c[p]  # (f − b)·s
            else:
                for p in range(size):
                    g[p] += term_a[p]
        for p in range(size):
            g[p] *= inv_n
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)


@cached_kernel(nogil=True, _nrt=False)
def loo_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials of ``score-loo``: g = (1/(n − 1)) Σ_i (f_i − f̄) s_i (= the leave-one-out form)."""
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    inv = 1.0 / (n - 1)
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        rejections += draw_base(key, base, dist, n, dims, param_a, param_b, x, eps)
        f_mean = 0.0
        for i in range(n):
            f_values[i] = objective_value(objective, objective_params, x[i], dims)
            f_mean += f_values[i]
            for j in range(parameters.shape[0]):
                for d in range(dims):
                    p = j * dims + d
                    fresh_a[i, p] = score_term(parameters[j], dist, d, x[i], eps[i], param_a, param_b, score_offset[p])
        f_mean *= inv_n
        for i in range(n):
            weight = (f_values[i] - f_mean) * inv
            for p in range(size):
                g[p] += weight * fresh_a[i, p]
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)


@cached_kernel(nogil=True, _nrt=False)
def delta_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials of ``score-delta`` or ``pathwise-delta``.

    β_p = Σ(a − ā)(c − c̄)/Σ(c − c̄)² over n fresh samples (0 if the CV does not vary), then
    g = mean_i (a_i − β c_i) + β ∇E[h] over the n main samples.
    """
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        rejections += draw_base(key, base, dist, 2 * n, dims, param_a, param_b, x, eps)
        for i in range(n):
            sample_terms(
                estimator, dist, parameters, dims, x[n + i], eps[n + i], param_a, param_b, objective,
                objective_params, taylor_f0, taylor_g0, taylor_h, score_offset, slope, fresh_a[i], fresh_c[i],
            )
        for p in range(size):
            mean_a = 0.0
            mean_c = 0.0
            for i in range(n):
                mean_a += fresh_a[i, p]
                mean_c += fresh_c[i, p]
            mean_a *= inv_n
            mean_c *= inv_n
            cross = 0.0
            spread = 0.0
            for i in range(n):
                dc = fresh_c[i, p] - mean_c
                cross += (fresh_a[i, p] - mean_a) * dc
                spread += dc * dc
            beta[p] = cross / spread if spread > 0.0 else 0.0
        for i in range(n):
            sample_terms(
                estimator, dist, parameters, dims, x[i], eps[i], param_a, param_b, objective,
                objective_params, taylor_f0, taylor_g0, taylor_h, score_offset, slope, term_a, term_c,
            )
            for p in range(size):
                g[p] += term_a[p] - beta[p] * term_c[p]
        for p in range(size):
            g[p] = g[p] * inv_n + beta[p] * taylor_gradient_mean[p]
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)


@cached_kernel(nogil=True, _nrt=False)
def mvd_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials of ``mvd`` or ``mvd-uncoupled``: g_p = mean_i c·[f(x_i⁺) − f(x_i⁻)] per coordinate p.

    At D > 1 the coordinates other than p's are one shared base draw per sample.
    """
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    coupled = estimator == MVD
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        if dims > 1:
            rejections += draw_base(key, base, dist, n, dims, param_a, param_b, x, eps)
            mvd_base = base + np.uint64(base_uniforms(dist, n * dims))
        else:
            mvd_base = base
        for i in range(n):
            for d in range(dims):
                point[d] = x[i, d]
            for j in range(parameters.shape[0]):
                for d in range(dims):
                    p = j * dims + d
                    counter = mvd_base + np.uint64((i * size + p) * MVD_SLOTS)
                    term, rejected = mvd_difference(
                        key, counter, coupled, dist, parameters[j], d, point, dims, param_a, param_b,
                        objective, objective_params,
                    )
                    rejections += rejected
                    g[p] += term
        for p in range(size):
            g[p] *= inv_n
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)
# fmt: on

