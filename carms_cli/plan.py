"""Plan: everything a kernel needs for one estimator on one problem, as plain arrays.

Built once on the host in float64: order tables, the latent thresholds of every order, the
exact importance-ratio tables ``w_d(a, b) = p_a p_b / P_d(a, b)`` and the objective tables.
Exact pmfs live here, never in kernels.
"""

from typing import NamedTuple

import numpy as np

from carms_cli import categorical, rng
from carms_cli.copulas import draws_per_tuple, to_latent
from carms_cli.errors import InputError
from carms_cli.estimators import EstimatorSpec, Weighting
from carms_cli.problem import Problem
from carms_cli.samplers import SamplerSpec

#: Largest total size of a plan's tables; bigger configurations are refused (exit 2).
MAX_PLAN_BYTES = 2 << 30


class Plan(NamedTuple):
    """Kernel inputs. Shapes: orders (D, |Π|, K), thresholds (D, |Π|, K−1), ratio (D, K, K)."""

    key: np.uint64
    draws_per_var: int
    copula: int
    samples: int
    categories: int
    dims: int
    orders: np.ndarray
    thresholds: np.ndarray
    probs: np.ndarray
    weighting: int
    ratio: np.ndarray
    unary: np.ndarray
    pair: np.ndarray
    has_pair: bool
    full: np.ndarray
    has_full: bool
    exact_gradient: np.ndarray


def order_count(sampler: SamplerSpec, k: int) -> int:
    """|Π| for a sampler at K categories."""
    if sampler.orders == "identity" or k == 2:
        return 1
    return k * (k - 1) // 2


def orders_for(sampler: SamplerSpec, p: np.ndarray) -> np.ndarray:
    """The order set Π of one variable with probabilities p."""
    k = p.size
    if sampler.orders == "identity":
        return categorical.identity_orders(k)
    if k == 2:
        return categorical.binary_order(p)
    return categorical.reference_orders(k)


def plan_bytes(problem: Problem, spec: EstimatorSpec) -> int:
    """Bytes of the tables :func:`build_plan` would allocate."""
    k, d = problem.categories, problem.dims
    n_orders = order_count(spec.sampler, k)
    total = d * n_orders * k * 16 + d * k * k * 8
    objective = problem.objective
    if objective.pair is not None:
        total += objective.pair.nbytes
    if objective.full is not None:
        total += objective.full.nbytes
    return total


def importance_ratios(p: np.ndarray, orders: np.ndarray, sampler: SamplerSpec, n: int, d: int) -> np.ndarray:
    """``w(a, b) = p_a p_b / P(a, b)`` for a ≠ b, 0 on the (never used) diagonal.

    Raises InputError when some a ≠ b can never be drawn together (P(a, b) = 0): the
    estimator would silently lose that pair's mass.
    """
    joint = categorical.pair_pmf(p, orders, sampler.copula, n)
    product = np.outer(p, p)
    off_diagonal = ~np.eye(p.size, dtype=bool)
    impossible = off_diagonal & (joint <= 0.0) & (product > 0.0)
    if np.any(impossible):
        a, b = np.argwhere(impossible)[0]
        raise InputError(
            f"sampler '{sampler.name}' can never draw categories {a} and {b} together "
            f"(variable {d}): the importance ratio is undefined"
        )
    ratio = np.zeros_like(joint)
    np.divide(product, joint, out=ratio, where=off_diagonal)
    return ratio


def build_plan(problem: Problem, spec: EstimatorSpec) -> Plan:
    """Precompute the tables for ``spec`` on ``problem`` (raises InputError if too large)."""
    need = plan_bytes(problem, spec)
    if need > MAX_PLAN_BYTES:
        raise InputError(
            f"estimator '{spec.name}' needs {need / 2**30:.1f} GiB of tables at K={problem.categories}, "
            f"D={problem.dims} (limit {MAX_PLAN_BYTES / 2**30:.0f} GiB)"
        )
    sampler = spec.sampler
    k, n, d_count = problem.categories, problem.samples, problem.dims
    n_orders = order_count(sampler, k)
    orders = np.empty((d_count, n_orders, k), dtype=np.int64)
    thresholds = np.empty((d_count, n_orders, k - 1), dtype=np.float64)
    ratio = np.zeros((d_count, k, k), dtype=np.float64)
    for d in range(d_count):
        p = problem.probs[d]
        var_orders = orders_for(sampler, p)
        orders[d] = var_orders
        cumulative = np.cumsum(p[var_orders], axis=1)[:, :-1]
        thresholds[d] = to_latent(sampler.copula, n, np.minimum(cumulative, 1.0))
        if spec.weighting == Weighting.IMPORTANCE:
            ratio[d] = importance_ratios(p, var_orders, sampler, n, d)
    objective = problem.objective
    pair = objective.pair if objective.pair is not None else np.zeros((1, 1, 1, 1))
    full = objective.full if objective.full is not None else np.zeros(1)
    return Plan(
        key=np.uint64(rng.stream_key(problem.seed, sampler.stream)),
        draws_per_var=1 + draws_per_tuple(sampler.copula, n),
        copula=int(sampler.copula),
        samples=n,
        categories=k,
        dims=d_count,
        orders=orders,
        thresholds=thresholds,
        probs=np.ascontiguousarray(problem.probs, dtype=np.float64),
        weighting=int(spec.weighting),
        ratio=ratio,
        unary=np.ascontiguousarray(objective.unary, dtype=np.float64),
        pair=np.ascontiguousarray(pair, dtype=np.float64),
        has_pair=objective.pair is not None,
        full=np.ascontiguousarray(full, dtype=np.float64),
        has_full=objective.full is not None,
        exact_gradient=problem.exact_gradient(),
    )
