"""The discrete family's side of the contract (:mod:`carms_cli.core.family`).

:class:`CategoricalFamily` is one categorical (or binary) problem as the shared layers see it:
the D×K logit gradient is reported — for binary variables (K = 2) only the φ-gradient, the
logit of category 1, since ``g_0 = −g_1`` exactly —, a coordinate (d, k) is bias-tested when
category k is expected among the samples at least :data:`MIN_EXPECTED_DRAWS` times, and its
results carry duplicate-sample statistics. :class:`DiscreteRun` is one registered estimator on
it: the kernel through the shared engine (or the NumPy backend), the exact moments by
enumeration where computable.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from carms_cli.core.family import ExactMoments, Reported
from carms_cli.core.formatting import format_matrix
from carms_cli.core.records import Column, RawResult
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.plan import Plan
from carms_cli.discrete.problem import PROBLEM_KEYS, Problem
from carms_cli.discrete.registry import VARIANCE_REFERENCE

#: Expected number of samples equal to category k needed before coordinate k is bias-tested.
MIN_EXPECTED_DRAWS = 100.0
#: Largest D_unique · K^n · |Π| · 2^n work spent on exact duplicate statistics in a run.
MAX_EXACT_DUPLICATE_WORK = 5e7
#: Largest D_unique · (Fourier-integral node evaluations) spent on the Gaussian copula's CARMS-I
#: tuple probabilities for exact duplicate statistics in a run (about a second on two cores;
#: K = 10, n = 4 needs 9·10⁷).
MAX_GAUSSIAN_DUPLICATE_WORK = 3e8



@dataclass(frozen=True)
class Duplicates:
    """Duplicate-sample statistics (per variable, averaged over variables)."""

    mean_unique: float
    mean_unique_se: float
    mean_unique_exact: float | None
    prob_any_coincide: float
    prob_any_coincide_se: float
    prob_any_coincide_exact: float | None


def duplicate_statistics(raw: RawResult, dims: int, has_samples: bool, exact: tuple) -> Duplicates:
    """Return the duplicate statistics of a run, with standard errors, from the kernel's counters.

    These are the mean distinct categories among the n samples of a variable and the share of
    (trial, variable) draws in which two samples coincide (NaN for an estimator without samples).
    """
    draws = raw.trials * dims
    unique_mean = raw.extras["unique_sum"] / draws if has_samples else math.nan
    coincide = raw.extras["duplicate_sum"] / draws if has_samples else math.nan
    return Duplicates(
        mean_unique=unique_mean,
        mean_unique_se=float(math.sqrt(max(raw.extras["unique_sq_sum"] / draws - unique_mean**2, 0.0) / draws)),
        mean_unique_exact=exact[0],
        prob_any_coincide=coincide,
        prob_any_coincide_se=float(math.sqrt(coincide * (1.0 - coincide) / draws)),
        prob_any_coincide_exact=exact[1],
    )


def exact_duplicate_means(problem: Problem, spec: EstimatorSpec) -> tuple[float | None, float | None]:
    """Exact (mean distinct, P(any coincide)) averaged over the variables, or (None, None)."""
    from carms_cli.discrete.exact.duplicates import exact_duplicates, multiset_count
    from carms_cli.discrete.exact.gaussian import cdf_grid_work
    from carms_cli.discrete.exact.inverse import order_set_size
    from carms_cli.discrete.exact.pmf import NotComputable
    from carms_cli.discrete.sampling.copulas import Copula
    from carms_cli.discrete.sampling.samplers import Construction

    if spec.sampler.construction == Construction.SWAPS:
        return None, None  # ARSM: no n samples
    if spec.sampler.construction == Construction.SUBSETS and problem.dims > 1:
        return None, None  # UNORD draws joint configurations: a variable's samples may repeat, no closed form

    rows = {row.tobytes(): row for row in problem.probs}
    k, n = problem.categories, problem.samples
    # CARMS-I evaluates one box per multiset of categories; other samplers build the whole pmf
    tuples = multiset_count(k, n) if spec.sampler.construction == Construction.INVERSE else k**n
    orders = order_set_size(spec.sampler.orders, k)
    work = len(rows) * tuples * orders * 2**n
    if spec.sampler.copula.name != "INDEPENDENT" and work > MAX_EXACT_DUPLICATE_WORK:
        return None, None
    gaussian_inverse = spec.sampler.copula == Copula.GAUSSIAN and spec.sampler.construction == Construction.INVERSE
    if gaussian_inverse and n > 2 and len(rows) * cdf_grid_work(orders, k + 1, n) > MAX_GAUSSIAN_DUPLICATE_WORK:
        return None, None
    try:
        stats = {key: exact_duplicates(spec.sampler, row, n) for key, row in rows.items()}
    except NotComputable:
        return None, None
    per_variable = [stats[row.tobytes()] for row in problem.probs]
    return (
        float(np.mean([s.mean_unique for s in per_variable])),
        float(np.mean([s.prob_any_coincide for s in per_variable])),
    )


class CategoricalFamily:
    """One discrete problem (K categories, n samples, D variables) for the shared layers."""

    name = "discrete"
    problem_keys = PROBLEM_KEYS
    reference = VARIANCE_REFERENCE
    evaluations_note = "ARSM: its distinct swap configurations"
    exact_method = "enumerated"

    def __init__(self, problem: Problem):
        self.problem = problem
        self.binary = problem.categories == 2
        self._gradient = problem.exact_gradient()

    def parameter_name(self, index: int) -> str:
        """``phi[d]`` for binary variables, else ``logit[d,k]``."""
        if self.binary:
            return f"phi[{index}]"
        d, k = divmod(index, self.problem.categories)
        return f"logit[{d},{k}]"

    def exact_gradient(self) -> np.ndarray:
        """∇ of the reported coordinates: (D, K), or (D, 1) φ-gradients for binary variables."""
        return self._gradient[:, 1:] if self.binary else self._gradient

    def reported(self, raw: RawResult) -> Reported:
        """Return the reported coordinates (D×K, or D φ-gradients for binary variables) and the testable mask."""
        mean, m2, probs, q_sum, q_sq_sum = raw.mean, raw.m2, self.problem.probs, raw.q_sum, raw.q_sq_sum
        if self.binary:
            # the φ-gradient is the logit of category 1 (g_0 = −g_1 exactly): q halves, q² quarters,
            # and it is tested only if both values are drawn often enough
            mean, m2 = mean[:, 1:], m2[:, 1:]
            probs = probs.min(axis=1, keepdims=True)
            q_sum, q_sq_sum = q_sum / 2.0, q_sq_sum / 4.0
        testable = raw.trials * self.problem.samples * probs >= MIN_EXPECTED_DRAWS
        return Reported(mean, m2, self.exact_gradient(), q_sum, q_sq_sum, testable)

    def reported_exact(self, moments) -> ExactMoments:
        """Exact moments (D, K) of an estimator restricted to the reported coordinates."""
        if self.binary:
            return ExactMoments(moments.mean[:, 1:], moments.variance[:, 1:], moments.fourth_central[:, 1:])
        return ExactMoments(moments.mean, moments.variance, moments.fourth_central)

    def header_lines(self) -> list[str]:
        """Return the lines stating the problem: sizes, seed, p, objective and exact gradient."""
        p = self.problem
        gradient = (
            "exact gradient w.r.t. φ (binary: p = sigmoid(φ) = P(z=1)), one per variable: "
            + format_matrix(self.exact_gradient().T)
            if self.binary
            else "exact gradient: " + format_matrix(self._gradient)
        )
        return [
            f"K={p.categories} categories · n={p.samples} samples · D={p.dims} variables · "
            f"trials={p.trials:,} · seed={p.seed}",
            f"p ({p.probs_source}): {format_matrix(p.probs)}",
            f"objective {p.objective.spec}: {p.objective.description}",
            gradient,
        ]

    def columns(self) -> tuple[Column, ...]:
        """Return the duplicate columns: mean distinct samples and P(dup), with exact values."""
        return (
            Column(
                "distinct",
                "duplicates_mean_unique",
                ("duplicates", "mean_unique"),
                decimals=3,
                note="distinct: mean distinct categories",
            ),
            Column(
                "exact",
                "duplicates_mean_unique_exact",
                ("duplicates", "mean_unique_exact"),
                digits=4,
                note="exact: its exact value",
            ),
            Column(
                "P(dup)",
                "duplicates_prob_any_coincide",
                ("duplicates", "prob_any_coincide"),
                decimals=3,
                note="P(dup): P(any two equal)",
            ),
            Column(None, "duplicates_prob_any_coincide_exact", ("duplicates", "prob_any_coincide_exact")),
        )

    def legend(self) -> tuple[str, ...]:
        """Return the legend lines: what goes untested, then the duplicate columns."""
        return (
            f"untested: coordinates whose category is expected fewer than {MIN_EXPECTED_DRAWS:.0f} times in the "
            "samples",
            "distinct: mean distinct categories among the n samples (exact: from the n-tuple pmf where "
            "computable); P(dup): share of draws with two equal samples",
        )

    def untested_reason(self) -> str:
        """Return why a coordinate goes untested (its category is drawn too rarely)."""
        return f"category expected fewer than {MIN_EXPECTED_DRAWS:.0f} times in the samples; raise --trials"


class DiscreteRun:
    """One registered estimator on a :class:`CategoricalFamily`'s problem.

    ``plan`` is built (and validated) up front; ``duplicates_cache`` shares exact duplicate
    statistics between estimators that draw from the same sampler.
    """

    def __init__(
        self, family: CategoricalFamily, spec: EstimatorSpec, plan: Plan, backend: str, duplicates_cache: dict
    ):
        self.family = family
        self.spec = spec
        self.plan = plan
        self.backend = backend
        self.name = spec.name
        self.summary = spec.summary
        self.unbiased_by_design = spec.unbiased_by_design
        self._duplicates_cache = duplicates_cache

    def sample(self, trials: int, threads: int, progress: Callable[[int], None] | None) -> RawResult:
        """Run ``trials`` trials of the plan on the backend (see :func:`~carms_cli.discrete.source.run_plan`)."""
        from carms_cli.discrete.source import run_plan

        return run_plan(self.plan, trials, threads, progress, self.backend)

    def details(self, raw: RawResult) -> dict:
        """Return the sampler, its copula and the duplicate statistics (exact ones cached per sampler)."""
        sampler = self.spec.sampler
        if sampler.name not in self._duplicates_cache:
            self._duplicates_cache[sampler.name] = exact_duplicate_means(self.family.problem, self.spec)
        exact = self._duplicates_cache[sampler.name]
        return {
            "sampler": sampler.name,
            "copula": sampler.copula.name.lower(),
            "duplicates": duplicate_statistics(raw, self.family.problem.dims, self.spec.has_samples, exact),
        }

    def exact(self) -> ExactMoments | str:
        """Return the exact moments of the reported coordinates, or why they are not computable."""
        from carms_cli.discrete.exact.moments import exact_moments
        from carms_cli.discrete.exact.pmf import NotComputable

        try:
            return self.family.reported_exact(exact_moments(self.family.problem, self.spec))
        except NotComputable as reason:
            return str(reason)
