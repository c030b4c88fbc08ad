"""Presenters: Report → Rich table, JSON and CSV; and the progress bar.

The only module that imports Rich. Scripts should read the JSON; the table is for people.
"""

import csv
import io
import json
import math
import sys
import time
from dataclasses import asdict

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from carms_cli.registry import VARIANCE_REFERENCE
from carms_cli.stats import MIN_EXPECTED_DRAWS, Report

CSV_FIELDS = [
    "name",
    "unbiased_by_design",
    "unbiased",
    "bias_max_abs_z",
    "bias_threshold_z",
    "bias_tested_coordinates",
    "variance_total",
    "variance_total_ci95_low",
    "variance_total_ci95_high",
    "variance_ratio_to_loorf",
    "median_log_variance",
    "duplicates_mean_unique",
    "duplicates_mean_unique_exact",
    "duplicates_prob_any_coincide",
    "duplicates_prob_any_coincide_exact",
    "evaluations_per_estimate",
    "trials",
    "wall_seconds",
    "trials_per_second",
]


def _plain(value):
    """JSON-ready values: arrays to lists, non-finite floats to None."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def report_record(report: Report) -> dict:
    """The versioned JSON record of a run (documented in the README)."""
    return _plain(
        {
            "schema": report.schema,
            "version": report.version,
            "config": {**report.config, "exact_gradient": report.exact_gradient},
            "estimators": [asdict(result) for result in report.results],
        }
    )


def to_json(report: Report) -> str:
    return json.dumps(report_record(report), indent=2) + "\n"


def to_csv(report: Report) -> str:
    """One row per estimator with the scalar fields of :data:`CSV_FIELDS`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in report_record(report)["estimators"]:
        dup = entry["duplicates"]
        row = {key: entry.get(key) for key in CSV_FIELDS}
        row["variance_total_ci95_low"], row["variance_total_ci95_high"] = entry["variance_total_ci95"]
        row["duplicates_mean_unique"] = dup["mean_unique"]
        row["duplicates_mean_unique_exact"] = dup["mean_unique_exact"]
        row["duplicates_prob_any_coincide"] = dup["prob_any_coincide"]
        row["duplicates_prob_any_coincide_exact"] = dup["prob_any_coincide_exact"]
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


LEGEND = "\n".join(
    [
        "bias: mean against the exact gradient, Bonferroni-corrected: max|z| over coordinates (threshold)",
        f"untested: coordinates whose category is expected fewer than {MIN_EXPECTED_DRAWS:.0f} times in the samples",
        f"var total: sum of per-coordinate variances of one estimate; ÷{VARIANCE_REFERENCE}: ratio of var totals",
        "distinct: mean distinct categories among the n samples (exact: iid expectation); "
        "P(dup): share of draws with two equal samples",
        "evals: f evaluations per estimate",
    ]
)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}g}"


def _matrix(values: np.ndarray, limit: int = 12) -> str:
    rows = []
    for row in values[:4]:
        items = [f"{x:.4g}" for x in row[:limit]]
        if row.size > limit:
            items.append("…")
        rows.append("[" + ", ".join(items) + "]")
    if values.shape[0] > 4:
        rows.append(f"… ({values.shape[0]} rows)")
    return "; ".join(rows)


def header_lines(report: Report) -> list[str]:
    """The resolved problem, enough to repeat the run."""
    c = report.config
    return [
        f"carms-cli {report.version} · variance · backend {c['backend']} · threads {c['threads']}",
        f"K={c['categories']} categories · n={c['samples']} samples · D={c['dims']} variables · "
        f"trials={c['trials']:,} · seed={c['seed']}",
        f"p ({c['probs_source']}): {_matrix(np.asarray(c['probs']))}",
        f"objective {c['objective']}: {c['objective_description']}",
        f"exact gradient: {_matrix(report.exact_gradient)}",
    ]


