"""Exact ground truth by enumeration (spec section 15).

The exact gradient needs no enumeration (:meth:`Problem.exact_gradient`). Exact moments of an
estimator enumerate every joint outcome of one n-sample estimate: per variable the K^n tuples
with their exact joint pmf (product of marginals for independent samples; the closed-form
Dirichlet-copula box probabilities, mixed over orders, for CARMS-I), and the product over the
D independent variables. This module is deliberately a second, vectorised numpy
implementation of every estimator, independent of the kernels; its importance ratios come
from the pair marginal of the enumerated tuple pmf, not from the plan.
"""

import itertools
import math
from typing import NamedTuple

import numpy as np

from carms_cli.discrete.dispatch import branch
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.exact.pmf import NotComputable, tuple_pmf
from carms_cli.discrete.plan import REFERENCE_CLIP, REFERENCE_SMOOTHING
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.sampling.samplers import Construction

__all__ = ["ExactMoments", "NotComputable", "exact_moments", "variable_tuple_pmf"]

#: Largest number of joint outcomes (K^n)^D enumerated.
MAX_OUTCOMES = 2_000_000
#: Largest number of n-subsets of the K^D configurations enumerated for UNORD (each costs n!·n²
#: Python-level Plackett–Luce terms).
MAX_UNORD_SUBSETS = 100_000


class ExactMoments(NamedTuple):
    """Exact moments of one n-sample estimate g (D×K arrays unless stated)."""

    mean: np.ndarray
    variance: np.ndarray
    fourth_central: np.ndarray  # E[(g − Eg)^4] per coordinate
    variance_total: float
    total_spread: float  # Var(‖g − Eg‖²), the spread of the total-variance estimate
    probability_total: float


def _tuple_pmf(problem: Problem, spec: EstimatorSpec, d: int) -> np.ndarray:
    return tuple_pmf(spec.sampler, problem.probs[d], problem.samples).reshape(-1)


#: How the oracle gets the joint pmf of one variable's n samples, per construction, or why it has
#: none (the constructions whose moments come from their own enumeration, or from none).
TUPLE_PMFS = {
    Construction.INVERSE: _tuple_pmf,
    Construction.GUMBEL: _tuple_pmf,
    Construction.STICK: _tuple_pmf,
    Construction.PAIRS: "antithetic pairs are not n exchangeable samples; the oracle integrates u per pair",
    Construction.SUBSETS: "UNORD draws its configurations jointly over the variables; the oracle enumerates n-subsets",
    Construction.SWAPS: "ARSM draws a continuous Dirichlet(1) vector per variable; Monte Carlo only",
    Construction.RELAXED: "the Gumbel relaxation is a continuous function of K Gumbels per sample; Monte Carlo only",
}


def variable_tuple_pmf(problem: Problem, spec: EstimatorSpec, d: int) -> np.ndarray:
    """Return the joint pmf of the n samples of variable d, flattened to K^n entries (C order).

    Raises :class:`NotComputable` for a construction without one (:data:`TUPLE_PMFS`).
    """
    how = branch(TUPLE_PMFS, spec.sampler.construction, "the exact oracle's tuple pmfs")
    if isinstance(how, str):
        raise NotComputable(how)
    return how(problem, spec, d)


def _score(z: np.ndarray, f: np.ndarray, ratios: list[np.ndarray]) -> np.ndarray:
    n, d_count = z.shape[1], z.shape[2]
    return np.repeat((f / n)[:, :, None], d_count, axis=2)


def _leave_one_out(z: np.ndarray, f: np.ndarray, ratios: list[np.ndarray]) -> np.ndarray:
    n, d_count = z.shape[1], z.shape[2]
    centred = (f - f.mean(axis=1, keepdims=True)) / (n - 1)
    return np.repeat(centred[:, :, None], d_count, axis=2)


def _importance(z: np.ndarray, f: np.ndarray, ratios: list[np.ndarray]) -> np.ndarray:
    n_out, n, d_count = z.shape
    coef = np.zeros((n_out, n, d_count))
    diff = f[:, :, None] - f[:, None, :]  # f_i − f_j
    for d in range(d_count):
        w = ratios[d][z[:, :, None, d], z[:, None, :, d]]  # (N, n, n), 0 on ties
        coef[:, :, d] = (w * diff).sum(axis=2) / (n * (n - 1))
    return coef


