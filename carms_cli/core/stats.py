"""Merged accumulators → one immutable result record per estimator, and the run's Report.

Family-neutral: a family (:mod:`carms_cli.core.family`) says which coordinates of an estimate
are reported, their exact values and which are testable; the statistics are the same for all.
Statistics of one estimate g (per reported coordinate):

* mean ḡ and variance s² = M2/(T − 1) over T trials, standard error √(s²/T);
* bias z-score ``(ḡ − ∇)/SE`` against the exact gradient ∇; the verdict is Bonferroni-corrected:
  biased when ``max|z| > Φ⁻¹(1 − α/(2m))`` over the m tested coordinates (family-wise level α).
  Only the coordinates the family marks testable are tested (the discrete family: category k
  expected among the samples at least
  :data:`~carms_cli.discrete.family.MIN_EXPECTED_DRAWS` times, ``T·n·p_dk``: below
  that a mean hinges on a handful of rare draws, the normal approximation fails and a
  never-drawn category would look like a zero-variance bias). Untested coordinates are counted
  and reported, never silently passed;
* total variance Σ s² with a 95% interval from the spread of ``q = ‖g − ∇‖²`` per trial
  (``± 1.96 sd(q)/√T``; for an unbiased estimator E[q] is the total variance);
* median over coordinates of ln s², and the total variance relative to the family's reference
  estimator (LOORF for the discrete family).
"""

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import special

from carms_cli.core.family import EstimatorRun, ExactMoments, Family, Reported
from carms_cli.core.records import EstimatorResult, RawResult, Report

Z_95 = 1.959963984540054


def bias_threshold(coordinates: int, significance: float) -> float:
    """Two-sided Bonferroni threshold ``Φ⁻¹(1 − α/(2m))`` for m coordinates at level α."""
    return float(-special.ndtri(significance / (2.0 * max(coordinates, 1))))


def bias_z_scores(mean: np.ndarray, exact: np.ndarray, std_error: np.ndarray) -> np.ndarray:
    """Return the bias z-scores ``(mean − exact)/SE``.

    A zero-variance coordinate scores 0 if it equals the exact value (to 1e-12 relative) and ±inf
    otherwise.
    """
    diff = mean - exact
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / std_error
    zero = std_error == 0
    tie = np.abs(diff) <= 1e-12 * (1.0 + np.abs(exact))
    z[zero & tie] = 0.0
    z[zero & ~tie] = np.copysign(np.inf, diff[zero & ~tie])
    return z


def summarise(
    run: EstimatorRun,
    raw: RawResult,
    reported: Reported,
    significance: float,
    details: dict,
    name_of: Callable[[int], str] = str,
) -> EstimatorResult:
    """Turn one estimator's merged accumulators into its result record.

    ``name_of(i)`` names reported coordinate i (flattened); the tested coordinate with the
    largest |z| is named in ``bias_worst_coordinate``.
    """
    t = raw.trials
    mean, m2, exact_gradient = reported.mean, reported.m2, reported.exact_gradient
    variance = m2 / max(t - 1, 1)
    std_error = np.sqrt(variance / t)
    with np.errstate(over="ignore", invalid="ignore"):
        z = bias_z_scores(mean, exact_gradient, std_error)
    tested = reported.testable
    n_tested = int(tested.sum())
    # numbers that overflowed float64 (objective values near 1e308) cannot be tested: no verdict,
    # never a false "biased"
    overflowed = not bool(np.all(np.isfinite(mean[tested]) & np.isfinite(variance[tested])))
    if n_tested and not overflowed:
        tested_abs_z = np.where(tested, np.abs(z), -1.0).ravel()
        worst = int(np.argmax(tested_abs_z))
        max_z = float(tested_abs_z[worst])
        threshold = bias_threshold(n_tested, significance)
        unbiased = bool(max_z <= threshold)
        worst_name = name_of(worst)
    else:
        max_z = threshold = unbiased = worst_name = None
    total = float(variance.sum())
    with np.errstate(over="ignore", invalid="ignore"):
        q_mean = reported.q_sum / t
        q_var = max(reported.q_sq_sum / t - q_mean * q_mean, 0.0) * t / max(t - 1, 1)
    half_width = Z_95 * math.sqrt(q_var / t)
    with np.errstate(divide="ignore"):
        log_var = np.log(variance)
    evaluations = raw.evaluation_sum / t
    if evaluations == int(evaluations):
        evaluations = int(evaluations)
    return EstimatorResult(
        name=run.name,
        summary=run.summary,
        unbiased_by_design=run.unbiased_by_design,
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
        bias_worst_coordinate=worst_name,
        wall_seconds=raw.seconds,
        trials_per_second=t / raw.seconds if raw.seconds > 0 else float("inf"),
        variance_times_evaluations=total * evaluations,
        seconds_per_estimate=raw.seconds / t,
        details=details,
    )


