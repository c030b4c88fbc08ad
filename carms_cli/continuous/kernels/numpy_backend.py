"""NumPy backend of the continuous family: the chunk kernels' estimators, vectorised over a chunk's trials.

Same chunks, same random layout (:mod:`carms_cli.continuous.kernels.layout`) and same counter
stream (:mod:`carms_cli.core.rng_numpy`) as the compiled kernels, so it draws the very numbers
they draw; estimates agree up to the last-ulp differences of NumPy's and libm's ``log``,
``cos`` and ``exp`` and of summation order. The Gamma rejection sampler runs its attempts as
rounds over the variates still unaccepted. No numba code runs here but the implicit derivative
∂x/∂α of ``implicit``, which has one implementation (the compiled series / continued fraction of
:mod:`carms_cli.continuous.kernels.implicit`, applied to arrays); ``carms bench`` measures the
compiled kernels against this backend.
"""

import math

import numpy as np

from carms_cli.continuous.codes import DistributionCode, EstimatorCode, ObjectiveCode, ParameterCode
from carms_cli.continuous.kernels.args import KernelArgs
from carms_cli.continuous.kernels.layout import BOOST_COUNTER, MVD_SLOTS, base_samples, base_uniforms
from carms_cli.core.rng_numpy import hashes, uniforms

_TWO_PI = 2.0 * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def objective_values(args: KernelArgs, x: np.ndarray) -> np.ndarray:
    """Return f at points ``x`` of shape (..., D), as the kernel's ``objective_value`` computes it."""
    code, p = args.objective, args.objective_params
    if code == ObjectiveCode.COS_SUM:
        return np.cos(p[0] * x.sum(axis=-1))
    if code == ObjectiveCode.QUAD_FORM:
        return (x * p).sum(axis=-1) ** 2
    return _phi(code, p, x).sum(axis=-1)


def objective_gradients(args: KernelArgs, x: np.ndarray) -> np.ndarray:
    """Return ∇f at points ``x`` of shape (..., D)."""
    code, p = args.objective, args.objective_params
    if code == ObjectiveCode.COS_SUM:
        return np.broadcast_to((-p[0] * np.sin(p[0] * x.sum(axis=-1)))[..., None], x.shape)
    if code == ObjectiveCode.QUAD_FORM:
        return 2.0 * (x * p).sum(axis=-1)[..., None] * p
    return _phi_prime(code, p, x)


def _phi(code, p, t):
    if code == ObjectiveCode.LAPLACE:
        return np.exp(-p[0] * t)
    if code == ObjectiveCode.SQUARE:
        return (t - p[0]) * (t - p[0])
    if code == ObjectiveCode.EXP:
        return np.exp(-p[0] * t * t)
    if code == ObjectiveCode.COS:
        return np.cos(p[0] * t)
    if code == ObjectiveCode.SIN:
        return np.sin(p[0] * t)
    if code == ObjectiveCode.POLY:
        value = np.zeros_like(t)
        for c in p[::-1]:
            value = value * t + c
        return value
    if code == ObjectiveCode.LOG:
        return np.log(t)
    if code == ObjectiveCode.STEP:
        return (t > p[0]).astype(float)
    raise ValueError(f"objective code {code} has no separable part")


def _phi_prime(code, p, t):
    if code == ObjectiveCode.LAPLACE:
        return -p[0] * np.exp(-p[0] * t)
    if code == ObjectiveCode.SQUARE:
        return 2.0 * (t - p[0])
    if code == ObjectiveCode.EXP:
        return -2.0 * p[0] * t * np.exp(-p[0] * t * t)
    if code == ObjectiveCode.COS:
        return -p[0] * np.sin(p[0] * t)
    if code == ObjectiveCode.SIN:
        return p[0] * np.cos(p[0] * t)
    if code == ObjectiveCode.POLY:
        value = np.zeros_like(t)
        for i in range(p.shape[0] - 1, 0, -1):
            value = value * t + i * p[i]
        return value
    if code == ObjectiveCode.LOG:
        return 1.0 / t
    raise ValueError(f"objective code {code} has no derivative")