#: Per-sample coefficients on enumerated outcomes, per weighting the tuple enumeration serves.
_COEFFICIENTS = {
    Weighting.SCORE: _score,
    Weighting.LEAVE_ONE_OUT: _leave_one_out,
    Weighting.IMPORTANCE: _importance,
}


def _coefficients(spec: EstimatorSpec, z: np.ndarray, f: np.ndarray, ratios: list[np.ndarray]):
    """Per-sample coefficients c (N, n, D) for outcomes z (N, n, D) with values f (N, n)."""
    return branch(_COEFFICIENTS, spec.weighting, "the exact oracle's coefficients")(z, f, ratios)


def exact_moments(problem: Problem, spec: EstimatorSpec, max_outcomes: int = MAX_OUTCOMES) -> ExactMoments:
    """Exact mean and variance of ``spec`` on ``problem`` by enumerating all joint outcomes.

    Raises :class:`NotComputable` when the pmf has no closed form or there are more than
    ``max_outcomes`` outcomes.
    """
    how = branch(WEIGHTINGS, spec.weighting, "the exact oracle")
    if isinstance(how, str):
        raise NotComputable(how)
    return how(problem, spec, max_outcomes)


def _tuple_moments(problem: Problem, spec: EstimatorSpec, max_outcomes: int) -> ExactMoments:
    """Every joint outcome of the n samples of the D variables, from their tuple pmfs."""
    k, n, d_count = problem.categories, problem.samples, problem.dims
    n_tuples = k**n
    if n_tuples**d_count > max_outcomes:
        raise NotComputable(f"(K^n)^D = {n_tuples}^{d_count} outcomes exceed the cap {max_outcomes}")
    if spec.ratio == "reference-mc":
        raise NotComputable("its ratio is a fresh Monte Carlo estimate per call, not a function of the samples")
    tuples = np.indices((k,) * n).reshape(n, -1).T  # (K^n, n)
    pmfs = [variable_tuple_pmf(problem, spec, d) for d in range(d_count)]
    ratios = []
    for d in range(d_count):
        joint = pmfs[d].reshape((k,) * n).sum(axis=tuple(range(2, n)))
        p = problem.probs[d]
        if spec.ratio == "reference":
            ratio = np.clip((np.outer(p, p) + REFERENCE_SMOOTHING) / (joint + REFERENCE_SMOOTHING), *REFERENCE_CLIP)
        else:
            ratio = np.zeros((k, k))
            off = ~np.eye(k, dtype=bool)
            ratio[off] = (np.outer(p, p)[off]) / joint[off]
        ratios.append(ratio)
    grids = np.indices((n_tuples,) * d_count).reshape(d_count, -1).T  # (N, D) tuple ids
    prob = np.ones(grids.shape[0])
    for d in range(d_count):
        prob *= pmfs[d][grids[:, d]]
    keep = prob > 0
    grids, prob = grids[keep], prob[keep]
    z = np.stack([tuples[grids[:, d]] for d in range(d_count)], axis=2)  # (N, n, D)
    f = problem.objective.evaluate(np.transpose(z, (0, 1, 2)))  # evaluate over last axis D
    coef = _coefficients(spec, z, f, ratios)
    g = -coef.sum(axis=1)[:, :, None] * problem.probs[None, :, :]  # (N, D, K)
    onehot = z[..., None] == np.arange(k)  # (N, n, D, K)
    g += (coef[..., None] * onehot).sum(axis=1)
    return _moments(prob, g)


def _moments(prob: np.ndarray, g: np.ndarray) -> ExactMoments:
    """Moments of estimates ``g`` (N, D, K) taking each outcome with probability ``prob`` (N,)."""
    mean = np.einsum("t,tdk->dk", prob, g)
    centred = g - mean
    variance = np.einsum("t,tdk->dk", prob, centred**2)
    fourth = np.einsum("t,tdk->dk", prob, centred**4)
    spread = (centred**2).sum(axis=(1, 2))
    total = float(variance.sum())
    return ExactMoments(mean, variance, fourth, total, float(prob @ (spread - total) ** 2), float(prob.sum()))


