"""Duplicate-sample statistics: how often the n samples of one variable repeat.

For n samples z_1..z_n of one variable:

* ``mean_unique`` = E[#distinct categories]; a cache of f values saves ``1 − mean_unique/n`` of
  the evaluations (``cache_saving``);
* ``prob_all_distinct`` = P(z_i ≠ z_j for all i ≠ j), and its complement ``prob_any_coincide``;
* ``coincident_pairs`` = E[#{i < j : z_i = z_j}] (= n(n−1)/2 · Σ_a P(a, a) by exchangeability).

Exact values come from the sampler's n-tuple pmf (independent samples in closed form:
``Σ_k 1 − (1 − p_k)^n`` and ``n!·e_n(p)``). The samples are exchangeable, so every ordering of a
multiset of categories has the same probability: one sorted tuple per multiset, weighted by its
``n!/Π_c m_c!`` orderings, covers all K^n tuples (C(K+n−1, n) of them, about n! times fewer).
Monte Carlo values come from samples, with standard errors.
"""

import itertools
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from carms_cli.discrete.exact.pmf import NotComputable, tuple_probabilities
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction, SamplerSpec

#: Largest number of multisets (sorted n-tuples) enumerated for exact duplicate statistics.
MAX_TUPLES = 200_000


class DuplicateStats(NamedTuple):
    """Duplicate statistics of one variable (``*_se`` are 0 for exact values)."""

    mean_unique: float
    prob_all_distinct: float
    coincident_pairs: float
    mean_unique_se: float = 0.0
    prob_all_distinct_se: float = 0.0
    coincident_pairs_se: float = 0.0

    @property
    def prob_any_coincide(self) -> float:
        """P(z_i = z_j for some i ≠ j) = 1 − ``prob_all_distinct``."""
        return 1.0 - self.prob_all_distinct

    def cache_saving(self, n: int) -> float:
        """Return the share of the n evaluations a cache of f values saves: ``1 − mean_unique/n``."""
        return 1.0 - self.mean_unique / n


def _distinct_counts(tuples: np.ndarray) -> np.ndarray:
    ordered = np.sort(tuples, axis=-1)
    return 1 + (np.diff(ordered, axis=-1) != 0).sum(axis=-1)


def _coincident_pairs(tuples: np.ndarray) -> np.ndarray:
    n = tuples.shape[-1]
    return sum((tuples[..., i] == tuples[..., j]).astype(np.int64) for i in range(n) for j in range(i + 1, n))


def multiset_count(k: int, n: int) -> int:
    """Multisets of n categories out of K: C(K + n − 1, n)."""
    return math.comb(k + n - 1, n)


def _multisets(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted n-tuples of categories, one per multiset (M, n), and their category counts (M, K)."""
    tuples = np.array(list(itertools.combinations_with_replacement(range(k), n)), dtype=np.int64)
    counts = np.zeros((tuples.shape[0], k), dtype=np.int64)
    np.add.at(counts, (np.arange(tuples.shape[0])[:, None], tuples), 1)
    return tuples, counts


def exact_duplicates(sampler: SamplerSpec, p: np.ndarray, n: int) -> DuplicateStats:
    """Exact statistics of one variable; raises NotComputable without a computable tuple pmf.

    Antithetic pairs in closed form; UNORD's subsets of one variable are n distinct categories;
    iid samples (the independent copula, the Gumbel-noise draws) by ``Σ_k 1 − (1 − p_k)^n`` and
    ``n!·e_n(p)``; copula samplers from their n-tuple pmf over multisets.
    """
    p = np.asarray(p, dtype=np.float64)
    k = p.size
    if sampler.construction == Construction.PAIRS:
        # pair j: (b, b̃) equal with probability |1 − 2p| (both the majority value); pairs independent
        same = abs(1.0 - 2.0 * p[1])
        pairs = n // 2 * same + (n * (n - 1) / 2 - n // 2) * float(p @ p)
        all_distinct = 1.0 - same if n == 2 else 0.0
        return DuplicateStats(2.0 - same ** (n // 2), all_distinct, pairs)
    if sampler.construction == Construction.SUBSETS:
        # UNORD on one variable: n distinct categories by construction (n ≤ K)
        if n > k:
            raise NotComputable(f"UNORD draws n distinct categories: n = {n} > K = {k}")
        return DuplicateStats(float(n), 1.0, 0.0)
    if sampler.construction == Construction.SWAPS:
        raise NotComputable("ARSM draws no n samples (its evaluations are swaps of one Dirichlet draw)")
    if sampler.copula == Copula.INDEPENDENT:  # iid draws: also the Gumbel-noise samples
        pairs = n * (n - 1) / 2 * float(p @ p)
        e = np.zeros(n + 1)
        e[0] = 1.0
        for pk in p:
            e[1:] = e[1:] + pk * e[:-1]
        return DuplicateStats(float((1.0 - (1.0 - p) ** n).sum()), math.factorial(n) * float(e[n]), pairs)
    if multiset_count(k, n) > MAX_TUPLES:
        raise NotComputable(f"C(K+n-1, n) = {multiset_count(k, n)} multisets exceed the enumeration cap {MAX_TUPLES}")
    tuples, counts = _multisets(k, n)
    factorials = np.cumprod(np.concatenate([[1.0], np.arange(1.0, n + 1.0)]))  # 0! .. n!
    orderings = factorials[n] / np.prod(factorials[counts], axis=1)
    weight = orderings * tuple_probabilities(sampler, p, n, tuples)  # P(the samples form multiset m)
    distinct = (counts > 0).sum(axis=1)
    coincident = (counts * (counts - 1) // 2).sum(axis=1)
    return DuplicateStats(float(weight @ distinct), float(weight @ (distinct == n)), float(weight @ coincident))


class SampledCounts:
    """Streaming Monte Carlo duplicate statistics: exact value counts, flat memory.

    Feed batches of n-sample sets with :meth:`add`; each statistic (distinct categories, all
    distinct, coincident pairs) takes small integer values, so a histogram of them is exact and
    bounded by n², whatever the number of sets.
    """

    def __init__(self):
        self.count = 0
        self._histograms = ({}, {}, {})

    def add(self, z: np.ndarray) -> None:
        """Count a batch of sets ``z`` of shape (b, n)."""
        distinct = _distinct_counts(z)
        statistics = (distinct, (distinct == z.shape[1]).astype(np.int64), _coincident_pairs(z))
        for histogram, values in zip(self._histograms, statistics, strict=True):
            for value, times in zip(*np.unique(values, return_counts=True), strict=True):
                histogram[int(value)] = histogram.get(int(value), 0) + int(times)
        self.count += z.shape[0]

    def statistics(self) -> DuplicateStats:
        """Means and standard errors (exact sums over the value counts, rounded once)."""
        count = self.count
        means, errors = [], []
        for histogram in self._histograms:
            total = sum(value * times for value, times in histogram.items())
            squares = sum(value * value * times for value, times in histogram.items())
            means.append(total / count)
            if count > 1:  # Σ(x − x̄)² = Σx² − (Σx)²/N, exact as a fraction of integers
                spread = Fraction(squares * count - total * total, count * (count - 1) * count)
                errors.append(math.sqrt(spread))
            else:
                errors.append(float("nan"))
        return DuplicateStats(*means, *errors)


def sampled_duplicates(z: np.ndarray) -> DuplicateStats:
    """Monte Carlo statistics from samples ``z`` of shape (count, n), with standard errors."""
    counts = SampledCounts()
    counts.add(z)
    return counts.statistics()
