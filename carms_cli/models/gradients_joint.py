"""Encoder-logit gradients from the discrete family's joint estimators: UNORD, ARSM, Gumbel relaxations.

Their estimate is not per-variable coefficients, so example b's D latent variables are one
discrete problem of D variables, as the discrete family defines them
(:mod:`carms_cli.discrete.kernels.numpy_backend`): replicate r of example b is trial
``t = r·B + b`` of the D-variable problem seeded ``seed`` (same stream key, same counter layout
``t·D·draws_per_var + d·draws_per_var + j``), with q(·|x_b) as its probabilities and f_b, the
per-example model objective, as its f. So at B = 1 the numbers are the discrete family's.

* UNORD: n distinct *joint* configurations of the D variables drawn without replacement,
  ``g = Σ_s q(s) R(S,s)(f(s) − B(S,s)) ∇log q(s)`` with exact Plackett–Luce R terms. The decoder
  and prior gradient on these samples, which are not drawn from q, take the unordered-set
  weights ``w_s = q(s) R(S, s)`` (``E_S[Σ_s w_s h(s)] = E_q[h]``, Kool et al. 2020).
* ARSM: one Dirichlet(1) draw per variable, the same swap (c, j) of all D variables, f_b at
  every one of the ``K(K−1)/2 + 1`` swap configurations (its cost, whatever n is); each swap
  configuration is marginally q, so the decoder gradient averages over all of them.
* Gumbel-softmax / straight-through: ``y = softmax((log q + G)/τ)``, hard ``z = argmax``,
  ``g_d = (1/(nτ)) Σ_i (diag(y) − y yᵀ) ∇_{y_d} f(·)`` with ∇f at y (softmax) or at the one-hot
  of z (straight-through), from the objective's ``relaxed`` extension
  (:class:`carms_cli.models.objective.ModelObjective`). Biased by design. The decoder gradient
  is taken on the hard samples z, which are drawn from q.
"""

import math

import numpy as np

from carms_cli.core.rng import stream_key
from carms_cli.core.rng_numpy import uniforms
from carms_cli.discrete.dispatch import branch
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.kernels.numpy_backend import (
    offsets,
    plackett_luce,
    subset_masses,
    sum_in_order,
    unord_coefficients,
    without_replacement,
)
from carms_cli.discrete.plan import draws_per_variable
from carms_cli.discrete.registry import applicable

#: The weightings run here, on joint configurations of each example's D variables.
JOINT = (Weighting.UNORD, Weighting.ARSM, Weighting.GUMBEL_SOFTMAX, Weighting.STRAIGHT_THROUGH)
_RELAXED = (Weighting.GUMBEL_SOFTMAX, Weighting.STRAIGHT_THROUGH)


def refusal(spec: EstimatorSpec, categories: int, samples: int, dims: int) -> str | None:
    """Why ``spec`` cannot run at C categories, n samples and D variables per example, or None.

    The discrete family's rules, and for the relaxations a scale ``1/(nτ)`` that float64 holds.
    """
    if spec.weighting in _RELAXED and not math.isfinite(1.0 / (samples * spec.temperature)):
        return f"estimator '{spec.name}': 1/(n·τ) overflows float64 at n = {samples}; use a larger temperature"
    return applicable(spec, categories, samples, dims)


def swap_count(categories: int) -> int:
    """ARSM's configurations per estimate: the identity and the K(K − 1)/2 swaps."""
    return categories * (categories - 1) // 2 + 1


def evaluations(spec: EstimatorSpec, categories: int, samples: int) -> int:
    """Count the f evaluations per example and estimate: ARSM its swap configurations, every other estimator n."""
    return swap_count(categories) if spec.weighting == Weighting.ARSM else samples


def evaluations_per_step(spec: EstimatorSpec, categories: int, samples: int, batch: int) -> int:
    """Count the f evaluations of one training step: the relaxations add the n hard samples the decoder trains on."""
    extra = samples if spec.weighting in _RELAXED else 0
    return (evaluations(spec, categories, samples) + extra) * batch


class _Stream:
    """Stream key and each row's first counter: row ``t = r·B + b`` is trial t of the D-variable problem."""

    def __init__(self, spec: EstimatorSpec, dims: int, categories: int, samples: int, seed: int, rows: int):
        self.key = np.uint64(stream_key(seed, spec.sampler.stream))
        self.draws_per_var = draws_per_variable(spec, categories, samples)
        self.trial_base = np.arange(rows, dtype=np.uint64) * np.uint64(dims * self.draws_per_var)

    def variable_base(self, d: int) -> np.ndarray:
        """First draw after variable d's order draw, per row."""
        return self.trial_base + np.uint64(d * self.draws_per_var + 1)


