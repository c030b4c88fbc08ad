"""Encoder-logit gradients of a whole minibatch by compiled kernels (the fast path of ``logit_gradients``).

The same estimates as :func:`carms_cli.models.gradients.reference_logit_gradients`, which
builds the discrete family's plan and runs the NumPy backend variable by variable: the B·D
variables ``v = b·D + d`` with probabilities ``q(z_d | x_b)``, the same counter-based stream
(replicate r is trial r), the same tables and formulas. Here the tables that cost a Python loop
per variable there (CARMS-I's thresholds, its exact Dirichlet pair pmf, the independent
copula's ratios) and all draws and coefficients run in
:mod:`carms_cli.models.kernels.estimates`; the pair pmfs without a compiled copy (CARMS-I's
Gaussian copula at n ≥ 3, CARMS-G, stick-breaking) and the stick-breaking orders are still
built per variable by the plan's own functions, so every number is the reference's.
"""

import numpy as np

from carms_cli.core import rng
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.exact import inverse as categorical
from carms_cli.discrete.exact.pmf import pair_pmf
from carms_cli.discrete.kernels.trial import LINEAR_SCAN_MAX
from carms_cli.discrete.plan import (
    MAX_PLAN_BYTES,
    _construction_tables,
    draws_per_variable,
    importance_ratios,
    sampler_table_bytes,
    tuple_draws,
)
from carms_cli.discrete.registry import applicable
from carms_cli.discrete.sampling.copulas import Copula, to_latent
from carms_cli.discrete.sampling.samplers import Construction
from carms_cli.models.kernels.estimates import draw_samples, inverse_tables, score_estimates

#: Weightings the compiled path forms coefficients for.
WEIGHTINGS = (Weighting.SCORE, Weighting.LEAVE_ONE_OUT, Weighting.IMPORTANCE, Weighting.ARM, Weighting.DISARM)
#: Constructions it draws (variable by variable).
CONSTRUCTIONS = (Construction.INVERSE, Construction.GUMBEL, Construction.STICK, Construction.PAIRS)


def supported(spec: EstimatorSpec, categories: int, samples: int, variables: int) -> bool:
    """Whether the compiled path runs ``spec`` (otherwise the reference path runs, or refuses).

    Per-variable weightings with an exact ratio, no Monte Carlo pmf, a variable-by-variable
    construction, K ≤ 16 (CARMS-I's linear threshold scan: no guide table, no rotated orders),
    an estimator applicable at (K, n) and tables within the plan's size limit.
    """
    return (
        spec.weighting in WEIGHTINGS
        and spec.sampler.construction in CONSTRUCTIONS
        and (spec.weighting != Weighting.IMPORTANCE or spec.ratio == "exact")
        and spec.mc_pmf_draws == 0
        and 2 <= categories <= LINEAR_SCAN_MAX
        and applicable(spec, categories, samples, variables) is None
        and sampler_table_bytes(spec, categories, variables) <= MAX_PLAN_BYTES
    )


def _per_variable_tables(spec: EstimatorSpec, probs: np.ndarray, samples: int):
    """Orders (V, |Π|, K) and thresholds (V, |Π|, K − 1) by the plan's per-variable function."""
    cache: dict[bytes, tuple] = {}
    for p in probs:
        if p.tobytes() not in cache:
            cache[p.tobytes()] = _construction_tables(spec.sampler, p, samples)
    tables = [cache[p.tobytes()] for p in probs]
    return np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])


def _inverse_orders(spec: EstimatorSpec, probs: np.ndarray) -> np.ndarray:
    """CARMS-I's order set of every variable, (V, |Π|, K): shared (a broadcast view) except at K = 2."""
    v_count, k = probs.shape
    if spec.sampler.orders == "identity":
        shared = categorical.identity_orders(k)
    elif k == 2:  # the rarer category first (decision 4): the plan's binary_order per variable
        rarer_first = probs[:, 0] <= probs[:, 1]
        return np.where(rarer_first[:, None], np.array([0, 1]), np.array([1, 0]))[:, None, :].astype(np.int64)
    else:
        shared = categorical.reference_orders(k)
    return np.broadcast_to(shared, (v_count,) + shared.shape)


