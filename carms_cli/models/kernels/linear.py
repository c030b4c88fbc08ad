"""The linear decoder on one-hot codes, compiled: a gather of the active rows instead of a dense product.

The decoder input is ``2·code(z) − 1`` with ``code`` the one-hot of z (categorical: row
``d·C + z_d`` of W for each variable d; binary: row m where ``z_m = 1``), so
``η = b + Σ_r (2 code_r − 1) W_r = (b − Σ_r W_r) + 2 Σ_{r active} W_r``: D rows gathered per
sample instead of a product over all D·C rows. Its backward pass is the transposed gather:
``∂/∂W_r = 2 Σ_{s: r active in s} δ_s − Σ_s δ_s`` for the output gradients δ.
"""

import math

import numpy as np

from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel

#: Pixels whose factors 1 + e^{−|η|} ≤ 2 are multiplied before one logarithm (≤ 2^32: no overflow).
LOG_GROUP = 32


@jit.helper(inline="always")
def decode_base(weights, bias):  # pragma: no cover - compiled
    """``b − Σ_r W_r`` (rows summed in order): the decoder output of the all-(−1) code."""
    base = bias.copy()
    for r in range(weights.shape[0]):
        for j in range(weights.shape[1]):
            base[j] -= weights[r, j]
    return base


@jit.helper(inline="always")
def decode_rows(weights, base, x, rows, keep, eta, sigma, log_likelihood, first, last, acc):  # pragma: no cover
    """:func:`decode` for the samples ``first … last − 1`` (flat index s·B + b), with scratch ``acc`` (P)."""
    batch, active = rows.shape[1], rows.shape[2]
    pixels = weights.shape[1]
    for row in range(first, last):
        s = row // batch
        b = row - s * batch
        for j in range(pixels):
            acc[j] = 0.0
        for a in range(active):
            r = rows[s, b, a]
            if r >= 0:
                for j in range(pixels):
                    acc[j] += weights[r, j]
        total = 0.0
        product = 1.0
        for j in range(pixels):
            value = base[j] + 2.0 * acc[j]
            e = math.exp(-abs(value))
            if keep:
                eta[row, j] = value
                sigma[row, j] = 1.0 / (1.0 + e) if value >= 0.0 else e / (1.0 + e)
            total += x[b, j] * value - max(value, 0.0)
            # Σ_j log(1 + e_j) as the log of products of LOG_GROUP factors in (1, 2]: one
            # logarithm per group instead of a log1p per pixel (within a few ulps of the sum)
            product *= 1.0 + e
            if (j + 1) % LOG_GROUP == 0 or j == pixels - 1:
                total -= math.log(product)
                product = 1.0
        log_likelihood[s, b] = total


@cached_kernel(nogil=True)
def decode(weights, bias, x, rows, keep, eta, sigma, log_likelihood):  # pragma: no cover - compiled
    """``log p(x | z_s) = Σ_j x_j η_j − softplus(η_j)`` for every sample s, and with ``keep`` its η and σ(η).

    ``weights`` (R, P), ``bias`` (P,), ``x`` (B, P) the modelled pixels, ``rows`` (S, B, A) the
    active code rows of each sample (−1: none); writes ``log_likelihood`` (S, B) and, with
    ``keep``, ``eta`` and ``sigma`` (S·B, P) for the backward pass. One exponential
    ``e = e^{−|η|}`` per pixel gives both ``softplus(η) = max(η, 0) + log(1 + e)`` and the
    logistic ``σ(η) = 1/(1 + e)`` (η ≥ 0) or ``e/(1 + e)`` (η < 0), each without overflow; the
    logarithms are taken of products of :data:`LOG_GROUP` consecutive factors ``1 + e``.
    """
    base = decode_base(weights, bias)
    acc = np.empty(weights.shape[1])
    count = rows.shape[0] * rows.shape[1]
    decode_rows(weights, base, x, rows, keep, eta, sigma, log_likelihood, 0, count, acc)


@cached_kernel(nogil=True)
def decode_backward(x, rows, sigma, count, weights, grad_weights, grad_bias):  # pragma: no cover - compiled
    """Gradients of ``(1/count) Σ_s log p(x | z_s)`` w.r.t. W (R, P) and b (P,) of :func:`decode`.

    ``δ_s = (x − σ(η_s))/count`` with σ from :func:`decode` — or, when ``weights`` (S, B) is not
    empty, ``δ_sb = (x − σ(η_sb))·weights[s, b]`` (sample weights, e.g. UNORD's); ``∂/∂b = Σ_s δ_s`` and
    ``∂/∂W_r = 2 Σ_{s: r active} δ_s − Σ_s δ_s``. Overwrites ``grad_weights`` and ``grad_bias``.
    """
    samples, batch, active = rows.shape
    width, pixels = grad_weights.shape
    weighted = weights.shape[0] > 0
    delta = np.empty(pixels)
    active_sum = np.zeros((width, pixels))
    for j in range(pixels):
        grad_bias[j] = 0.0
    for s in range(samples):
        for b in range(batch):
            row = s * batch + b
            for j in range(pixels):
                if weighted:
                    delta[j] = (x[b, j] - sigma[row, j]) * weights[s, b]
                else:
                    delta[j] = (x[b, j] - sigma[row, j]) / count
                grad_bias[j] += delta[j]
            for a in range(active):
                r = rows[s, b, a]
                if r >= 0:
                    for j in range(pixels):
                        active_sum[r, j] += delta[j]
    for r in range(width):
        for j in range(pixels):
            grad_weights[r, j] = 2.0 * active_sum[r, j] - grad_bias[j]


@cached_kernel(nogil=True)
def adam_ascent(params, grad, first, second, beta1, beta2, rate, bias1, bias2, epsilon):  # pragma: no cover - compiled
    """One Adam step up, in place, elementwise as ``training.adam_ascent`` writes it in NumPy.

    ``m = β₁m + (1 − β₁)g``, ``v = β₂v + (1 − β₂)g²``, ``θ += rate · (m/bias1)/(√(v/bias2) + ε)``
    with ``bias_i = 1 − β_iᵗ``; the same operations in the same order, so the same bits.
    """
    flat_p = params.reshape(-1)
    flat_g = grad.reshape(-1)
    flat_m = first.reshape(-1)
    flat_v = second.reshape(-1)
    one_minus1 = 1.0 - beta1
    one_minus2 = 1.0 - beta2
    for i in range(flat_p.size):
        g = flat_g[i]
        m = flat_m[i] * beta1
        m += one_minus1 * g
        v = flat_v[i] * beta2
        v += one_minus2 * g * g
        flat_m[i] = m
        flat_v[i] = v
        flat_p[i] += rate * (m / bias1) / (math.sqrt(v / bias2) + epsilon)
