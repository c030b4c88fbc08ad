"""What every estimator-comparison command does with its Report: show it, write it, gate on it.

Shared by ``carms variance`` and ``carms continuous``: the table (unless quiet or a record goes
to stdout), the ``--plot`` bar chart, ``--json``/``--csv`` records, and the gates in order —
regression against ``--baseline``, ``--fail-on-bias``, ``--max-variance-ratio`` — each failing
gate one ``Gate failed:`` line on stderr and exit code 1.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass

from carms_cli.cli.options import check_outputs, write_output
from carms_cli.core.errors import EXIT_GATE, EXIT_OK
from carms_cli.core.gates import bias_gate, require_reference, variance_ratio_gate
from carms_cli.core.records import Report


def load_baseline(baseline: str | None, tolerance: str) -> tuple[dict | None, float | None]:
    """Read ``--baseline`` and parse ``--tolerance`` before any work: (record, tolerance), or (None, None)."""
    if baseline is None:
        return None, None
    from carms_cli.analysis.compare import parse_tolerance
    from carms_cli.cli.compare_cmd import load_record

    return load_record(baseline, "baseline"), parse_tolerance(tolerance)


class PreparationNote:
    """``preparing(name, done, total)`` callback: one stderr line when table building passes a second.

    Says which estimator's tables are being built, how far along, and about how long is left at the
    pace so far; silent when ``enabled`` is false (``--quiet``) or when preparation is quick.
    """

    def __init__(self, enabled: bool, delay: float = 1.0):
        import time

        self.enabled = enabled
        self.delay = delay
        self.clock = time.perf_counter
        self.started: dict[str, float] = {}
        self.said = False

    def __call__(self, name: str, done: int, total: int) -> None:
        """Note ``done`` of ``total`` variables' tables of estimator ``name`` built."""
        if not self.enabled or self.said:
            return
        started = self.started.setdefault(name, self.clock())
        elapsed = self.clock() - started
        if elapsed < self.delay or done >= total:
            return
        left = elapsed / done * (total - done)
        print(
            f"preparing the tables of '{name}': variable {done:,} of {total:,} after {elapsed:.0f} s, "
            f"about {_duration(left)} left",
            file=sys.stderr,
            flush=True,
        )
        self.said = True


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class ReportRequest:
    """What to do with a comparison's Report: the presentation options and the gates, checked.

    ``explain``: the table is followed by every column's full explanation instead of the short legend.
    """

    quiet: bool
    json_out: str | None
    csv_out: str | None
    plot: str | None
    baseline_record: dict | None
    tolerance: float | None
    significance: float
    fail_on_bias: bool
    max_variance_ratio: float | None
    explain: bool = False

    def check_reference(self, names: list[str], reference: str) -> None:
        """Refuse ``--max-variance-ratio`` when the estimators ``names`` leave out its ``reference``."""
        if self.max_variance_ratio is not None:
            require_reference(names, reference, "--max-variance-ratio")


def report_request(
    *,
    quiet: bool,
    json_out: str | None,
    csv_out: str | None,
    plot: str | None,
    baseline: str | None,
    tolerance: str,
    significance: float,
    fail_on_bias: bool,
    max_variance_ratio: float | None,
    explain: bool,
    inputs: dict[str, str | None] | None = None,
) -> ReportRequest:
    """Check the outputs against ``--baseline`` and the other ``inputs`` files, read the baseline; before any work."""
    check_outputs(
        {"--json": json_out, "--csv": csv_out, "--plot": plot}, {"--baseline": baseline, **(inputs or {})}, plot
    )
    baseline_record, tolerance_value = load_baseline(baseline, tolerance)
    return ReportRequest(
        quiet=quiet,
        json_out=json_out,
        csv_out=csv_out,
        plot=plot,
        baseline_record=baseline_record,
        tolerance=tolerance_value,
        significance=significance,
        fail_on_bias=fail_on_bias,
        max_variance_ratio=max_variance_ratio,
        explain=explain,
    )


def run_and_report(analyse: Callable[[Callable[[int], None]], Report], total: int, request: ReportRequest) -> int:
    """Run ``analyse(progress)`` behind a progress bar of ``total`` trials, then :func:`show_and_gate` its Report."""
    from carms_cli.present.table import ProgressBar

    bar = ProgressBar(total, enabled=not request.quiet)
    try:
        report = analyse(bar)
    finally:
        bar.close()
    return show_and_gate(report, request)


def show_and_gate(report: Report, request: ReportRequest) -> int:
    """Present ``report`` and apply the requested gates; return the exit code (0, or 1 on a failed gate)."""
    from carms_cli.present.export import to_csv, to_json
    from carms_cli.present.table import print_report

    if not request.quiet and "-" not in (request.json_out, request.csv_out):
        print_report(report, explain=request.explain)
    if request.plot == "-":
        from carms_cli.present.table import bar_chart, print_lines

        print_lines(
            ["total variance (log scale):"]
            + bar_chart([r.name for r in report.results], [r.variance_total for r in report.results])
        )
    elif request.plot is not None:
        from carms_cli.present.charts import write_variance_figure

        write_variance_figure(report.results, request.plot)
    if request.json_out is not None:
        write_output(request.json_out, to_json(report), "JSON")
    if request.csv_out is not None:
        write_output(request.csv_out, to_csv(report), "CSV")
    code = EXIT_OK
    if request.baseline_record is not None:
        from carms_cli.analysis.compare import compare_records
        from carms_cli.cli.compare_cmd import report_comparison
        from carms_cli.core.records import report_record

        record = report_record(report)
        comparisons = compare_records(request.baseline_record, record, request.tolerance, request.significance)
        if report_comparison(comparisons, request.tolerance, None, show=not request.quiet) != EXIT_OK:
            print("Gate failed: regression against the baseline", file=sys.stderr)
            code = EXIT_GATE
    if request.fail_on_bias:
        for message in bias_gate(report):
            print(f"Gate failed: {message}", file=sys.stderr)
            code = EXIT_GATE
    if request.max_variance_ratio is not None:
        for message in variance_ratio_gate(report, request.max_variance_ratio):
            print(f"Gate failed: {message}", file=sys.stderr)
            code = EXIT_GATE
    return code