def exact_pair_moments(problem: Problem, spec: EstimatorSpec, max_cells: int = MAX_OUTCOMES) -> ExactMoments:
    """Exact moments of ARM / DisARM: n/2 iid antithetic pairs, each from one uniform per variable.

    Per variable, u splits into three intervals on which (b, b̃) is constant (cut at p and 1 − p);
    the 3^D cells of one pair fix f(b) − f(b̃). ARM's φ-gradient ``Δf (u_d − 1/2)`` has closed-form
    moments on each interval; DisARM's ``½ Δf max(p, 1 − p)(b_d − b̃_d)`` is constant there. The
    estimate averages m = n/2 iid pairs: variance σ²/m, fourth central moment
    ``(μ₄ + 3(m − 1)σ⁴)/m³``, and ``Var‖Ȳ‖²`` from ``E‖X‖⁴``, ``(E‖X‖²)²`` and ``tr Σ²`` of one pair.
    Results are in the K = 2 logit coordinates (``g_0 = −g_1``) like :func:`exact_moments`.
    """
    d_count, n = problem.dims, problem.samples
    if 3**d_count > max_cells:
        raise NotComputable(f"3^D = 3^{d_count} cells exceed the cap {max_cells}")
    p = problem.probs[:, 1]
    cells = np.indices((3,) * d_count).reshape(d_count, -1).T  # (C, D) interval index per variable
    lo_edge = np.minimum(p, 1.0 - p)
    hi_edge = np.maximum(p, 1.0 - p)
    bounds = np.stack([np.zeros(d_count), lo_edge, hi_edge, np.ones(d_count)], axis=1)  # (D, 4)
    mids = (bounds[:, :-1] + bounds[:, 1:]) / 2  # a point inside each interval
    b = (mids > (1.0 - p)[:, None]).astype(np.int64)  # (D, 3)
    b_tilde = (mids < p[:, None]).astype(np.int64)
    dims = np.arange(d_count)
    length = (bounds[:, 1:] - bounds[:, :-1])[dims, cells]  # (C, D)
    prob = np.prod(length, axis=1)
    keep = prob > 0
    cells, prob, length = cells[keep], prob[keep], length[keep]
    bb = b[dims, cells]  # (C, D)
    bt = b_tilde[dims, cells]
    delta = problem.objective.evaluate(bb) - problem.objective.evaluate(bt)  # (C,)
    # conditional raw moments of X_d (one pair) per cell: r[k][c, d] = E[X_d^k | cell]
    pair_value = branch(_PAIR_VALUES, spec.weighting, "the exact oracle's pair moments")
    raw = pair_value(delta, p, bounds[dims, cells], bounds[dims, cells + 1], bb, bt)
    mean = prob @ raw[1]  # (D,)
    # central moments per cell around the global mean: E[(X − μ)^k | c] from raw moments
    c2 = raw[2] - 2 * mean * raw[1] + mean**2
    c4 = raw[4] - 4 * mean * raw[3] + 6 * mean**2 * raw[2] - 4 * mean**3 * raw[1] + mean**4
    sigma2 = prob @ c2
    mu4 = prob @ c4
    # one pair, φ coordinates: E[(Σ_d S_d)²] with S_d = (X_d − μ_d)², conditionally independent
    sum_s2 = c2.sum(axis=1)
    e_norm4 = prob @ (sum_s2**2 - (c2**2).sum(axis=1) + c4.sum(axis=1))
    centred1 = raw[1] - mean  # E[X_d − μ_d | c]
    cov = (centred1 * prob[:, None]).T @ centred1  # off-diagonal E[(X_d − μ_d)(X_e − μ_e)]
    cov[dims, dims] = sigma2
    m = n // 2
    # logit coordinates double every squared norm: ‖g‖² = 2 Σ_d g_d²
    e_norm2_x = 2.0 * sigma2.sum()
    e_norm4_x = 4.0 * e_norm4
    trace_sq = 4.0 * float((cov**2).sum())
    e_norm2_y = e_norm2_x / m
    e_norm4_y = (m * e_norm4_x + m * (m - 1) * (e_norm2_x**2 + 2.0 * trace_sq)) / m**4
    variance = sigma2 / m
    fourth = (mu4 + 3.0 * (m - 1) * sigma2**2) / m**3

    return ExactMoments(
        mean=np.stack([-mean, mean], axis=1),
        variance=np.stack([variance, variance], axis=1),
        fourth_central=np.stack([fourth, fourth], axis=1),
        variance_total=float(2.0 * variance.sum()),
        total_spread=float(e_norm4_y - e_norm2_y**2),
        probability_total=float(prob.sum()),
    )


def _arm_raw(delta, p, lo, hi, bb, bt) -> list[np.ndarray]:
    """ARM's ``E[X_d^k | cell]`` (k = 0..4) with ``X_d = Δf (u_d − 1/2)``, u uniform on [lo, hi]."""
    u_moments = [np.ones_like(lo)] + [_uniform_moments_vec(lo, hi, k) for k in (1, 2, 3, 4)]
    return [delta[:, None] ** k * u_moments[k] for k in range(5)]


