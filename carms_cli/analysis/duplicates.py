"""``carms duplicates``'s record: how often each sampler's n samples repeat, exact and sampled.

:func:`duplicates_record` returns a frozen :class:`DuplicatesRecord` with one
:class:`SamplerDuplicates` per registered sampler; :meth:`DuplicatesRecord.to_dict` is the
``carms-cli/duplicates/1`` JSON layout.
"""

from dataclasses import asdict, dataclass

import numpy as np

from carms_cli.discrete.problem import Problem
from carms_cli.discrete.sampling.samplers import (
    ANTITHETIC_PAIRS,
    GUMBEL_NOISE,
    SAMPLERS,
    WITHOUT_REPLACEMENT,
    SamplerSpec,
)

SCHEMA = "carms-cli/duplicates/1"

#: Every sampler that draws n samples per variable: the copula samplers, the antithetic pairs of
#: ARM / DisARM, UNORD's draws without replacement and the Gumbel noise of the relaxations (ARSM's
#: swaps of one Dirichlet draw are no n samples).
DUPLICATE_SAMPLERS = (*SAMPLERS, ANTITHETIC_PAIRS, WITHOUT_REPLACEMENT, GUMBEL_NOISE)


def samplers_for(categories: int, samples: int) -> tuple[SamplerSpec, ...]:
    """Return the samplers of :data:`DUPLICATE_SAMPLERS` some registered estimator runs at K and n (D = 1).

    Antithetic pairs need K = 2 and an even n, UNORD n ≤ K.
    """
    from carms_cli.discrete.registry import ESTIMATORS, applicable

    def runs(sampler):
        users = [spec for spec in ESTIMATORS.values() if spec.sampler == sampler]
        return not users or any(applicable(spec, categories, samples) is None for spec in users)

    return tuple(sampler for sampler in DUPLICATE_SAMPLERS if runs(sampler))


@dataclass(frozen=True)
class ExactFigures:
    """Exact duplicate statistics of n samples.

    Where the n-tuple pmf is not computable only ``coincident_pairs`` (from the pair pmf) is
    known; the other fields are None and left out of the JSON.
    """

    coincident_pairs: float
    mean_unique: float | None = None
    prob_all_distinct: float | None = None
    cache_saving: float | None = None

    def to_dict(self) -> dict:
        """Return the JSON layout: the known fields only."""
        if self.mean_unique is None:
            return {"coincident_pairs": self.coincident_pairs}
        return {
            "mean_unique": self.mean_unique,
            "prob_all_distinct": self.prob_all_distinct,
            "coincident_pairs": self.coincident_pairs,
            "cache_saving": self.cache_saving,
        }


@dataclass(frozen=True)
class SampledFigures:
    """Monte Carlo duplicate statistics over ``sets`` sampled sets, with standard errors."""

    sets: int
    mean_unique: float
    mean_unique_se: float
    prob_all_distinct: float
    prob_all_distinct_se: float
    coincident_pairs: float
    coincident_pairs_se: float
    cache_saving: float


@dataclass(frozen=True)
class SamplerDuplicates:
    """One sampler: exact figures (``exact_note`` says why some are missing) and sampled ones."""

    sampler: str
    summary: str
    exact: ExactFigures
    exact_note: str | None
    monte_carlo: SampledFigures

    def to_dict(self) -> dict:
        """Return the JSON layout of one sampler."""
        return {
            "sampler": self.sampler,
            "summary": self.summary,
            "exact": self.exact.to_dict(),
            "exact_note": self.exact_note,
            "monte_carlo": asdict(self.monte_carlo),
        }


@dataclass(frozen=True)
class DuplicatesConfig:
    """The variable the statistics belong to."""

    categories: int
    samples: int
    probs: np.ndarray
    probs_source: str
    seed: int
    trials: int


@dataclass(frozen=True)
class DuplicatesRecord:
    """The record of one ``carms duplicates`` run."""

    config: DuplicatesConfig
    backend: str
    samplers: tuple[SamplerDuplicates, ...]
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        """Return the ``carms-cli/duplicates/1`` JSON layout (numpy values; ``plain_json`` writes it)."""
        return {
            "schema": self.schema,
            "config": asdict(self.config),
            "backend": self.backend,
            "samplers": [entry.to_dict() for entry in self.samplers],
        }


