"""The family contract: what a family of estimators gives the shared engine, statistics and presenters.

A *family* (discrete, continuous, models) owns its problems, estimators and kernels. To reuse
the engine (:func:`carms_cli.core.engine.run_source`), the statistics
(:func:`carms_cli.core.stats.summarise`), the records and presenters, the gates, ``compare``
and ``sweep``, it implements two small protocols for one resolved problem:

* :class:`Family` — the problem's view: which coordinates of the estimate are reported and
  bias-tested, their exact values, the header lines that state the problem, the extra columns
  its results carry, the reference estimator for variance ratios and the config keys that make
  two runs comparable;
* :class:`EstimatorRun` — one estimator on that problem: its name and claims, the
  sampling (normally a :class:`~carms_cli.core.engine.ChunkSource` run by the engine), the
  family-declared details of its result, and its exact moments where computable.

:func:`carms_cli.core.stats.run_estimators` runs a list of them into one
:class:`~carms_cli.core.records.Report`. ``tests/test_contract.py`` drives a test-only family
through it end to end, so the contract cannot quietly come to assume categories.
"""

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from carms_cli.core.records import Column, RawResult


class Reported(NamedTuple):
    """The coordinates a family reports and tests, from a run's merged accumulators.

    Attributes
    ----------
    mean, m2 : np.ndarray
        Mean and ``Σ(g − ḡ)²`` of the reported coordinates (any shape; the discrete family
        reports D×K logit gradients, or the D φ-gradients of binary variables).
    exact_gradient : np.ndarray
        The exact value of each reported coordinate (same shape).
    q_sum, q_sq_sum : float
        ``Σq`` and ``Σq²`` of ``q = ‖g − ∇‖²`` over the reported coordinates.
    testable : np.ndarray of bool
        Coordinates sampled often enough for the normal approximation behind the bias z-test;
        the others are counted as untested, never silently passed.
    """

    mean: np.ndarray
    m2: np.ndarray
    exact_gradient: np.ndarray
    q_sum: float
    q_sq_sum: float
    testable: np.ndarray


class ExactMoments(NamedTuple):
    """Exact mean, variance and fourth central moment per reported coordinate of one estimate."""

    mean: np.ndarray
    variance: np.ndarray
    fourth_central: np.ndarray


class Family(Protocol):
    """One resolved problem of a family, as the shared layers see it."""

    #: The family's name, written into every record's config (``"discrete"``).
    name: str
    #: Config entries that define the problem: runs are comparable when all of them agree.
    problem_keys: tuple[str, ...]
    #: The estimator variance ratios are taken against (None: no ratios).
    reference: str | None
    #: What counts as one evaluation where it is not plain ("" otherwise), for the legend.
    evaluations_note: str
    #: How exact variances are computed ("enumerated", "by quadrature"), for the legend.
    exact_method: str

    def parameter_name(self, index: int) -> str:
        """Name of reported coordinate ``index`` (flattened in C order), e.g. ``logit[0,3]``."""
        ...

    def reported(self, raw: RawResult) -> Reported:
        """Return the reported coordinates of a run, their exact values and the testable mask."""
        ...

    def exact_gradient(self) -> np.ndarray:
        """Return the exact gradient of the reported coordinates."""
        ...

    def header_lines(self) -> list[str]:
        """Lines stating the problem, enough to repeat the run."""
        ...

    def columns(self) -> tuple[Column, ...]:
        """Extra columns read from each result's details (table and CSV), each with its short legend ``note``."""
        ...

    def legend(self) -> tuple[str, ...]:
        """Full legend lines (``--explain``): first what goes untested, then the extra columns'."""
        ...

    def untested_reason(self) -> str:
        """Why a coordinate goes untested, and what to do about it."""
        ...


class EstimatorRun(Protocol):
    """One estimator on one problem of a family."""

    name: str
    summary: str
    unbiased_by_design: bool

    def sample(self, trials: int, threads: int, progress: Callable[[int], None] | None) -> RawResult:
        """Run ``trials`` trials, normally ``run_source(its ChunkSource, …)`` through the engine."""
        ...

    def details(self, raw: RawResult) -> dict:
        """Family-declared fields of the result (written into JSON beside the shared ones)."""
        ...

    def exact(self) -> ExactMoments | str:
        """Exact moments of the reported coordinates, or a one-line reason they are not computable."""
        ...
