"""Merged accumulators → one immutable result record per estimator, and the run's Report.

Statistics of one n-sample estimate g (per coordinate of the D×K logit gradient):

* mean ḡ and variance s² = M2/(T − 1) over T trials, standard error √(s²/T);
* bias z-score ``(ḡ − ∇)/SE`` against the exact gradient ∇; the verdict is Bonferroni-corrected:
  biased when ``max|z| > Φ⁻¹(1 − α/(2m))`` over the m tested coordinates (family-wise level α).
  A coordinate (d, k) is tested only when category k is expected among the samples at least
  :data:`MIN_EXPECTED_DRAWS` times (``T·n·p_dk``): below that its mean hinges on a handful of
  rare draws, the normal approximation fails and a never-drawn category would look like a
  zero-variance bias. Untested coordinates are counted and reported, never silently passed;
* total variance Σ s² with a 95% interval from the spread of ``q = ‖g − ∇‖²`` per trial
  (``± 1.96 sd(q)/√T``; for an unbiased estimator E[q] is the total variance);
* median over coordinates of ln s², and the total variance relative to LOORF's;
* duplicates: mean number of distinct categories among the n samples of a variable and the
  fraction of (trial, variable) draws in which some two samples coincide, with standard errors.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from carms_cli import __version__
from carms_cli.core.engine import RawResult
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.problem import Problem

SCHEMA = "carms-cli/variance/1"
#: Expected number of samples equal to category k needed before coordinate k is bias-tested.
MIN_EXPECTED_DRAWS = 100.0
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Duplicates:
    """Duplicate-sample statistics (per variable, averaged over variables)."""

    mean_unique: float
    mean_unique_se: float
    mean_unique_exact: float | None
    prob_any_coincide: float
    prob_any_coincide_se: float
    prob_any_coincide_exact: float | None


@dataclass(frozen=True)
class EstimatorResult:
    """Everything measured for one estimator (arrays are D×K)."""

    name: str
    summary: str
    sampler: str
    copula: str
    unbiased_by_design: bool
    #: mean function evaluations per estimate, as counted by the kernel (n for most estimators;
    #: ARSM: its distinct swap configurations)
    evaluations_per_estimate: float
    trials: int
    mean: np.ndarray
    variance: np.ndarray
    std_error: np.ndarray
    bias_z: np.ndarray
    bias_max_abs_z: float | None
    bias_threshold_z: float | None
    bias_tested_coordinates: int
    unbiased: bool | None
    variance_total: float
    variance_total_ci95: tuple[float, float]
    median_log_variance: float
    variance_ratio_to_loorf: float | None
    duplicates: Duplicates
    wall_seconds: float
    trials_per_second: float
    #: variance_total × evaluations_per_estimate: the variance of an estimate that costs one
    #: evaluation's worth of budget (compare estimators at equal evaluations)
    variance_times_evaluations: float = 0.0
    #: wall seconds per n-sample estimate (variance_total × this compares at equal time)
    seconds_per_estimate: float = 0.0
    variance_exact: np.ndarray | None = None
    variance_exact_total: float | None = None
    variance_exact_z_max: float | None = None
    bias_exact_max_abs: float | None = None
    exact_note: str | None = None


@dataclass(frozen=True)
class Report:
    """One run: the resolved problem and one result per estimator."""

    config: dict
    exact_gradient: np.ndarray
    results: list[EstimatorResult] = field(default_factory=list)
    schema: str = SCHEMA
    version: str = __version__


def bias_threshold(coordinates: int, significance: float) -> float:
    """Two-sided Bonferroni threshold ``Φ⁻¹(1 − α/(2m))`` for m coordinates at level α."""
    return float(-special.ndtri(significance / (2.0 * max(coordinates, 1))))


def bias_z_scores(mean: np.ndarray, exact: np.ndarray, std_error: np.ndarray) -> np.ndarray:
    """``(mean − exact)/SE``; a zero-variance coordinate scores 0 if it equals the exact value
    (to 1e-12 relative) and ±inf otherwise."""
    diff = mean - exact
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / std_error
    zero = std_error == 0
    tie = np.abs(diff) <= 1e-12 * (1.0 + np.abs(exact))
    z[zero & tie] = 0.0
    z[zero & ~tie] = np.copysign(np.inf, diff[zero & ~tie])
    return z


def summarise(
    spec: EstimatorSpec,
    raw: RawResult,
    problem: Problem,
    exact_gradient: np.ndarray,
    significance: float,
    duplicates_exact: tuple[float | None, float | None] = (None, None),
) -> EstimatorResult:
    """Turn one estimator's merged accumulators into its result record."""
    t = raw.trials
    mean, m2, probs, q_sum, q_sq_sum = raw.mean, raw.m2, problem.probs, raw.q_sum, raw.q_sq_sum
    if problem.categories == 2:
        # binary: report the φ-gradient, the logit of category 1 (g_0 = −g_1 exactly), and test it
        # only if both values are drawn often enough
        mean, m2, exact_gradient = mean[:, 1:], m2[:, 1:], exact_gradient[:, 1:]
        probs = probs.min(axis=1, keepdims=True)
        q_sum, q_sq_sum = q_sum / 2.0, q_sq_sum / 4.0
    variance = m2 / max(t - 1, 1)
    std_error = np.sqrt(variance / t)
    z = bias_z_scores(mean, exact_gradient, std_error)
    tested = t * problem.samples * probs >= MIN_EXPECTED_DRAWS
    n_tested = int(tested.sum())
    if n_tested:
        max_z = float(np.max(np.abs(z[tested])))
        threshold = bias_threshold(n_tested, significance)
        unbiased = bool(max_z <= threshold)
    else:
        max_z = threshold = unbiased = None
    total = float(variance.sum())
    q_mean = q_sum / t
    q_var = max(q_sq_sum / t - q_mean * q_mean, 0.0) * t / max(t - 1, 1)
    half_width = Z_95 * math.sqrt(q_var / t)
    with np.errstate(divide="ignore"):
        log_var = np.log(variance)
    draws = t * problem.dims
    unique_mean = raw.unique_sum / draws if spec.has_samples else math.nan
    unique_sq = raw.unique_sq_sum
    coincide = raw.duplicate_sum / draws if spec.has_samples else math.nan
    evaluations = raw.evaluation_sum / t
    if evaluations == int(evaluations):
        evaluations = int(evaluations)
    return EstimatorResult(
        name=spec.name,
        summary=spec.summary,
        sampler=spec.sampler.name,
        copula=spec.sampler.copula.name.lower(),
        unbiased_by_design=spec.unbiased_by_design,
        evaluations_per_estimate=evaluations,
        trials=t,
        mean=mean,
        variance=variance,
        std_error=std_error,
        bias_z=z,
        bias_max_abs_z=max_z,
        bias_threshold_z=threshold,
        bias_tested_coordinates=n_tested,
        unbiased=unbiased,
        variance_total=total,
        variance_total_ci95=(max(total - half_width, 0.0), total + half_width),
        median_log_variance=float(np.median(log_var)),
        variance_ratio_to_loorf=None,
        duplicates=Duplicates(
            mean_unique=unique_mean,
            mean_unique_se=float(math.sqrt(max(unique_sq / draws - unique_mean**2, 0.0) / draws)),
            mean_unique_exact=duplicates_exact[0],
            prob_any_coincide=coincide,
            prob_any_coincide_se=float(math.sqrt(coincide * (1.0 - coincide) / draws)),
            prob_any_coincide_exact=duplicates_exact[1],
        ),
        wall_seconds=raw.seconds,
        trials_per_second=t / raw.seconds if raw.seconds > 0 else float("inf"),
        variance_times_evaluations=total * evaluations,
        seconds_per_estimate=raw.seconds / t,
    )