def _to_model(a: np.ndarray, replicates: int, batch: int) -> np.ndarray:
    """Rows (R·B, S, ...) → (R, S, B, ...)."""
    return np.swapaxes(a.reshape((replicates, batch) + a.shape[1:]), 1, 2)


def _to_rows(a: np.ndarray) -> np.ndarray:
    """(R, S, B, ...) → rows (R·B, S, ...)."""
    swapped = np.swapaxes(a, 1, 2)
    return swapped.reshape((swapped.shape[0] * swapped.shape[1],) + swapped.shape[2:])


def _evaluate(objective, z_rows: np.ndarray, replicates: int, batch: int) -> np.ndarray:
    """f_b at the configurations z (R·B, S, D) of each row, as rows (R·B, S)."""
    z = _to_model(z_rows, replicates, batch)
    f = objective(z.reshape((-1,) + z.shape[2:])).reshape(z.shape[:3])
    return _to_rows(f)


def _score_sum(z: np.ndarray, coef: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``g_d = Σ_i c_i (e_{z_{i,d}} − p_d)`` per row (rows, D, K), sums in sample order."""
    count, n, d_count = z.shape
    k = probs.shape[-1]
    rows = np.arange(count)
    g = np.empty((count, d_count, k))
    total = sum_in_order(coef)
    for d in range(d_count):
        a = np.zeros((count, k))
        for i in range(n):
            a[rows, z[:, i, d]] += coef[:, i]
        g[:, d] = a - total[:, None] * probs[:, d]
    return g


def set_weights(q: np.ndarray) -> np.ndarray:
    """Unordered-set weights ``w_s = q(s) R(S, s) = q(s) P^{D∖{s}}(S∖{s}) / P(S)`` (rows, n)."""
    count, n = q.shape
    subset_mass = subset_masses(q)
    every = (1 << n) - 1
    p0 = plackett_luce(q, subset_mass, every, np.zeros(count))
    w = np.empty((count, n))
    for s in range(n):
        w[:, s] = q[:, s] * plackett_luce(q, subset_mass, every ^ (1 << s), q[:, s]) / p0
    return w


def _unord(spec, probs, objective, samples, stream, replicates, batch):
    z, q = without_replacement(probs, stream.key, stream.variable_base, samples)
    f = _evaluate(objective, z, replicates, batch)
    g = _score_sum(z, unord_coefficients(q, f), probs)
    return g, z, f, set_weights(q)


def swap_configurations(probs: np.ndarray, stream: _Stream) -> tuple[np.ndarray, np.ndarray]:
    """ARSM's Dirichlet(1) draws π (rows, D, K) and swap configurations (rows, S, D), S = K(K−1)/2 + 1.

    As the discrete family draws them: ``e = −log u`` (K draws per variable), ``π = e/Σe``, keys
    ``log e − log p`` (the race ``argmin`` is the swap-free configuration, row 0); swapping c and
    j of π swaps their keys up to the ``log p`` shifts.
    """
    count, d_count, k = probs.shape
    with np.errstate(divide="ignore"):
        lp = np.log(probs)
    pi = np.empty((count, d_count, k))
    keys = np.empty((count, d_count, k))
    top = np.full((count, d_count, 3), -1, dtype=np.int64)
    for d in range(d_count):
        e = -np.log(uniforms(stream.key, offsets(stream.variable_base(d), k)))
        keys[:, d] = np.log(e) - lp[:, d]
        pi[:, d] = e * (1.0 / sum_in_order(e))[:, None]
        ranked = np.argsort(keys[:, d], axis=1, kind="stable")[:, :3]
        top[:, d, : ranked.shape[1]] = ranked
    rows = np.arange(count)
    swaps = [(c, j) for c in range(k) for j in range(c + 1, k)]
    configs = np.empty((count, len(swaps) + 1, d_count), dtype=np.int64)
    configs[:, 0] = top[:, :, 0]
    for s, (c, j) in enumerate(swaps, start=1):
        for d in range(d_count):
            best = top[:, d, 0]
            for rank in (1, 2):
                taken = (best == c) | (best == j)
                best = np.where(taken, top[:, d, rank], best)
            v_best = np.where(best < 0, np.inf, keys[rows, d, np.maximum(best, 0)])
            v_c = keys[:, d, j] + lp[:, d, j] - lp[:, d, c]
            v_j = keys[:, d, c] + lp[:, d, c] - lp[:, d, j]
            better = v_c < v_best
            best = np.where(better, c, best)
            v_best = np.where(better, v_c, v_best)
            best = np.where(v_j < v_best, j, best)
            configs[:, s, d] = best
    return pi, configs


def _arsm(spec, probs, objective, samples, stream, replicates, batch):
    """``g_{d,c} = Σ_j (F(c, j) − f̄^j)(1/K − π_{d,j})`` with ``F(c, j) = f(z^{c↔j})``, ``F(c, c) = f(z)``."""
    count, d_count, k = probs.shape
    pi, configs = swap_configurations(probs, stream)
    f = _evaluate(objective, configs, replicates, batch)
    values = np.empty((count, k, k))
    values[:, np.arange(k), np.arange(k)] = f[:, :1]
    s = 1
    for c in range(k):
        for j in range(c + 1, k):
            values[:, c, j] = f[:, s]
            values[:, j, c] = f[:, s]
            s += 1
    means = sum_in_order(np.swapaxes(values, 1, 2)) / k  # means[j] = Σ_m values[m, j] / K
    g = np.zeros((count, d_count, k))
    for d in range(d_count):
        for j in range(k):
            g[:, d, :] += (values[:, :, j] - means[:, j : j + 1]) * (1.0 / k - pi[:, d, j : j + 1])
    return g, configs, f, None


def gumbel_draws(probs: np.ndarray, samples: int, temperature: float, stream: _Stream):
    """Relaxed ``y = softmax((log p + G)/τ)`` (rows, n, D, K) and hard ``z = argmax`` (rows, n, D).

    ``G = −log(−log u)`` from draws ``1 + i·K + c`` of each variable's block, as the discrete family.
    """
    count, d_count, k = probs.shape
    with np.errstate(divide="ignore"):
        lp = np.log(probs)
    y = np.empty((count, samples, d_count, k))
    z = np.empty((count, samples, d_count), dtype=np.int64)
    for d in range(d_count):
        u = uniforms(stream.key, offsets(stream.variable_base(d), samples * k)).reshape(count, samples, k)
        s = lp[:, None, d] - np.log(-np.log(u))
        arg = s.argmax(axis=2)
        z[:, :, d] = arg
        best = np.take_along_axis(s, arg[:, :, None], axis=2)
        e = np.exp((s - best) / temperature)
        y[:, :, d] = e * (1.0 / sum_in_order(e))[:, :, None]
    return y, z


def _relaxed(spec, probs, objective, samples, stream, replicates, batch):
    """``g_d = (1/(nτ)) Σ_i y_{i,d} ⊙ (∇_{y_d} f − y_{i,d}·∇_{y_d} f)``, ∇f at y or at the one-hot of z."""
    relaxed = getattr(objective, "relaxed", None)
    if relaxed is None:
        raise TypeError(f"estimator '{spec.name}' needs an objective with a relaxed extension (ModelObjective)")
    y, z = gumbel_draws(probs, samples, spec.temperature, stream)
    at = y
    if spec.weighting == Weighting.STRAIGHT_THROUGH:
        at = (np.arange(probs.shape[-1]) == z[..., None]).astype(np.float64)
    points = _to_model(at, replicates, batch)
    _, grad = relaxed(points.reshape((-1,) + points.shape[2:]))
    grad = _to_rows(grad.reshape(points.shape))
    dot = (y * grad).sum(axis=-1, keepdims=True)
    g = sum_in_order(np.moveaxis(y * (grad - dot), 1, -1)) * (1.0 / (samples * spec.temperature))
    f = _evaluate(objective, z, replicates, batch)
    return g, z, f, None


#: The estimate, samples, f values and decoder weights of a joint weighting.
_ESTIMATORS = {
    Weighting.UNORD: _unord,
    Weighting.ARSM: _arsm,
    Weighting.GUMBEL_SOFTMAX: _relaxed,
    Weighting.STRAIGHT_THROUGH: _relaxed,
}


def joint_gradients(spec: EstimatorSpec, probs: np.ndarray, objective, samples: int, seed: int, replicates: int):
    """``replicates`` estimates of each example's ``∇_l E_q[f_b]`` by a joint estimator.

    Returns g (R, B, D, C), the evaluated configurations z (R, S, B, D), their f (R, S, B) and
    the decoder's sample weights (R, S, B) or None (uniform); S is n, or ARSM's swap count.
    """
    batch, d_count, k = probs.shape
    rows = np.ascontiguousarray(np.tile(np.asarray(probs, dtype=np.float64), (replicates, 1, 1)))
    stream = _Stream(spec, d_count, k, samples, seed, replicates * batch)
    estimate = branch(_ESTIMATORS, Weighting(spec.weighting), "the models' joint estimators")
    g, z, f, weights = estimate(spec, rows, objective, samples, stream, replicates, batch)
    g = g.reshape(replicates, batch, d_count, k)
    weights = None if weights is None else _to_model(weights, replicates, batch)
    return g, _to_model(z, replicates, batch), _to_model(f, replicates, batch), weights