def gamma_variates(keys: np.ndarray, counters: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, int]:
    """Return Gamma(shape, 1) variates from the sub-keys at ``counters`` (Marsaglia–Tsang), and the rejections."""
    sub = hashes(keys, counters)
    shape = np.broadcast_to(shape, sub.shape)
    alpha = np.where(shape >= 1.0, shape, shape + 1.0)
    d = alpha - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    value = np.zeros(sub.shape)
    pending = np.ones(sub.shape, dtype=bool)
    rejections = 0
    attempt = 0
    while pending.any():
        index = np.nonzero(pending)
        first = np.uint64(3 * attempt)
        sk = sub[index]
        z = np.sqrt(-2.0 * np.log(uniforms(sk, first))) * np.cos(_TWO_PI * uniforms(sk, first + np.uint64(1)))
        v = 1.0 + c[index] * z
        positive = v > 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            v3 = v * v * v
            u = uniforms(sk, first + np.uint64(2))
            di = d[index]
            accept = positive & (np.log(u) < 0.5 * z * z + di - di * v3 + di * np.log(v3))
        rejections += int((~accept).sum())
        accepted = tuple(axis[accept] for axis in index)
        value[accepted] = (di * v3)[accept]
        pending[accepted] = False
        attempt += 1
    small = shape < 1.0
    if small.any():
        boost = np.exp(np.log(uniforms(sub[small], np.uint64(BOOST_COUNTER))) / shape[small])
        value[small] *= boost
    return value, rejections


def vonmises_variates(keys, counters: np.ndarray, kappa: np.ndarray) -> tuple[np.ndarray, int]:
    """Return von Mises(0, κ) variates from the sub-keys at ``counters`` (Best–Fisher), and the rejections.

    The rounds of :func:`gamma_variates` over the compiled sampler's steps
    (:func:`carms_cli.continuous.kernels.vonmises.vonmises_variate`): attempt a reads the sub-key's
    counters 3a (proposal), 3a + 1 (acceptance) and 3a + 2 (sign).
    """
    sub = hashes(keys, counters)
    kappa = np.broadcast_to(kappa, sub.shape)
    s = np.sqrt(1.0 + 4.0 * kappa * kappa)
    tau = 1.0 + s
    h = 2.0 * tau / ((s + 1.0) * (tau + np.sqrt(2.0 * tau)))
    rho = kappa * h
    a = 2.0 * rho / (1.0 + rho * rho)
    kappa_r = (1.0 + rho * rho) / (2.0 * h)
    k = (1.0 - rho) / (1.0 + rho)
    value = np.zeros(sub.shape)
    pending = np.ones(sub.shape, dtype=bool)
    rejections = 0
    attempt = 0
    while pending.any():
        index = np.nonzero(pending)
        first = np.uint64(3 * attempt)
        sk = sub[index]
        u1 = uniforms(sk, first)
        u2 = uniforms(sk, first + np.uint64(1))
        ai = a[index]
        c = kappa_r[index] * (1.0 - ai * ai) / (1.0 + ai * np.cos(np.pi * u1))
        accept = (c * (2.0 - c) - u2 > 0.0) | (np.log(c / u2) + 1.0 - c >= 0.0)
        rejections += int((~accept).sum())
        theta = 2.0 * np.arctan(k[index] * np.tan(0.5 * np.pi * u1))
        theta = np.where(uniforms(sk, first + np.uint64(2)) < 0.5, -theta, theta)
        accepted = tuple(axis[accept] for axis in index)
        value[accepted] = theta[accept]
        pending[accepted] = False
        attempt += 1
    return value, rejections


