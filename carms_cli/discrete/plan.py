"""Plan: everything a kernel needs for one estimator on one problem, as plain arrays.

Built once on the host in float64: order tables and latent thresholds of the construction, the
importance-ratio tables ``w_d(a, b)`` (exact ``p_a p_b / P_d(a, b)``, or the reference code's
smoothed version for the ``-ref`` estimators) and the objective tables. Exact pmfs live here,
never in kernels.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from carms_cli.core import rng
from carms_cli.core.errors import InputError
from carms_cli.discrete.dispatch import MissingBranch, branch
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.exact import inverse as categorical
from carms_cli.discrete.exact.pmf import check_pair_pmf_work, pair_pmf, ratio_table
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.sampling.copulas import Copula, draws_per_tuple, to_latent
from carms_cli.discrete.sampling.samplers import Construction, SamplerSpec

#: Largest total size of a plan's tables; bigger configurations are refused (exit 2).
MAX_PLAN_BYTES = 2 << 30
#: Reference code's smoothing constant and clip range (defect 1 of spec section 17).
REFERENCE_SMOOTHING = 1e-3
REFERENCE_CLIP = (0.01, 10.0)


class Plan(NamedTuple):
    """Kernel inputs, declared in the kernels' argument order (``kernels.args.KernelArgs`` extends them).

    Shapes: orders (D, |Π|, K), thresholds (D, |Π|, K−1), guide (D, |Π|, K + 1)
    where the kernel uses it (else (D, 1, 2)), inv_probs (D, K), ratio (D, K, K) for the importance
    weighting (else a (1, 1, 1) placeholder).

    *Rotated* plans (CARMS-I's reference orders at K > 16) keep no per-order tables: ``pairs``
    (|Π|, 2) holds each order's (first, last) pair and ``prefix`` (D, 2K + 1) the doubled prefix
    sums of p, from which the kernel walks any order (O(D·K + K²) memory instead of O(D·K³));
    orders, thresholds and guide are then (D, 1, 1) placeholders. Otherwise ``pairs`` is a (1, 2)
    placeholder and ``prefix`` a (D, 1) one: a plan is rotated when it has more than one pair.
    """

    key: np.uint64
    draws_per_var: int
    construction: int
    copula: int
    samples: int
    categories: int
    dims: int
    orders: np.ndarray
    thresholds: np.ndarray
    guide: np.ndarray
    prefix: np.ndarray
    pairs: np.ndarray
    inv_probs: np.ndarray
    tuple_draws: int
    mc_pmf_draws: int
    probs: np.ndarray
    log_probs: np.ndarray
    temperature: float
    weighting: int
    ratio: np.ndarray
    unary: np.ndarray
    pair: np.ndarray
    has_pair: bool
    full: np.ndarray
    has_full: bool
    exact_gradient: np.ndarray


#: Copula n-tuples one set of n samples consumes, per construction, as a function of (K, n).
TUPLES_PER_SET = {
    Construction.INVERSE: lambda k, n: 1,
    Construction.GUMBEL: lambda k, n: k,
    Construction.STICK: lambda k, n: k - 1,
    Construction.PAIRS: lambda k, n: 1,
    Construction.SWAPS: lambda k, n: 1,
    Construction.SUBSETS: lambda k, n: 1,
    Construction.RELAXED: lambda k, n: n,
}

#: Uniforms per tuple, per construction, as a function of (copula, n, K).
TUPLE_DRAWS = {
    Construction.INVERSE: lambda copula, n, k: draws_per_tuple(copula, n),
    Construction.GUMBEL: lambda copula, n, k: draws_per_tuple(copula, n),
    Construction.STICK: lambda copula, n, k: draws_per_tuple(copula, n),
    Construction.PAIRS: lambda copula, n, k: n // 2,
    Construction.SWAPS: lambda copula, n, k: k,
    Construction.SUBSETS: lambda copula, n, k: n,
    Construction.RELAXED: lambda copula, n, k: k,
}


def tuples_per_set(construction: Construction, k: int, n: int) -> int:
    """Copula n-tuples one set of n samples consumes.

    K (Gumbel), K − 1 (stick), n (relaxed: one K-vector of Gumbels per sample), 1 otherwise.
    """
    return branch(TUPLES_PER_SET, construction, "the plan's tuple count")(k, n)


def tuple_draws(sampler: SamplerSpec, n: int, k: int = 2) -> int:
    """Uniforms per tuple.

    The copula's n-tuple, one uniform per antithetic pair (PAIRS), K (ARSM's Dirichlet(1) draw;
    one relaxed sample's Gumbels) or n (UNORD: one per configuration).
    """
    return branch(TUPLE_DRAWS, sampler.construction, "the plan's draw count")(sampler.copula, n, k)


def draws_per_variable(spec: EstimatorSpec, k: int, n: int) -> int:
    """Counter block of one variable in one trial: per sample set, one order draw plus tuples."""
    per_set = 1 + tuples_per_set(spec.sampler.construction, k, n) * tuple_draws(spec.sampler, n, k)
    return (1 + spec.mc_pmf_draws) * per_set


def uses_ratio_table(spec: EstimatorSpec) -> bool:
    """Whether the kernel reads the plan's (D, K, K) importance-ratio table.

    It does for the importance weighting with a host-side ratio; ``carms-g-ref`` estimates its own
    per trial.
    """
    return spec.weighting == Weighting.IMPORTANCE and spec.ratio != "reference-mc"


def plan_bytes(problem: Problem, spec: EstimatorSpec) -> int:
    """Bytes of the tables :func:`build_plan` would allocate."""
    return sampler_table_bytes(spec, problem.categories, problem.dims) + objective_table_bytes(problem.objective)


def objective_table_bytes(objective) -> int:
    """Bytes of the objective's pair and full tables that a plan carries."""
    return sum(table.nbytes for table in (objective.pair, objective.full) if table is not None)


def sampler_table_bytes(spec: EstimatorSpec, k: int, d: int) -> int:
    """Bytes of :func:`build_plan`'s sampler and ratio tables at K categories and D variables (sizes alone).

    The cumulative tables of every order (and their guide tables), or the rotated sampler's
    offsets; the K×K ratio table per variable where the weighting uses one; p per variable.
    """
    if rotated(spec.sampler, k):
        total = d * (2 * k + 1) * 8 + categorical.order_set_size("reference", k) * 8
    else:
        n_orders = categorical.order_set_size(spec.sampler.orders, k)
        total = d * n_orders * k * (16 + (4 if uses_guide(spec.sampler, k) else 0))
    return total + (d * k * k * 8 if uses_ratio_table(spec) else 0) + d * k * 8


def importance_ratios(p: np.ndarray, joint: np.ndarray, sampler: SamplerSpec, d: int, kind: str = "exact"):
    """``w(a, b) = p_a p_b / P(a, b)`` for a ≠ b, 0 on the (never used) diagonal.

    ``kind="reference"`` gives the reference code's ``clip((p_a p_b + ε)/(P + ε), 0.01, 10)``
    (diagonal included, as there). Raises InputError when some a ≠ b can never be drawn
    together (P(a, b) = 0): the estimator would silently lose that pair's mass.
    """
    if kind == "reference":
        product = np.outer(p, p)
        return np.clip((product + REFERENCE_SMOOTHING) / (joint + REFERENCE_SMOOTHING), *REFERENCE_CLIP)
    ratio, impossible = ratio_table(p, joint)
    if impossible is not None:
        a, b = impossible
        raise InputError(
            f"sampler '{sampler.name}' can never draw categories {a} and {b} together "
            f"(variable {d}): the importance ratio is undefined"
        )
    return ratio


def uses_guide(sampler: SamplerSpec, k: int) -> bool:
    """Whether the kernel finds categories through a guide table.

    It does for the inverse CDF on the [0, 1] latent scale (Dirichlet or independent copula) above
    the linear-scan size.
    """
    from carms_cli.discrete.kernels.trial import LINEAR_SCAN_MAX

    return (
        sampler.construction == Construction.INVERSE
        and sampler.copula != Copula.GAUSSIAN
        and k > LINEAR_SCAN_MAX
        and not rotated(sampler, k)
    )


def rotated(sampler: SamplerSpec, k: int) -> bool:
    """Whether the plan walks CARMS-I's reference orders from prefix sums (see :class:`Plan`)."""
    from carms_cli.discrete.kernels.trial import LINEAR_SCAN_MAX

    return sampler.construction == Construction.INVERSE and sampler.orders == "reference" and k > LINEAR_SCAN_MAX


def doubled_prefix(p: np.ndarray) -> np.ndarray:
    """``S_j = Σ_{t<j} p_{t mod K}`` for j = 0..2K."""
    return np.concatenate([[0.0], np.cumsum(np.tile(p, 2))])


def bucket_edges(buckets: int) -> np.ndarray:
    """``e_g`` = the smallest double y with ``int(y·G) ≥ g`` (g = 0..G−1), and ``e_G = 1``.

    The kernel's bucket of y is ``int(y·G)`` in floating point; these exact edges make
    ``#{j : t_j < y}`` lie in ``[guide[g], guide[g + 1]]`` for every y in bucket g, with no
    rounding exception at a bucket boundary.
    """
    edges = np.arange(buckets + 1, dtype=np.float64) / buckets
    for _ in range(4):  # step down while still in bucket g, then up while below it
        below = np.floor(np.nextafter(edges, 0.0) * buckets) >= np.arange(buckets + 1)
        edges = np.where(below, np.nextafter(edges, 0.0), edges)
        above = np.floor(edges * buckets) < np.arange(buckets + 1)
        edges = np.where(above, np.nextafter(edges, 1.0), edges)
    edges[0], edges[-1] = 0.0, 1.0
    return edges


def guide_table(thresholds: np.ndarray) -> np.ndarray:
    """Guide table (Chen & Asau 1974) of increasing latent thresholds in [0, 1], one row per order.

    ``guide[o, g] = #{j : t_{o,j} < e_g}`` for the K buckets of :func:`bucket_edges`.
    """
    buckets = thresholds.shape[1] + 1
    edges = bucket_edges(buckets)
    return np.stack([np.searchsorted(row, edges, side="left") for row in thresholds]).astype(np.int32)


def _inverse_tables(sampler: SamplerSpec, p: np.ndarray, n: int):
    orders = categorical.order_set(sampler.orders, p)
    cumulative = np.cumsum(p[orders], axis=1)[:, :-1]
    return orders, to_latent(sampler.copula, n, np.minimum(cumulative, 1.0))


def _stick_tables(sampler: SamplerSpec, p: np.ndarray, n: int):
    from carms_cli.discrete.exact.stick import stop_probabilities

    order, stop = stop_probabilities(p)
    return order[None, :], to_latent(sampler.copula, n, stop[:-1])[None, :]


def _identity_tables(sampler: SamplerSpec, p: np.ndarray, n: int):
    return categorical.identity_orders(p.size), np.zeros((1, p.size - 1))


#: (orders, thresholds) of one variable per construction: positions' categories and latent
#: boundaries (the identity order and unused thresholds where the kernel reads neither).
CONSTRUCTION_TABLES = {
    Construction.INVERSE: _inverse_tables,
    Construction.GUMBEL: _identity_tables,
    Construction.STICK: _stick_tables,
    Construction.PAIRS: _identity_tables,
    Construction.SWAPS: _identity_tables,
    Construction.SUBSETS: _identity_tables,
    Construction.RELAXED: _identity_tables,
}


def _construction_tables(sampler: SamplerSpec, p: np.ndarray, n: int):
    """(orders, thresholds) of one variable: positions' categories and latent boundaries."""
    return branch(CONSTRUCTION_TABLES, sampler.construction, "the plan's order tables")(sampler, p, n)


def check_kernel_pair(spec: EstimatorSpec) -> None:
    """Raise :class:`~carms_cli.discrete.dispatch.MissingBranch` unless the kernel can run the spec.

    The kernel must have a branch for the spec's construction with its weighting
    (:data:`~carms_cli.discrete.kernels.trial.KERNEL_PAIRS`).
    """
    from carms_cli.discrete.kernels.trial import KERNEL_PAIRS

    construction = spec.sampler.construction
    if spec.weighting not in branch(KERNEL_PAIRS, construction, "the kernel"):
        raise MissingBranch(
            f"the kernel has no branch for Weighting.{spec.weighting.name} on Construction.{construction.name} "
            f"(estimator '{spec.name}')"
        )


def build_plan(problem: Problem, spec: EstimatorSpec, progress: Callable[[int], None] | None = None) -> Plan:
    """Precompute the tables for ``spec`` on ``problem``.

    Raises InputError if too large or if the estimator cannot run on this problem.
    ``progress(done)`` is called after each variable's tables (done = 1 … D).
    """
    from carms_cli.discrete.registry import applicable

    reason = applicable(spec, problem.categories, problem.samples, problem.dims, problem.objective)
    if reason:
        raise InputError(reason)
    check_kernel_pair(spec)
    if spec.mc_pmf_draws and spec.sampler.construction == Construction.INVERSE:
        raise ValueError(f"estimator '{spec.name}': a Monte Carlo pair pmf is defined for CARMS-G only")
    need = plan_bytes(problem, spec)
    if need > MAX_PLAN_BYTES:
        raise InputError(
            f"estimator '{spec.name}' needs {need / 2**30:.2f} GiB of tables at K={problem.categories}, "
            f"D={problem.dims} (limit {MAX_PLAN_BYTES / 2**30:.0f} GiB)"
        )
    sampler = spec.sampler
    k, n, d_count = problem.categories, problem.samples, problem.dims
    n_orders = categorical.order_set_size(sampler.orders, k) if sampler.construction == Construction.INVERSE else 1
    walk = rotated(sampler, k)
    with_guide = uses_guide(sampler, k)
    if walk:
        orders = np.zeros((d_count, 1, 1), dtype=np.int64)
        thresholds = np.zeros((d_count, 1, 1))
        prefix = np.stack([doubled_prefix(p) for p in problem.probs])
        pairs = categorical.reference_pairs(k).astype(np.int32)
    else:
        orders = np.empty((d_count, n_orders, k), dtype=np.int64)
        thresholds = np.empty((d_count, n_orders, k - 1), dtype=np.float64)
        prefix = np.zeros((d_count, 1))
        pairs = np.zeros((1, 2), dtype=np.int32)  # one row: no zero-size arrays on a GPU
    guide = np.zeros((d_count, n_orders, k + 1) if with_guide else (d_count, 1, 2), dtype=np.int32)
    with_ratio = uses_ratio_table(spec)
    ratio = np.zeros((d_count, k, k) if with_ratio else (1, 1, 1), dtype=np.float64)
    joint_cache: dict[bytes, np.ndarray] = {}
    for d in range(d_count):
        p = problem.probs[d]
        if not walk:
            orders[d], thresholds[d] = _construction_tables(sampler, p, n)
        if with_guide:
            guide[d] = guide_table(thresholds[d])
        if with_ratio:
            key = p.tobytes()
            if key not in joint_cache:  # identical rows (a broadcast --probs) share one pmf
                joint_cache[key] = pair_pmf(sampler, p, n)
            ratio[d] = importance_ratios(p, joint_cache[key], sampler, d, spec.ratio)
        if progress is not None:
            progress(d + 1)
    objective = problem.objective
    pair = objective.pair if objective.pair is not None else np.zeros((1, 1, 1, 1))
    full = objective.full if objective.full is not None else np.zeros(1)
    return Plan(
        key=np.uint64(rng.stream_key(problem.seed, sampler.stream)),
        draws_per_var=draws_per_variable(spec, k, n),
        construction=int(sampler.construction),
        copula=int(sampler.copula),
        samples=n,
        categories=k,
        dims=d_count,
        orders=orders,
        thresholds=thresholds,
        guide=guide,
        prefix=prefix,
        pairs=pairs,
        inv_probs=1.0 / problem.probs,
        tuple_draws=tuple_draws(sampler, n, k),
        mc_pmf_draws=spec.mc_pmf_draws,
        probs=np.ascontiguousarray(problem.probs, dtype=np.float64),
        log_probs=np.log(problem.probs),
        temperature=float(spec.temperature),
        weighting=int(spec.weighting),
        ratio=ratio,
        unary=np.ascontiguousarray(objective.unary, dtype=np.float64),
        pair=np.ascontiguousarray(pair, dtype=np.float64),
        has_pair=objective.pair is not None,
        full=np.ascontiguousarray(full, dtype=np.float64),
        has_full=objective.full is not None,
        exact_gradient=problem.exact_gradient(),
    )


def check_plan(problem: Problem, spec: EstimatorSpec) -> None:
    """Refuse, without building anything, a plan :func:`build_plan` would refuse.

    Raises InputError if the estimator cannot run on this problem, if its tables are too large,
    or if its exact pair pmf would take too long; cheap enough to check every point of a sweep
    before running any.
    """
    from carms_cli.discrete.registry import applicable

    reason = applicable(spec, problem.categories, problem.samples, problem.dims, problem.objective)
    if reason:
        raise InputError(reason)
    need = plan_bytes(problem, spec)
    if need > MAX_PLAN_BYTES:
        raise InputError(
            f"estimator '{spec.name}' needs {need / 2**30:.2f} GiB of tables at K={problem.categories}, "
            f"D={problem.dims} (limit {MAX_PLAN_BYTES / 2**30:.0f} GiB)"
        )
    if uses_ratio_table(spec):
        check_pair_pmf_work(spec.sampler, problem.categories)
