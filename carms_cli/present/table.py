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

from carms_cli import __version__
from carms_cli.core.stats import MIN_EXPECTED_DRAWS, Report
from carms_cli.discrete.registry import VARIANCE_REFERENCE

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
    "variance_times_evaluations",
    "seconds_per_estimate",
    "variance_exact_total",
    "variance_exact_z_max",
    "bias_exact_max_abs",
    "exact_note",
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
    return json.dumps(report_record(report), indent=2, ensure_ascii=False) + "\n"


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
        "bias: mean against the exact gradient, Bonferroni-corrected: max|z| over coordinates (threshold); "
        "* biased by design",
        f"untested: coordinates whose category is expected fewer than {MIN_EXPECTED_DRAWS:.0f} times in the samples",
        "var total: sum of per-coordinate variances of one estimate, ± the 95% interval half-width; "
        f"÷{VARIANCE_REFERENCE}: ratio of var totals",
        "distinct: mean distinct categories among the n samples (exact: from the n-tuple pmf where closed-form); "
        "P(dup): share of draws with two equal samples",
        "evals: mean f evaluations per estimate (ARSM: its distinct swap configurations); "
        "var×evals: var total × evals, the variance at a budget of one evaluation; "
        "exact var (--exact): enumerated total variance, z(var): max over coordinates of |MC − exact variance| / SE",
    ]
)