def draw_base(args: KernelArgs, key, base: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw samples x and standard variates ε, shape (m, samples, D), for trials whose counters start at ``base``."""
    m, d_count = base.shape[0], args.dims
    count = samples * d_count
    if count == 0:
        return np.zeros((m, 0, d_count)), np.zeros((m, 0, d_count)), 0
    rejections = 0
    if args.dist == DistributionCode.GAUSSIAN:
        pairs = base[:, None] + np.arange(0, count, 2, dtype=np.uint64)
        radius = np.sqrt(-2.0 * np.log(uniforms(key, pairs)))
        angle = _TWO_PI * uniforms(key, pairs + np.uint64(1))
        eps = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1).reshape(m, -1)[:, :count]
        eps = eps.reshape(m, samples, d_count)
        x = args.param_a + args.param_b * eps
    else:
        counters = base[:, None] + np.arange(count, dtype=np.uint64)
        if args.dist == DistributionCode.EXPONENTIAL:
            eps = -np.log(uniforms(key, counters))
        elif args.dist == DistributionCode.VONMISES:
            eps, rejections = vonmises_variates(np.uint64(key), counters, np.tile(args.param_b, samples))
            eps = eps.reshape(m, samples, d_count)
            return args.param_a + eps, eps, rejections
        else:
            shape = np.tile(args.param_a, samples)
            eps, rejections = gamma_variates(np.uint64(key), counters, shape)
        eps = eps.reshape(m, samples, d_count)
        x = eps / args.param_b
    return x, eps, rejections


def score_terms(args: KernelArgs, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Return ∂ log q/∂θ per reported coordinate, shape (..., P), from samples of shape (..., D)."""
    parts = []
    for j, code in enumerate(args.parameters):
        if code == ParameterCode.SHAPE:
            d_count = args.dims
            parts.append(np.log(eps) - args.score_offset[j * d_count : (j + 1) * d_count])
        elif code == ParameterCode.KAPPA:
            d_count = args.dims
            parts.append(np.cos(eps) - args.score_offset[j * d_count : (j + 1) * d_count])
        elif code == ParameterCode.MU and args.dist == DistributionCode.VONMISES:
            parts.append(args.param_b * np.sin(eps))
        elif code == ParameterCode.MU:
            parts.append(eps / args.param_b)
        elif code == ParameterCode.SIGMA:
            parts.append((eps * eps - 1.0) / args.param_b)
        elif code == ParameterCode.LOG_SIGMA:
            parts.append(eps * eps - 1.0)
        else:
            shape = args.param_a if args.dist == DistributionCode.GAMMA else 1.0
            parts.append(shape / args.param_b - x)
    return np.concatenate(parts, axis=-1)


def path_terms(args: KernelArgs, slope: np.ndarray, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Return ``slope · ∂x/∂θ`` per reported coordinate, shape (..., P)."""
    parts = []
    for code in args.parameters:
        if code == ParameterCode.MU:
            parts.append(slope)
        elif code == ParameterCode.SIGMA:
            parts.append(slope * eps)
        elif code == ParameterCode.LOG_SIGMA:
            parts.append(slope * eps * args.param_b)
        else:
            parts.append(-slope * x / args.param_b)
    return np.concatenate(parts, axis=-1)


def implicit_terms(args: KernelArgs, slope: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Return ``slope · ∂x/∂θ`` per reported coordinate for ``implicit``, shape (..., P).

    Gamma shape: ∂x_d/∂α_d = g(α_d, x̃_d)/β_d with x̃ = ``eps`` the rate-1 variates; von Mises:
    ∂x_d/∂κ_d of the compiled derivative (:func:`carms_cli.continuous.vonmises.kappa_derivative`)
    at ε = ``eps``, and ∂x_d/∂μ_d = 1.
    """
    from carms_cli.continuous.implicit import shape_derivative

    parts = []
    for code in args.parameters:
        if args.dist == DistributionCode.VONMISES and code in (ParameterCode.MU, ParameterCode.KAPPA):
            parts.append(slope * _vonmises_derivative(args, eps) if code == ParameterCode.KAPPA else slope)
            continue
        if args.dist != DistributionCode.GAMMA or code != ParameterCode.SHAPE:
            raise ValueError(f"no implicit derivative for parameter code {code} of distribution code {args.dist}")
        derivative = np.empty(eps.shape)
        for d in range(args.dims):
            column = np.ascontiguousarray(eps[..., d]).ravel()
            derivative[..., d] = shape_derivative(args.param_a[d], column)[0].reshape(eps.shape[:-1])
        parts.append(slope * derivative / args.param_b)
    return np.concatenate(parts, axis=-1)


def _vonmises_derivative(args: KernelArgs, eps: np.ndarray) -> np.ndarray:
    """Return ∂ε_d/∂κ_d of von Mises(0, κ_d) variates ``eps`` (..., D) by the one compiled derivative."""
    from carms_cli.continuous.vonmises import kappa_derivative

    derivative = np.empty(eps.shape)
    for d in range(args.dims):
        column = np.ascontiguousarray(eps[..., d]).ravel()
        derivative[..., d] = kappa_derivative(args.param_b[d], column)[0].reshape(eps.shape[:-1])
    return derivative


def _taylor_value(args: KernelArgs, x: np.ndarray) -> np.ndarray:
    delta = x - args.param_a
    return args.taylor_f0 + delta @ args.taylor_g0 + 0.5 * np.einsum("...d,de,...e->...", delta, args.taylor_h, delta)


def _taylor_gradient(args: KernelArgs, x: np.ndarray) -> np.ndarray:
    return args.taylor_g0 + (x - args.param_a) @ args.taylor_h.T


def _terms(args: KernelArgs, x: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (a, c) per sample: the estimator's terms and the delta control variate's, shape (..., P)."""
    if args.estimator in (EstimatorCode.PATHWISE, EstimatorCode.PATHWISE_DELTA):
        a = path_terms(args, objective_gradients(args, x), x, eps)
        c = path_terms(args, _taylor_gradient(args, x), x, eps) if args.estimator == EstimatorCode.PATHWISE_DELTA else 0
        return a, c
    s = score_terms(args, x, eps)
    a = objective_values(args, x)[..., None] * s
    c = _taylor_value(args, x)[..., None] * s if args.estimator == EstimatorCode.SCORE_DELTA else 0
    return a, c


def _mvd(args: KernelArgs, key, base: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the MVD estimates (m, P) for trials at ``base`` with base samples x (m, n, D)."""
    m, n, d_count = base.shape[0], args.samples, args.dims
    size = args.parameters.shape[0] * d_count
    coupled = args.estimator == EstimatorCode.MVD
    mvd_base = base + np.uint64(base_uniforms(args.dist, n * d_count) if d_count > 1 else 0)
    if d_count == 1:
        x = np.zeros((m, n, 1))
    g = np.zeros((m, size))
    rejections = 0
    for j, code in enumerate(args.parameters):
        for d in range(d_count):
            p = j * d_count + d
            counter = mvd_base[:, None] + ((np.arange(n, dtype=np.uint64) * size + p) * MVD_SLOTS).astype(np.uint64)

            def u(slot, counter=counter):
                return uniforms(key, counter + np.uint64(slot))

            mu, sigma = args.param_a[d], args.param_b[d]
            if code == ParameterCode.MU:
                w_plus = np.sqrt(-2.0 * np.log(u(0)))
                w_minus = w_plus if coupled else np.sqrt(-2.0 * np.log(u(1)))
                plus, minus, scale = mu + sigma * w_plus, mu - sigma * w_minus, _INV_SQRT_2PI / sigma
            elif code in (ParameterCode.SIGMA, ParameterCode.LOG_SIGMA):
                normal = np.sqrt(-2.0 * np.log(u(1))) * np.cos(_TWO_PI * u(2))
                magnitude = np.sqrt(-2.0 * np.log(u(0)) + normal * normal)
                mm = np.where(u(3) < 0.5, -magnitude, magnitude)
                nn = mm * u(4) if coupled else np.sqrt(-2.0 * np.log(u(4))) * np.cos(_TWO_PI * u(5))
                plus, minus = mu + sigma * mm, mu + sigma * nn
                scale = 1.0 if code == ParameterCode.LOG_SIGMA else 1.0 / sigma
            else:
                gamma = args.dist == DistributionCode.GAMMA
                shape, rate = (args.param_a[d], args.param_b[d]) if gamma else (1.0, args.param_b[d])
                if gamma:
                    plus_standard, rejected = gamma_variates(np.uint64(key), counter, shape)
                    rejections += rejected
                else:
                    plus_standard = -np.log(u(0))
                if coupled:
                    minus_standard = plus_standard
                elif gamma:
                    minus_standard, rejected = gamma_variates(np.uint64(key), counter + np.uint64(1), shape)
                    rejections += rejected
                else:
                    minus_standard = -np.log(u(1))
                minus_standard = minus_standard - np.log(u(2))
                plus, minus, scale = plus_standard / rate, minus_standard / rate, shape / rate
            point = x.copy()
            point[:, :, d] = plus
            f_plus = objective_values(args, point)
            point[:, :, d] = minus
            f_minus = objective_values(args, point)
            g[:, p] = (scale * (f_plus - f_minus)).mean(axis=1)
    return g, rejections


def trial_estimates(args: KernelArgs, first_trial: int, last_trial: int) -> tuple[np.ndarray, int]:
    """Return the estimates g of trials ``first_trial … last_trial − 1``, shape (m, P), and the sampler's rejections."""
    key = np.uint64(args.key)
    base = np.arange(first_trial, last_trial, dtype=np.uint64) * np.uint64(args.uniforms_per_trial)
    n = args.samples
    estimator = args.estimator
    if estimator in (EstimatorCode.MVD, EstimatorCode.MVD_UNCOUPLED):
        x, _, rejections = draw_base(args, key, base, base_samples(estimator, n, args.dims))
        g, more = _mvd(args, key, base, x)
        return g, rejections + more
    x, eps, rejections = draw_base(args, key, base, base_samples(estimator, n, args.dims))
    if estimator in (EstimatorCode.SCORE_DELTA, EstimatorCode.PATHWISE_DELTA):
        fresh_a, fresh_c = _terms(args, x[:, n:], eps[:, n:])
        centred_c = fresh_c - fresh_c.mean(axis=1, keepdims=True)
        cross = ((fresh_a - fresh_a.mean(axis=1, keepdims=True)) * centred_c).sum(axis=1)
        spread = (centred_c * centred_c).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = np.where(spread > 0.0, cross / spread, 0.0)
        a, c = _terms(args, x[:, :n], eps[:, :n])
        return (a - beta[:, None, :] * c).mean(axis=1) + beta * args.taylor_gradient_mean, rejections
    if estimator == EstimatorCode.SCORE_LOO:
        f = objective_values(args, x)
        s = score_terms(args, x, eps)
        weight = (f - f.mean(axis=1, keepdims=True)) / (n - 1)
        return (weight[..., None] * s).sum(axis=1), rejections
    if estimator in (EstimatorCode.PATHWISE, EstimatorCode.SCORE):
        a, _ = _terms(args, x, eps)
        return a.mean(axis=1), rejections
    if estimator == EstimatorCode.IMPLICIT:
        return implicit_terms(args, objective_gradients(args, x), eps).mean(axis=1), rejections
    if estimator == EstimatorCode.SCORE_BASELINE:
        s = score_terms(args, x, eps)
        return ((objective_values(args, x)[..., None] - args.baseline) * s).mean(axis=1), rejections
    raise ValueError(f"estimator code {estimator} has no NumPy branch")


def run_chunks(first_trial, n_chunks, chunk_size, last_trial, args: KernelArgs, out, estimates=None):
    """Run chunk rows ``0 .. n_chunks − 1`` into ``out`` = (count, Σ(g − r), Σ(g − r)², scalars), like the kernels.

    ``estimates(args, start, stop)`` gives the trials' estimates and rejections (default :func:`trial_estimates`;
    Beta and Dirichlet: :func:`carms_cli.continuous.kernels.numpy_simplex.simplex_estimates`).
    """
    estimates = trial_estimates if estimates is None else estimates
    out_count, out_s1, out_s2, out_scalars = out
    for row in range(n_chunks):
        start = first_trial + row * chunk_size
        stop = min(start + chunk_size, last_trial)
        if stop <= start:
            continue
        g, rejections = estimates(args, start, stop)
        diff = g - args.shift
        q = (diff * diff).sum(axis=1)
        out_count[row] = stop - start
        out_s1[row] = diff.sum(axis=0)
        out_s2[row] = (diff * diff).sum(axis=0)
        out_scalars[row] = (q.sum(), (q * q).sum(), args.evaluations * (stop - start), rejections)
