"""NumPy backend of Beta and Dirichlet runs: :mod:`~carms_cli.continuous.kernels.simplex_trial`, vectorised.

The same counters and Gamma sampler (:func:`~carms_cli.continuous.kernels.numpy_backend.gamma_variates`),
so the same draws; ln x is formed as ln G − ln ΣG (the kernel adds ln M + t of the sampler's two
parts, equal up to rounding). The implicit derivatives have one implementation, the compiled one,
applied to arrays: the Gamma shape derivative
(:func:`carms_cli.continuous.implicit.shape_derivative`) and the Beta CDF-implicit derivative
(:func:`carms_cli.continuous.exact_simplex.cdf_derivatives`). Gammas that all underflow (ΣG below
the smallest normal number, about 10⁻¹⁸ per draw at the least shape 0.06) are not special-cased here.
"""

import numpy as np

from carms_cli.continuous.codes import DistributionCode, EstimatorCode, ParameterCode
from carms_cli.continuous.kernels.args import KernelArgs


def _draw(args: KernelArgs, key, base: np.ndarray):
    """Return G (m, n, D, 2) for the Beta or (m, n, K) for the Dirichlet, and the rejections."""
    from carms_cli.continuous.kernels.numpy_backend import gamma_variates

    n, dims = args.samples, args.dims
    if args.dist == DistributionCode.BETA:
        first = base[:, None, None] + np.uint64(2) * (np.arange(n, dtype=np.uint64)[:, None] * np.uint64(dims))
        counters = first + np.uint64(2) * np.arange(dims, dtype=np.uint64)
        ga, rejected_a = gamma_variates(key, counters, args.param_a)
        gb, rejected_b = gamma_variates(key, counters + np.uint64(1), args.param_b)
        return np.stack([ga, gb], axis=-1), rejected_a + rejected_b
    counters = base[:, None, None] + np.arange(n * dims, dtype=np.uint64).reshape(n, dims)
    return gamma_variates(key, counters, args.param_a)


def _shape_derivative(shape: float, values: np.ndarray) -> np.ndarray:
    from carms_cli.continuous.implicit import shape_derivative

    flat = np.ascontiguousarray(values).ravel()
    return shape_derivative(shape, flat)[0].reshape(values.shape)


def simplex_estimates(args: KernelArgs, first_trial: int, last_trial: int) -> tuple[np.ndarray, int]:
    """Return the estimates of trials ``first_trial … last_trial − 1``, shape (m, P), and the rejections."""
    from carms_cli.continuous.exact_simplex import cdf_derivatives
    from carms_cli.continuous.kernels.numpy_backend import objective_gradients, objective_values

    key = np.uint64(args.key)
    base = np.arange(first_trial, last_trial, dtype=np.uint64) * np.uint64(args.uniforms_per_trial)
    gammas, rejections = _draw(args, key, base)
    estimator, dims, n = args.estimator, args.dims, args.samples
    beta = args.dist == DistributionCode.BETA
    if beta:
        total = gammas.sum(axis=-1)
        x, y = gammas[..., 0] / total, gammas[..., 1] / total
        log_x, log_y = np.log(gammas[..., 0]) - np.log(total), np.log(gammas[..., 1]) - np.log(total)
    else:
        total = gammas.sum(axis=-1, keepdims=True)
        x = gammas / total
        log_x = np.log(gammas) - np.log(total)
    if estimator in (EstimatorCode.IMPLICIT, EstimatorCode.IMPLICIT_GAMMA_RATIO):
        slope = objective_gradients(args, x)
        if beta:
            parts = []
            for code in args.parameters:
                second = code == ParameterCode.BETA_B
                path = np.empty(x.shape)
                for d in range(dims):
                    a, b = args.param_a[d], args.param_b[d]
                    if estimator == EstimatorCode.IMPLICIT:
                        path[..., d] = cdf_derivatives(a, b, x[..., d], y[..., d])[1 if second else 0]
                    elif second:
                        path[..., d] = -_shape_derivative(b, gammas[..., d, 1]) / total[..., d] * x[..., d]
                    else:
                        path[..., d] = _shape_derivative(a, gammas[..., d, 0]) / total[..., d] * y[..., d]
                parts.append(slope * path)
            return np.concatenate(parts, axis=-1).mean(axis=1), rejections
        if estimator == EstimatorCode.IMPLICIT:  # g_j = f′_j A_j + Σ_{i≠j} f′_i B_i
            first, second = np.empty(x.shape), np.empty(x.shape)
            for k in range(dims):
                first[..., k], second[..., k] = cdf_derivatives(args.param_a[k], args.param_b[k], x[..., k])
            cross = (slope * second).sum(axis=-1, keepdims=True)
            return (slope * (first - second) + cross).mean(axis=1), rejections
        c = np.empty(x.shape)
        for k in range(dims):
            c[..., k] = _shape_derivative(args.param_a[k], gammas[..., k]) / total[..., 0]
        mean = (x * slope).sum(axis=-1, keepdims=True)
        return (c * (slope - mean)).mean(axis=1), rejections
    if beta:
        scores = [(log_y if code == ParameterCode.BETA_B else log_x) for code in args.parameters]
        s = np.concatenate(scores, axis=-1) - args.score_offset
    else:
        s = log_x - args.score_offset
    f = objective_values(args, x)
    if estimator == EstimatorCode.SCORE_LOO:
        weight = (f - f.mean(axis=1, keepdims=True)) / (n - 1)
        return (weight[..., None] * s).sum(axis=1), rejections
    baseline = args.baseline if estimator == EstimatorCode.SCORE_BASELINE else 0.0
    return ((f[..., None] - baseline) * s).mean(axis=1), rejections
