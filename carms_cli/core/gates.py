"""Gates: the exit-1 checks a CI job asks for, read from a Report (never from the table).

Each gate returns the failure messages (empty: passed); the CLI prints them and exits 1.
"""

from carms_cli.core.errors import InputError
from carms_cli.core.records import Report


def bias_gate(report: Report) -> list[str]:
    """``--fail-on-bias``: estimators unbiased by design whose bias test failed."""
    failed = [r for r in report.results if r.unbiased_by_design and r.unbiased is False]
    if not failed:
        return []
    return ["biased " + ", ".join(f"{r.name} (max|z| {r.bias_max_abs_z:.3g})" for r in failed)]


def require_reference(estimators: list[str], reference: str | None, option: str) -> None:
    """Refuse, before any sampling, a gate that needs the reference estimator when it is not run."""
    if reference is None or reference not in estimators:
        raise InputError(f"{option} needs {reference} among the estimators")


def variance_ratio_gate(report: Report, limit: float) -> list[str]:
    """``--max-variance-ratio R``: estimators whose total variance exceeds R times the reference's."""
    over = [r for r in report.results if r.variance_ratio_to_loorf is not None and r.variance_ratio_to_loorf > limit]
    if not over:
        return []
    names = ", ".join(f"{r.name} ({r.variance_ratio_to_loorf:.3g})" for r in over)
    return [f"variance ratio to {report.reference} above {limit:g}: {names}"]