def fmt_fixed(value: float | None, decimals: int = 3) -> str:
    """``value`` with a fixed number of decimals, or "–" when absent (None or NaN)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{decimals}f}"


def fmt_number(value: float | None, digits: int = 4) -> str:
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
    backend = f"backend {c['backend']}" + (f" ({c['backend_note']})" if c.get("backend_note") else "")
    return [
        f"carms-cli {report.version} · variance · {backend} · threads {c['threads']}",
        f"K={c['categories']} categories · n={c['samples']} samples · D={c['dims']} variables · "
        f"trials={c['trials']:,} · seed={c['seed']}",
        f"p ({c['probs_source']}): {_matrix(np.asarray(c['probs']))}",
        f"objective {c['objective']}: {c['objective_description']}",
        (
            "exact gradient w.r.t. φ (binary: p = sigmoid(φ) = P(z=1)), one per variable: "
            if c.get("binary")
            else "exact gradient: "
        )
        + _matrix(report.exact_gradient.T if c.get("binary") else report.exact_gradient),
    ]


def header_lines_for(command: str, problem) -> list[str]:
    """Header lines of a command that works on a Problem without sampling."""
    return [
        f"carms-cli {__version__} · {command}",
        f"K={problem.categories} categories · n={problem.samples} samples · D={problem.dims} variables · "
        f"seed={problem.seed}",
        f"p ({problem.probs_source}): {_matrix(problem.probs)}",
        f"objective {problem.objective.spec}: {problem.objective.description}",
        f"exact gradient: {_matrix(problem.exact_gradient())}",
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
        ("var total ±95%", "right"),
        (f"÷{VARIANCE_REFERENCE}", "right"),
        ("med ln var", "right"),
        ("distinct", "right"),
        ("exact", "right"),
        ("P(dup)", "right"),
        ("evals", "right"),
        ("var×evals", "right"),
        ("M trials/s", "right"),
    ]
    show_exact = any(r.variance_exact_total is not None or r.exact_note for r in report.results)
    if show_exact:
        columns[4:4] = [("exact var", "right"), ("z(var)", "right")]
    for title, justify in columns:
        table.add_column(title, justify=justify, no_wrap=True, min_width=len(title))
    for r in report.results:
        if r.unbiased is None:
            verdict = "[yellow]untested[/]"
        else:
            verdict = "[green]ok[/]" if r.unbiased else "[red]BIASED[/]"
        if not r.unbiased_by_design:
            verdict += "*"
        untested = r.mean.size - r.bias_tested_coordinates
        if untested and r.unbiased is not None:
            verdict += f" [yellow]({untested} untested)[/]"
        low, high = r.variance_total_ci95
        dup = r.duplicates
        cells = [
            r.name,
            verdict,
            f"{fmt_number(r.bias_max_abs_z, 3)} ({fmt_number(r.bias_threshold_z, 3)})",
            f"{fmt_number(r.variance_total)} ±{fmt_number((high - low) / 2, 2)}",
            fmt_number(r.variance_ratio_to_loorf, 3),
            fmt_number(r.median_log_variance, 3),
            fmt_fixed(dup.mean_unique),
            fmt_number(dup.mean_unique_exact, 4),
            fmt_fixed(dup.prob_any_coincide),
            fmt_number(r.evaluations_per_estimate, 4),
            fmt_number(r.variance_times_evaluations),
            f"{r.trials_per_second / 1e6:.3g}",
        ]
        if show_exact:
            cells[4:4] = [fmt_number(r.variance_exact_total), fmt_number(r.variance_exact_z_max, 3)]
        table.add_row(*cells)
    console.print(table)
    console.print(LEGEND, highlight=False, markup=False)
    for line in verdict_lines(report):
        console.print(line, highlight=False, markup=False)


def verdict_lines(report: Report) -> list[str]:
    """Plain-language conclusions: lowest variance, comparisons with LOORF, bias failures."""
    lines = []
    unbiased = [r for r in report.results if r.unbiased and r.unbiased_by_design]
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
        if r.exact_note:
            lines.append(f"{r.name}: exact variance {r.exact_note}")
        if r.bias_exact_max_abs is not None and r.bias_exact_max_abs > 1e-9:
            lines.append(f"{r.name}: exact mean differs from the gradient by up to {r.bias_exact_max_abs:.4g}")
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


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))
    return console


def print_table(
    columns: list[str],
    rows: list[list[str]],
    header: list[str] | None = None,
    footer: list[str] | None = None,
    title: str | None = None,
    align: str | None = None,
) -> None:
    """Plain lines, then a table, then lines. ``align`` has one letter per column: ``l`` for
    left-aligned text (wraps, except the first column), ``r`` for right-aligned numbers
    (default: the first column ``l``, the others ``r``)."""
    console = _console()
    for line in header or []:
        console.print(line, highlight=False, markup=False)
    table = Table(title=title, show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    align = align or "l" + "r" * (len(columns) - 1)
    for index, name in enumerate(columns):
        text = align[index] == "l"
        table.add_column(
            name, justify="left" if text else "right", no_wrap=not (text and index > 0), min_width=len(name)
        )
    for row in rows:
        table.add_row(*row)
    console.print(table, markup=False)
    for line in footer or []:
        console.print(line, highlight=False, markup=False)


def print_matrices(matrices: list[tuple[str, np.ndarray]], header: list[str] | None = None, digits: int = 4) -> None:
    """K×K matrices with category labels, one table each."""
    console = _console()
    for line in header or []:
        console.print(line, highlight=False, markup=False)
    for title, matrix in matrices:
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        table.add_column("a\\b", justify="right", style="bold")
        for b in range(matrix.shape[1]):
            table.add_column(str(b), justify="right", no_wrap=True)
        for a, row in enumerate(matrix):
            table.add_row(str(a), *[fmt_number(float(x), digits) for x in row])
        console.print(table)


def plain_json(record: dict) -> str:
    """JSON text of a record with numpy values (non-finite numbers become null)."""
    return json.dumps(_plain(record), indent=2, ensure_ascii=False) + "\n"


CHART_MARKS = "o*x+#@%&"


def ascii_chart(series: list[tuple[str, list[float], list[float]]], width: int = 72, height: int = 12) -> list[str]:
    """A plain-text chart of log10(y) against x, one mark per series, and a legend line."""
    points = [(x, math.log10(y)) for _, xs, ys in series for x, y in zip(xs, ys, strict=True) if y > 0]
    if not points:
        return ["(nothing to draw)"]
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for index, (_, xs, ys) in enumerate(series):
        mark = CHART_MARKS[index % len(CHART_MARKS)]
        for x, y in zip(xs, ys, strict=True):
            if y > 0:
                column = round((x - x_low) / x_span * (width - 1))
                row = round((y_high - math.log10(y)) / y_span * (height - 1))
                grid[row][column] = mark
    lines = []
    for row_index, row in enumerate(grid):
        label = y_high - row_index / (height - 1) * y_span
        lines.append(f"{label:7.2f} |" + "".join(row))
    lines.append(" " * 8 + "+" + "-" * width)
    lines.append(" " * 9 + f"{x_low:<.3f}".ljust(width - 6) + f"{x_high:.3f}")
    lines.append(
        " " * 9 + "  ".join(f"{CHART_MARKS[i % len(CHART_MARKS)]} {name}" for i, (name, _, _) in enumerate(series))
    )
    return lines


def bar_chart(labels: list[str], values: list[float], width: int = 50) -> list[str]:
    """Horizontal bars of log10(value), longest for the largest value (plain text)."""
    logs = [math.log10(v) if v and v > 0 else None for v in values]
    finite = [x for x in logs if x is not None]
    if not finite:
        return ["(nothing to draw)"]
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    pad = max(len(label) for label in labels)
    lines = []
    for label, value, log in zip(labels, values, logs, strict=True):
        length = 1 + round((log - low) / span * (width - 1)) if log is not None else 0
        lines.append(f"{label:>{pad}} {'█' * length} {fmt_number(value)}")
    return lines


def print_lines(lines: list[str]) -> None:
    console = _console()
    for line in lines:
        console.print(line, highlight=False, markup=False)


TRAIN_CSV_FIELDS = [
    "samples", "estimator", "step", "p", "phi", "mean_gradient", "exact_gradient", "variance", "variance_exact"
]  # fmt: skip


def train_csv(record) -> str:
    """One CSV row per (n, estimator, step) of a :class:`~carms_cli.analysis.train.TrainRecord`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRAIN_CSV_FIELDS)
    for t in record.trajectories:
        for step, row in enumerate(
            zip(t.p, t.phi, t.mean_gradient, t.exact_gradient, t.variance, t.variance_exact, strict=True)
        ):
            writer.writerow([t.samples, t.estimator, step, *["" if v is None else v for v in row]])
    return buffer.getvalue()