def with_exact(result: EstimatorResult, exact: ExactMoments | None, exact_gradient: np.ndarray, note: str | None):
    """Attach exact moments of the reported coordinates (or, with ``exact`` None, the note why not).

    ``variance_exact_z_max`` is the largest ``|s² − σ²| / √((μ₄ − σ⁴)/T)`` over coordinates with
    positive exact spread: how far the Monte Carlo variances are from the exact ones. A
    coordinate whose fourth moment is not known (NaN) gets no z; with none known it is None. Nor
    does a coordinate whose exact variance is zero up to rounding.
    """
    if exact is None:
        return replace(result, exact_note=note)
    mean, variance, fourth = exact.mean, exact.variance, exact.fourth_central
    with np.errstate(invalid="ignore"):
        spread = np.sqrt(np.maximum(fourth - variance**2, 0.0) / result.trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(result.variance - variance) / spread
    # a coordinate whose exact variance is zero up to rounding (below (1e−12·S)², S the estimate's
    # scale) has a Monte Carlo variance made of rounding too: comparing the two would be noise
    scale = float(np.max(np.abs(mean) + np.sqrt(np.maximum(variance, 0.0)), initial=0.0))
    resolved = variance > (1e-12 * scale) ** 2
    z = z[(spread > 0) & resolved]  # NaN where the family has no fourth moment: no z for that coordinate
    if z.size:
        z_max = float(z.max())
    else:
        z_max = None if not np.all(np.isfinite(fourth)) else 0.0
    return replace(
        result,
        variance_exact=variance,
        variance_exact_total=float(variance.sum()),
        variance_exact_z_max=z_max,
        bias_exact_max_abs=float(np.max(np.abs(mean - exact_gradient))),
        exact_note=None,
    )


def with_reference_ratios(results: list[EstimatorResult], reference: str | None) -> list[EstimatorResult]:
    """Fill ``variance_ratio_to_loorf`` (the ratio to ``reference``) when the reference was run."""
    base = next((r for r in results if r.name == reference), None)
    if base is None or base.variance_total <= 0:
        return results
    return [replace(r, variance_ratio_to_loorf=r.variance_total / base.variance_total) for r in results]


def run_estimators(
    family: Family,
    runs: list[EstimatorRun],
    trials: int,
    threads: int,
    config: dict,
    significance: float = 1e-3,
    progress: Callable[[int], None] | None = None,
    exact: bool = False,
) -> Report:
    """Run every estimator for ``trials`` trials through the engine and summarise them in one Report.

    ``progress(done)`` receives the number of trials finished over all estimators. With
    ``exact``, each estimator's exact moments are attached where computable (else its reason).
    """
    results = []
    for index, run in enumerate(runs):
        offset = index * trials

        def report_progress(done, offset=offset):
            if progress is not None:
                progress(offset + done)

        raw = run.sample(trials, threads, report_progress)
        reported = family.reported(raw)
        result = summarise(run, raw, reported, significance, run.details(raw), family.parameter_name)
        if exact:
            moments = run.exact()
            if isinstance(moments, str):
                result = with_exact(result, None, reported.exact_gradient, f"n/a: {moments}")
            else:
                result = with_exact(result, moments, reported.exact_gradient, None)
        results.append(result)
    return build_report(family, config, results)


def build_report(family: Family, config: dict, results: list[EstimatorResult]) -> Report:
    """Build the run's Report: results with reference ratios, and the family's presentation."""
    return Report(
        config={**config, "family": family.name, "problem_keys": list(family.problem_keys)},
        exact_gradient=family.exact_gradient(),
        results=with_reference_ratios(results, family.reference),
        header=tuple(family.header_lines()),
        columns=tuple(family.columns()),
        legend=tuple(family.legend()),
        reference=family.reference,
        untested_reason=family.untested_reason(),
        evaluations_note=family.evaluations_note,
        exact_method=family.exact_method,
    )
