"""``carms exact``'s record: every estimator's exact mean, bias and variance by enumeration.

No sampling: :func:`exact_record` enumerates each estimator's joint pmf
(:func:`carms_cli.discrete.exact.moments.exact_moments`) and returns a frozen
:class:`ExactRecord`; :meth:`ExactRecord.to_dict` is the ``carms-cli/exact/1`` JSON layout.
"""

from dataclasses import asdict, dataclass

import numpy as np

from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.exact.moments import MAX_OUTCOMES, NotComputable, exact_moments
from carms_cli.discrete.problem import Problem
from carms_cli.discrete.registry import VARIANCE_REFERENCE

SCHEMA = "carms-cli/exact/1"


@dataclass(frozen=True)
class ExactEntry:
    """Exact moments of one estimator (arrays are D×K).

    Every number is None, and ``note`` says why, where the joint pmf is not computable or
    exceeds the enumeration cap.
    """

    name: str
    unbiased_by_design: bool
    note: str | None
    mean: np.ndarray | None
    bias: np.ndarray | None
    bias_max_abs: float | None
    variance: np.ndarray | None
    variance_total: float | None
    median_log_variance: float | None
    #: total variance ÷ loorf's (None when either is not computable)
    variance_ratio_to_loorf: float | None


@dataclass(frozen=True)
class ExactConfig:
    """The resolved problem the moments belong to."""

    categories: int
    samples: int
    dims: int
    seed: int
    probs: np.ndarray
    probs_source: str
    objective: str
    exact_gradient: np.ndarray
    max_outcomes: int


@dataclass(frozen=True)
class ExactRecord:
    """The record of one ``carms exact`` run: the problem and one entry per estimator."""

    config: ExactConfig
    estimators: tuple[ExactEntry, ...]
    schema: str = SCHEMA

    def entry(self, name: str) -> ExactEntry:
        """Return the entry of estimator ``name`` (KeyError if it was not run)."""
        for entry in self.estimators:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict:
        """Return the ``carms-cli/exact/1`` JSON layout (numpy values; ``plain_json`` writes it)."""
        return {
            "schema": self.schema,
            "config": asdict(self.config),
            "estimators": [asdict(entry) for entry in self.estimators],
        }


def _entry(problem: Problem, spec: EstimatorSpec, gradient: np.ndarray) -> dict:
    try:
        moments = exact_moments(problem, spec)
    except NotComputable as reason:
        return {
            "mean": None,
            "bias": None,
            "bias_max_abs": None,
            "variance": None,
            "variance_total": None,
            "median_log_variance": None,
            "note": f"n/a: {reason}",
        }
    bias = moments.mean - gradient
    with np.errstate(divide="ignore"):
        log_var = np.log(moments.variance)
    return {
        "mean": moments.mean,
        "bias": bias,
        "bias_max_abs": float(np.max(np.abs(bias))),
        "variance": moments.variance,
        "variance_total": moments.variance_total,
        "median_log_variance": float(np.median(log_var)),
        "note": None,
    }


def exact_record(problem: Problem, specs: list[EstimatorSpec]) -> ExactRecord:
    """Exact moments of every estimator in ``specs`` on ``problem``.

    Parameters
    ----------
    problem : Problem
        The resolved problem (its ``trials`` is not used).
    specs : list of EstimatorSpec
        Estimators in the order of the record.

    Returns
    -------
    ExactRecord
        One entry per estimator; the ratio to loorf is set when loorf is among ``specs`` and
        both variances are computable.
    """
    gradient = problem.exact_gradient()
    moments = [(spec, _entry(problem, spec, gradient)) for spec in specs]
    base = next(
        (m["variance_total"] for spec, m in moments if spec.name == VARIANCE_REFERENCE and m["variance_total"]), None
    )
    entries = tuple(
        ExactEntry(
            name=spec.name,
            unbiased_by_design=spec.unbiased_by_design,
            variance_ratio_to_loorf=(
                m["variance_total"] / base if base is not None and m["variance_total"] is not None else None
            ),
            **m,
        )
        for spec, m in moments
    )
    config = ExactConfig(
        categories=problem.categories,
        samples=problem.samples,
        dims=problem.dims,
        seed=problem.seed,
        probs=problem.probs,
        probs_source=problem.probs_source,
        objective=problem.objective.spec,
        exact_gradient=gradient,
        max_outcomes=MAX_OUTCOMES,
    )
    return ExactRecord(config=config, estimators=entries)
