"""Exact pmfs of every sampler: the pair pmf P(z_i = a, z_j = b) and the n-tuple pmf.

One dispatch over constructions (spec 9): CARMS-I rectangles mixed over orders
(:mod:`carms_cli.discrete.exact.inverse`), CARMS-G by 2-D quadrature
(:mod:`carms_cli.discrete.exact.gumbel`), stick-breaking in closed form
(:mod:`carms_cli.discrete.exact.stick`). Independent samples are the product of marginals under
every construction.
"""

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.exact import inverse as categorical
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction, SamplerSpec

#: Largest K^n of a whole n-tuple pmf built to read some of its entries.
MAX_FULL_TUPLES = 200_000
#: Largest |Π|·(K+1)² copula-CDF evaluations spent on one exact CARMS-I pair pmf (about K ≤ 130).
MAX_PAIR_PMF_WORK = 1.5e8


def ratio_table(p: np.ndarray, joint: np.ndarray):
    """Return the ratios ``w(a, b) = p_a p_b / P(a, b)`` and the first pair where one is undefined.

    ``w(a, b)`` is computed for a ≠ b in float64 (no ε, no clip), 0 on the never-used diagonal;
    the pair is the first a ≠ b with ``P(a, b) = 0 < p_a p_b`` (None if there is none), for which
    the ratio is undefined and the caller must refuse.
    """
    product = np.outer(p, p)
    off_diagonal = ~np.eye(p.size, dtype=bool)
    impossible = off_diagonal & (joint <= 0.0) & (product > 0.0)
    ratio = np.zeros_like(joint)
    np.divide(product, joint, out=ratio, where=off_diagonal & ~impossible)
    first = tuple(int(x) for x in np.argwhere(impossible)[0]) if np.any(impossible) else None
    return ratio, first


class NotComputable(Exception):
    """The pmf is not computable here (no closed form or 1-D reduction), or too large to enumerate."""


def _require_per_variable_samples(sampler: SamplerSpec) -> None:
    """Refuse samplers without a per-variable n-sample pmf (NotComputable).

    ARSM's swaps are not n samples, and UNORD's configurations are drawn jointly over the
    variables (their per-variable samples are not exchangeable draws with marginal p).
    """
    if sampler.construction in (Construction.SWAPS, Construction.SUBSETS):
        raise NotComputable(f"sampler '{sampler.name}' has no per-variable n-sample pmf")


def check_pair_pmf_work(sampler: SamplerSpec, k: int) -> None:
    """Refuse (InputError) a CARMS-I pair pmf at K = ``k`` beyond :data:`MAX_PAIR_PMF_WORK` copula evaluations.

    Cheap (no pmf is computed), so a sweep can check every point before running any.
    """
    if sampler.copula == Copula.INDEPENDENT or sampler.construction != Construction.INVERSE:
        return
    work = categorical.order_set_size(sampler.orders, k) * (k + 1) ** 2
    if work > MAX_PAIR_PMF_WORK:
        raise InputError(
            f"the exact CARMS-I pair pmf at K={k} needs {work:.2g} copula evaluations "
            f"(limit {MAX_PAIR_PMF_WORK:.2g}, about K <= 130)"
        )


def pair_pmf(sampler: SamplerSpec, p: np.ndarray, n: int) -> np.ndarray:
    """Exact K×K pair pmf of two distinct samples of one variable (float64)."""
    _require_per_variable_samples(sampler)
    p = np.asarray(p, dtype=np.float64)
    if sampler.copula == Copula.INDEPENDENT:
        return np.outer(p, p)
    if sampler.construction == Construction.INVERSE:
        check_pair_pmf_work(sampler, p.size)
        return categorical.pair_pmf(p, categorical.order_set(sampler.orders, p), sampler.copula, n)
    if sampler.construction == Construction.GUMBEL:
        from carms_cli.discrete.exact.gumbel import gumbel_pair_pmf

        return gumbel_pair_pmf(p, sampler.copula, n)
    from carms_cli.discrete.exact.stick import stick_pair_pmf

    return stick_pair_pmf(p, sampler.copula, n)


def tuple_pmf(sampler: SamplerSpec, p: np.ndarray, n: int) -> np.ndarray:
    """Exact joint pmf of the n samples of one variable, shape (K,)*n.

    Independent samples: the product of marginals. CARMS-I and stick-breaking: box probabilities
    of the copula, closed-form for the Dirichlet copula and, for the Gaussian copula (n ≥ 3), from
    its CDF by the 1-D Fourier integral of :mod:`carms_cli.discrete.exact.gaussian` (every entry
    within ``2^n · 1e−15``). CARMS-G only at n = 2 (its pair pmf); otherwise raises
    :class:`NotComputable` (its n-tuple pmf is an n-dimensional integral over the n winning
    values, see :data:`CARMS_G_TUPLES`).
    """
    _require_per_variable_samples(sampler)
    p = np.asarray(p, dtype=np.float64)
    if sampler.copula == Copula.INDEPENDENT:
        out = np.ones(())
        for _ in range(n):
            out = np.multiply.outer(out, p)
        return out
    if sampler.construction == Construction.INVERSE:
        return categorical.tuple_pmf(p, categorical.order_set(sampler.orders, p), sampler.copula, n)
    if sampler.construction == Construction.STICK:
        from carms_cli.discrete.exact.stick import stick_tuple_pmf

        return stick_tuple_pmf(p, sampler.copula, n)
    if n == 2:
        joint = pair_pmf(sampler, p, n)
        return joint
    raise NotComputable(CARMS_G_TUPLES)


#: Why CARMS-G has no exact n-tuple pmf beyond n = 2.
CARMS_G_TUPLES = (
    "CARMS-G's n-sample pmf is an n-dimensional integral over the n winning values; only its pair pmf (2-D) is exact"
)


def tuple_probabilities(sampler: SamplerSpec, p: np.ndarray, n: int, tuples: np.ndarray) -> np.ndarray:
    """``P(z_1..z_n = t)`` for each row t of ``tuples`` (M, n): :func:`tuple_pmf` at those tuples.

    CARMS-I evaluates just those boxes; every other sampler gathers them from its whole pmf
    (raises :class:`NotComputable` as :func:`tuple_pmf` does).
    """
    _require_per_variable_samples(sampler)
    p = np.asarray(p, dtype=np.float64)
    if sampler.construction == Construction.INVERSE:
        return categorical.tuple_probabilities(p, categorical.order_set(sampler.orders, p), sampler.copula, n, tuples)
    if p.size**n > MAX_FULL_TUPLES:
        raise NotComputable(f"K^n = {p.size}^{n} tuples exceed the enumeration cap {MAX_FULL_TUPLES}")
    return tuple_pmf(sampler, p, n)[tuple(np.asarray(tuples).T)]