def sampler_duplicates(
    sampler: SamplerSpec, p: np.ndarray, n: int, trials: int, seed: int, backend: str = "cpu"
) -> SamplerDuplicates:
    """Exact and Monte Carlo duplicate statistics of one sampler for probabilities ``p``."""
    from carms_cli.discrete.exact.duplicates import SampledCounts, exact_duplicates
    from carms_cli.discrete.exact.pmf import NotComputable, pair_pmf
    from carms_cli.discrete.source import sample_sets

    note = None
    try:
        exact = exact_duplicates(sampler, p, n)
    except NotComputable as reason:
        note = f"n/a: {reason}"
        figures = ExactFigures(coincident_pairs=n * (n - 1) / 2 * float(np.trace(pair_pmf(sampler, p, n))))
    else:
        figures = ExactFigures(
            coincident_pairs=exact.coincident_pairs,
            mean_unique=exact.mean_unique,
            prob_all_distinct=exact.prob_all_distinct,
            cache_saving=exact.cache_saving(n),
        )
    counts = SampledCounts()  # streamed batch by batch: memory does not grow with the trials
    for z in sample_sets(sampler, p, n, trials, seed, backend=backend):
        counts.add(z)
    mc = counts.statistics()
    sampled = SampledFigures(
        sets=trials,
        mean_unique=mc.mean_unique,
        mean_unique_se=mc.mean_unique_se,
        prob_all_distinct=mc.prob_all_distinct,
        prob_all_distinct_se=mc.prob_all_distinct_se,
        coincident_pairs=mc.coincident_pairs,
        coincident_pairs_se=mc.coincident_pairs_se,
        cache_saving=mc.cache_saving(n),
    )
    return SamplerDuplicates(sampler.name, sampler.summary, figures, note, sampled)


#: Bytes per enumerated multiset of the exact statistics (its n categories, its probability and
#: the distinct/coincident counts), times :data:`~carms_cli.discrete.exact.duplicates.MAX_TUPLES`.
TUPLE_BYTES_PER_SAMPLE = 4 * 8


def duplicates_bytes(categories: int, samples: int, trials: int) -> int:
    """Estimate the peak bytes of :func:`duplicates_record` at K categories, n samples and ``trials`` sets.

    The samplers run one after another, so the peak is one sampler's: its plan's tables, its K×K
    pair pmf (:func:`~carms_cli.analysis.pmf.pmf_bytes`), the enumerated multisets of the exact
    statistics, and one batch of sampled sets (:data:`~carms_cli.discrete.source.SET_BATCH`):
    the kernel's (b, 1, K) estimates and (b, n) samples with their chunk rows (one per
    :data:`~carms_cli.discrete.source.MIN_CHUNK` sets at most).
    """
    from carms_cli.analysis.pmf import pmf_bytes
    from carms_cli.analysis.variance import PER_ROW_ARRAYS
    from carms_cli.discrete.exact.duplicates import MAX_TUPLES
    from carms_cli.discrete.plan import sampler_table_bytes
    from carms_cli.discrete.source import MIN_CHUNK, SET_BATCH, sampler_probe

    k, n = categories, samples
    plan = max(sampler_table_bytes(sampler_probe(s), k, 1) for s in samplers_for(k, n))
    batch = min(SET_BATCH, trials)
    sampled = batch * (k + 4 * n) * 8 + batch // MIN_CHUNK * PER_ROW_ARRAYS * 8 * k
    return plan + pmf_bytes(k, printed=False) + MAX_TUPLES * TUPLE_BYTES_PER_SAMPLE * n + sampled


def duplicates_record(
    problem: Problem, variable: int = 0, trials: int = 100_000, backend: str = "cpu"
) -> DuplicatesRecord:
    """Duplicate statistics of every sampler with samples (:func:`samplers_for`) for one variable.

    Parameters
    ----------
    problem : Problem
        The resolved problem (K, n, seed and the probabilities).
    variable : int
        Which row of the probabilities (0-based).
    trials : int
        Sampled sets per sampler for the Monte Carlo figures.
    backend : str
        A resolved backend (``cpu``, ``cuda`` or ``numpy``) for the sampling.

    Returns
    -------
    DuplicatesRecord
    """
    from carms_cli.analysis.pmf import problem_row

    p = problem_row(problem, variable)
    n = problem.samples
    config = DuplicatesConfig(
        categories=problem.categories,
        samples=n,
        probs=p,
        probs_source=problem.probs_source,
        seed=problem.seed,
        trials=trials,
    )
    samplers = tuple(
        sampler_duplicates(s, p, n, trials, problem.seed, backend) for s in samplers_for(problem.categories, n)
    )
    return DuplicatesRecord(config=config, backend=backend, samplers=samplers)