def _disarm_raw(delta, p, lo, hi, bb, bt) -> list[np.ndarray]:
    """DisARM's ``E[X_d^k | cell]`` (k = 0..4): ``½ Δf max(p, 1 − p)(b_d − b̃_d)`` is constant there."""
    value = 0.5 * delta[:, None] * np.maximum(p, 1.0 - p)[None, :] * (bb - bt)
    return [value**k for k in range(5)]


#: Raw moments of one pair's φ-gradient on each cell, per pair weighting.
_PAIR_VALUES = {Weighting.ARM: _arm_raw, Weighting.DISARM: _disarm_raw}


def _uniform_moments_vec(lo: np.ndarray, hi: np.ndarray, power: int) -> np.ndarray:
    """Vectorised :func:`_uniform_moments`."""
    return ((hi - 0.5) ** (power + 1) - (lo - 0.5) ** (power + 1)) / ((power + 1) * (hi - lo))


def plackett_luce(q: list[float], removed: float = 0.0) -> float:
    """Probability that the first |B| draws without replacement are the set B (any order).

    The mass ``removed`` is already excluded:
    ``Σ_orderings Π_t q_t / (1 − removed − Σ_{u<t} q_u)`` (spec 10), by brute force over the orderings.
    """
    total = 0.0
    for ordering in itertools.permutations(q):
        term, used = 1.0, removed
        for value in ordering:
            term *= value / (1.0 - used)
            used += value
        total += term
    return total


def exact_unord_moments(problem: Problem, max_subsets: int = MAX_UNORD_SUBSETS) -> ExactMoments:
    """Exact moments of UNORD by enumerating every n-subset S of the K^D joint configurations (spec 15).

    ``P(S)`` and every R and B term come from brute-force Plackett–Luce sums over orderings — an
    implementation independent of the kernel's subset dynamic programme.
    """
    k, n, d_count = problem.categories, problem.samples, problem.dims
    configs = np.indices((k,) * d_count).reshape(d_count, -1).T  # (K^D, D)
    count = math.comb(len(configs), n)
    if count > max_subsets:
        raise NotComputable(f"C(K^D, n) = C({len(configs)}, {n}) = {count} subsets exceed the cap {max_subsets}")
    dims = np.arange(d_count)
    q_all = np.prod(problem.probs[dims, configs], axis=1)
    f_all = problem.objective.evaluate(configs)
    probs, estimates = [], []
    for subset in itertools.combinations(range(len(configs)), n):
        q = [float(q_all[i]) for i in subset]
        f = [float(f_all[i]) for i in subset]
        p0 = plackett_luce(q)
        g = np.zeros((d_count, k))
        for s in range(n):
            others = [t for t in range(n) if t != s]
            p1 = plackett_luce([q[t] for t in others], q[s])
            baseline = q[s] * f[s]
            for t in others:
                rest = [q[u] for u in others if u != t]
                baseline += q[t] * plackett_luce(rest, q[s] + q[t]) / p1 * f[t]
            weight = q[s] * (p1 / p0) * (f[s] - baseline)
            score = -problem.probs.copy()
            score[dims, configs[subset[s]]] += 1.0
            g += weight * score
        probs.append(p0)
        estimates.append(g)
    return _moments(np.asarray(probs), np.asarray(estimates))


def _unord_moments(problem: Problem, spec: EstimatorSpec, max_outcomes: int) -> ExactMoments:
    return exact_unord_moments(problem, min(max_outcomes, MAX_UNORD_SUBSETS))


#: How the oracle computes each weighting's moments, or why it cannot (the NotComputable message).
WEIGHTINGS = {
    Weighting.SCORE: _tuple_moments,
    Weighting.LEAVE_ONE_OUT: _tuple_moments,
    Weighting.IMPORTANCE: _tuple_moments,
    Weighting.ARM: exact_pair_moments,
    Weighting.DISARM: exact_pair_moments,
    Weighting.UNORD: _unord_moments,
    Weighting.ARSM: TUPLE_PMFS[Construction.SWAPS],
    Weighting.GUMBEL_SOFTMAX: TUPLE_PMFS[Construction.RELAXED],
    Weighting.STRAIGHT_THROUGH: TUPLE_PMFS[Construction.RELAXED],
}