def with_exact(result: EstimatorResult, exact, exact_gradient: np.ndarray, note: str | None) -> EstimatorResult:
    """Attach exact moments (``exact``: :class:`carms_cli.discrete.exact.moments.ExactMoments` or None).

    ``variance_exact_z_max`` is the largest ``|s² − σ²| / √((μ₄ − σ⁴)/T)`` over coordinates with
    positive exact spread: how far the Monte Carlo variances are from the exact ones.
    """
    from dataclasses import replace

    if exact is None:
        return replace(result, exact_note=note)
    mean, variance, fourth = exact.mean, exact.variance, exact.fourth_central
    if result.mean.shape != mean.shape:  # binary: the φ coordinate
        mean, variance, fourth, exact_gradient = mean[:, 1:], variance[:, 1:], fourth[:, 1:], exact_gradient[:, 1:]
    spread = np.sqrt(np.maximum(fourth - variance**2, 0.0) / result.trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(result.variance - variance) / spread
    z = z[spread > 0]
    return replace(
        result,
        variance_exact=variance,
        variance_exact_total=float(variance.sum()),
        variance_exact_z_max=float(z.max()) if z.size else 0.0,
        bias_exact_max_abs=float(np.max(np.abs(mean - exact_gradient))),
        exact_note=None,
    )


def with_reference_ratios(results: list[EstimatorResult], reference: str) -> list[EstimatorResult]:
    """Fill ``variance_ratio_to_loorf`` when the reference estimator was run."""
    from dataclasses import replace

    base = next((r for r in results if r.name == reference), None)
    if base is None or base.variance_total <= 0:
        return results
    return [replace(r, variance_ratio_to_loorf=r.variance_total / base.variance_total) for r in results]
