"""``carms pmf``'s record: a sampler's exact pair pmf, the product p_a·p_b and their ratio.

Optionally also a sampled check of the pair frequencies against the exact table.

:func:`pmf_record` returns a frozen :class:`PmfRecord`; :meth:`PmfRecord.to_dict` is the
``carms-cli/pmf/1`` JSON layout.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction, SamplerSpec, find_sampler

SCHEMA = "carms-cli/pmf/1"


def problem_row(problem: Problem, variable: int) -> np.ndarray:
    """Return the probabilities of variable ``variable`` (0-based); out of range is an InputError."""
    if not 0 <= variable < problem.dims:
        raise InputError(f"--variable must be in 0..{problem.dims - 1}, got {variable}")
    return problem.probs[variable]


def sampler_for(construction: str, copula: str) -> SamplerSpec:
    """Return the registered sampler of a construction and a copula.

    ``construction`` is ``inverse``, ``gumbel`` or ``stick``; ``copula`` is ``dirichlet``,
    ``gaussian`` or ``independent``.
    """
    return find_sampler(Construction[construction.upper()], Copula[copula.upper()])


def empirical_pair_pmf(
    sampler, p: np.ndarray, n: int, count: int, seed: int, backend: str = "cpu", progress: Callable | None = None
):
    """Frequency of ordered pairs (z_i, z_j), i ≠ j, over ``count`` sampled sets, with standard errors.

    ``progress(done)`` hears of the sets counted so far after each batch.

    Per set, ``X(a, b) = #{i ≠ j : z_i = a, z_j = b} / (n(n−1))`` (mean P(a, b)); sets are
    independent, so the standard error is ``sd(X)/√count``.

    Returns
    -------
    tuple of numpy.ndarray
        The K×K mean frequency and its K×K standard error.
    """
    from carms_cli.discrete.source import sample_sets

    k = p.size
    total = np.zeros((k, k))
    total_sq = np.zeros((k, k))
    batch = max(1, min(1 << 15, 4_000_000 // (k * k)))
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    done = 0
    for z in sample_sets(sampler, p, n, count, seed, batch, backend):
        counts = np.zeros((z.shape[0], k, k))
        rows = np.arange(z.shape[0])
        for i, j in pairs:
            np.add.at(counts, (rows, z[:, i], z[:, j]), 1.0)
        counts /= len(pairs)
        total += counts.sum(axis=0)
        total_sq += (counts**2).sum(axis=0)
        done += z.shape[0]
        if progress is not None:
            progress(done)
    mean = total / count
    se = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0) / max(count - 1, 1))
    return mean, se


@dataclass(frozen=True)
class PairCheck:
    """Sampled pair frequencies against the exact pair pmf."""

    sets: int
    backend: str
    frequency: np.ndarray
    std_error: np.ndarray
    #: largest |frequency − exact| / standard error over the K×K cells (inf where the standard
    #: error is 0 but the frequency differs)
    max_abs_z: float
    max_abs_z_at: tuple[int, int]


@dataclass(frozen=True)
class PmfConfig:
    """The variable and sampler the tables belong to."""

    categories: int
    samples: int
    probs: np.ndarray
    probs_source: str
    construction: str
    copula: str
    sampler: str
    seed: int


@dataclass(frozen=True)
class PmfRecord:
    """The record of one ``carms pmf`` run (K×K tables)."""

    config: PmfConfig
    pair_pmf: np.ndarray
    independent_product: np.ndarray
    ratio: np.ndarray
    #: max over a of |Σ_b P(a, b) − p_a|: how well the pair pmf reproduces its marginal
    row_sum_max_error: float
    check: PairCheck | None = None
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        """Return the ``carms-cli/pmf/1`` JSON layout (numpy values; ``plain_json`` writes it)."""
        return {
            "schema": self.schema,
            "config": asdict(self.config),
            "pair_pmf": self.pair_pmf,
            "independent_product": self.independent_product,
            "ratio": self.ratio,
            "row_sum_max_error": self.row_sum_max_error,
            "check": None if self.check is None else asdict(self.check),
        }


def pair_check(
    sampler, p: np.ndarray, joint: np.ndarray, n: int, sets: int, seed: int, backend: str, progress=None
) -> PairCheck:
    """Sample ``sets`` n-sample sets and compare their pair frequencies with ``joint`` (``progress(done)``: sets)."""
    frequency, se = empirical_pair_pmf(sampler, p, n, sets, seed, backend, progress)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (frequency - joint) / se, np.where(np.abs(frequency - joint) > 0, np.inf, 0.0))
    worst = np.unravel_index(np.argmax(np.abs(z)), z.shape)
    return PairCheck(
        sets=sets,
        backend=backend,
        frequency=frequency,
        std_error=se,
        max_abs_z=float(np.abs(z).max()),
        max_abs_z_at=(int(worst[0]), int(worst[1])),
    )


#: Peak bytes of the pair pmf per K² entry: the record's K×K tables (pmf, product, ratio, a
#: sampled check with its standard errors) and the stick-breaking recursion's work arrays
#: (measured 17·K² bytes at K = 400), with headroom.
PMF_BYTES_PER_ENTRY = 24 * 8
#: Peak bytes per category of the Gumbel construction's pair pmf (measured ≈ 0.4 MB at K = 100–400).
GUMBEL_BYTES_PER_CATEGORY = 1 << 19
#: Peak bytes per printed cell of the K×K tables (measured ≈ 360 through Rich, with headroom).
PRINTED_BYTES_PER_CELL = 512


def pmf_bytes(categories: int, printed: bool) -> int:
    """Estimate the peak bytes of :func:`pmf_record` at K categories, and of printing its tables."""
    cells = categories * categories
    total = PMF_BYTES_PER_ENTRY * cells + GUMBEL_BYTES_PER_CATEGORY * categories
    return total + (4 * cells * PRINTED_BYTES_PER_CELL if printed else 0)


def pmf_record(
    problem: Problem,
    variable: int = 0,
    construction: str = "inverse",
    copula: str = "dirichlet",
    check: int | None = None,
    backend: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> PmfRecord:
    """Compute the exact pair pmf of one variable's sampler, and optionally its sampled check.

    Parameters
    ----------
    problem : Problem
        The resolved problem (K, n, seed and the probabilities).
    variable : int
        Which row of the probabilities (0-based).
    construction, copula : str
        The sampler, as in :func:`sampler_for`.
    check : int or None
        Sampled sets for the check of the pair frequencies (None: no check).
    backend : str
        A resolved backend (``cpu``, ``cuda`` or ``numpy``) for the check's sampling.
    progress : callable, optional
        ``progress(done)`` hears of the check's sets sampled so far.

    Returns
    -------
    PmfRecord
    """
    from carms_cli.discrete.exact.pmf import pair_pmf
    from carms_cli.discrete.plan import importance_ratios

    p = problem_row(problem, variable)
    sampler = sampler_for(construction, copula)
    n = problem.samples
    joint = pair_pmf(sampler, p, n)
    config = PmfConfig(
        categories=problem.categories,
        samples=n,
        probs=p,
        probs_source=problem.probs_source,
        construction=construction,
        copula=copula,
        sampler=sampler.name,
        seed=problem.seed,
    )
    return PmfRecord(
        config=config,
        pair_pmf=joint,
        independent_product=np.outer(p, p),
        ratio=importance_ratios(p, joint, sampler, variable),
        row_sum_max_error=float(np.max(np.abs(joint.sum(axis=1) - p))),
        check=None if check is None else pair_check(sampler, p, joint, n, check, problem.seed, backend, progress),
    )