def _python_ratios(spec: EstimatorSpec, probs: np.ndarray, samples: int) -> np.ndarray:
    """Exact ratio tables per variable as the plan builds them (raises its InputError if one is undefined).

    Identical rows (repeated examples) share one pair pmf, as in the plan.
    """
    joint: dict[bytes, np.ndarray] = {}
    ratio = np.empty((probs.shape[0], probs.shape[1], probs.shape[1]))
    for v, p in enumerate(probs):
        key = p.tobytes()
        if key not in joint:
            joint[key] = pair_pmf(spec.sampler, p, samples)
        ratio[v] = importance_ratios(p, joint[key], spec.sampler, v)
    return ratio


def _independent_ratios(probs: np.ndarray) -> np.ndarray:
    """Return the independent copula's tables ``p_a p_b / (p_a p_b)`` off the diagonal (as ``ratio_table``)."""
    product = probs[:, :, None] * probs[:, None, :]
    ratio = np.zeros_like(product)
    np.divide(product, product, out=ratio, where=~np.eye(probs.shape[1], dtype=bool))
    return ratio


def tables(spec: EstimatorSpec, probs: np.ndarray, samples: int):
    """``(orders, thresholds, ratio)`` of every variable, the plan's tables for ``spec``.

    Returns None where a ratio is undefined (the reference path then raises its error).
    """
    sampler = spec.sampler
    v_count, k = probs.shape
    construction, copula = sampler.construction, sampler.copula
    with_ratio = spec.weighting == Weighting.IMPORTANCE
    ratio = np.zeros((1, 1, 1))
    if construction == Construction.INVERSE:
        orders = _inverse_orders(spec, probs)
        thresholds = np.empty(orders.shape[:2] + (k - 1,))
        if copula == Copula.GAUSSIAN:
            cumulative = np.cumsum(np.take_along_axis(probs[:, None, :], orders, axis=2), axis=2)[:, :, :-1]
            thresholds = to_latent(copula, samples, np.minimum(cumulative, 1.0))
        else:
            ratio = np.zeros((v_count, k, k)) if with_ratio else ratio
            if inverse_tables(probs, orders, int(copula), samples, with_ratio, thresholds, ratio) >= 0:
                return None
            with_ratio = False  # done
    elif construction == Construction.STICK:
        orders, thresholds = _per_variable_tables(spec, probs, samples)
    else:  # GUMBEL and PAIRS read neither (the identity order)
        orders = np.broadcast_to(categorical.identity_orders(k), (v_count, 1, k))
        thresholds = np.zeros((v_count, 1, k - 1))
    if with_ratio:
        ratio = _independent_ratios(probs) if copula == Copula.INDEPENDENT else _python_ratios(spec, probs, samples)
    return orders, thresholds, ratio


def estimate(spec: EstimatorSpec, probs: np.ndarray, objective, samples: int, seed: int, replicates: int):
    """``(g, z, f)`` of :func:`carms_cli.models.gradients.reference_logit_gradients`, or None if a ratio is undefined.

    ``probs`` (B, D, C); ``objective(z)`` maps (S, B, D) samples to f (S, B).
    """
    b, d_count, k = probs.shape
    flat = np.ascontiguousarray(probs.reshape(b * d_count, k), dtype=np.float64)
    built = tables(spec, flat, samples)
    if built is None:
        return None
    orders, thresholds, ratio = built
    key = np.uint64(rng.stream_key(seed, spec.sampler.stream))
    per_var = draws_per_variable(spec, k, samples)
    z = np.empty((replicates, samples, b * d_count), dtype=np.int64)
    draw_samples(
        key, per_var, int(spec.sampler.construction), int(spec.sampler.copula), samples, k,
        tuple_draws(spec.sampler, samples, k), flat, 1.0 / flat, orders, thresholds, z,
    )  # fmt: skip
    z4 = z.reshape(replicates, samples, b, d_count)
    f = np.ascontiguousarray(objective(z4.reshape(replicates * samples, b, d_count)), dtype=np.float64)
    f = f.reshape(replicates, samples, b)
    g = np.empty((replicates, b * d_count, k))
    score_estimates(key, per_var, int(spec.weighting), samples, d_count, flat, ratio, z, f, g)
    return g.reshape(replicates, b, d_count, k), z4, f