def render_table(report: Report, console: Console) -> None:
    """Print the header and one row per estimator."""
    for line in header_lines(report):
        console.print(line, highlight=False, markup=False)
    table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    columns = [
        ("estimator", "left"),
        ("bias", "left"),
        ("max|z| (thr)", "right"),
        ("var total", "right"),
        ("95% CI", "right"),
        (f"÷{VARIANCE_REFERENCE}", "right"),
        ("med ln var", "right"),
        ("distinct", "right"),
        ("exact", "right"),
        ("P(dup)", "right"),
        ("evals", "right"),
        ("M trials/s", "right"),
    ]
    for title, justify in columns:
        table.add_column(title, justify=justify, no_wrap=True, min_width=len(title))
    for r in report.results:
        if r.unbiased is None:
            verdict = "[yellow]untested[/]"
        else:
            verdict = "[green]ok[/]" if r.unbiased else "[red]BIASED[/]"
        if not r.unbiased_by_design:
            verdict += " (by design)"
        untested = r.mean.size - r.bias_tested_coordinates
        if untested and r.unbiased is not None:
            verdict += f" [yellow]({untested} untested)[/]"
        low, high = r.variance_total_ci95
        dup = r.duplicates
        table.add_row(
            r.name,
            verdict,
            f"{_fmt(r.bias_max_abs_z, 3)} ({_fmt(r.bias_threshold_z, 3)})",
            _fmt(r.variance_total),
            f"[{_fmt(low)}, {_fmt(high)}]",
            _fmt(r.variance_ratio_to_loorf, 3),
            _fmt(r.median_log_variance, 3),
            f"{dup.mean_unique:.3f}",
            _fmt(dup.mean_unique_exact, 4),
            f"{dup.prob_any_coincide:.3f}",
            str(r.evaluations_per_estimate),
            f"{r.trials_per_second / 1e6:.1f}",
        )
    console.print(table)
    console.print(LEGEND, highlight=False, markup=False)
    for line in verdict_lines(report):
        console.print(line, highlight=False, markup=False)


def verdict_lines(report: Report) -> list[str]:
    """Plain-language conclusions: lowest variance, comparisons with LOORF, bias failures."""
    lines = []
    unbiased = [r for r in report.results if r.unbiased]
    if unbiased:
        best = min(unbiased, key=lambda r: r.variance_total)
        lines.append(f"lowest total variance among unbiased estimators: {best.name} ({best.variance_total:.4g})")
    for r in report.results:
        if r.name != VARIANCE_REFERENCE and r.variance_ratio_to_loorf is not None:
            word = "below" if r.variance_ratio_to_loorf < 1 else "above"
            lines.append(
                f"{r.name}: total variance {r.variance_total:.4g} is {word} {VARIANCE_REFERENCE}'s "
                f"(ratio {r.variance_ratio_to_loorf:.3f})"
            )
    for r in report.results:
        untested = r.mean.size - r.bias_tested_coordinates
        if untested:
            lines.append(
                f"{r.name}: {untested} of {r.mean.size} coordinates not bias-tested (category expected fewer than "
                f"{MIN_EXPECTED_DRAWS:.0f} times in the samples; raise --trials)"
            )
        if r.unbiased is False:
            lines.append(
                f"{r.name}: mean differs from the exact gradient (max|z| = {r.bias_max_abs_z:.3g} > "
                f"{r.bias_threshold_z:.2f})"
            )
    return lines


def print_report(report: Report) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # files and pipes: no wrapping
    render_table(report, console)


class ProgressBar:
    """A progress bar on stderr that appears only once a run has lasted more than a second.

    Disabled when stderr is not a terminal or when ``enabled`` is false (``--quiet``).
    """

    def __init__(self, total: int, enabled: bool, delay: float = 1.0):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.delay = delay
        self.started = time.perf_counter()
        self._progress = None
        self._task = None

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if time.perf_counter() - self.started < self.delay:
                return
            self._progress = Progress(
                TextColumn("sampling"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} trials"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("sampling", total=self.total)
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
