"""Presenters: Report → Rich table, JSON and CSV; and the progress bar.

The only module that imports Rich. Scripts should read the JSON; the table is for people.
"""

import math
import sys
import time

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from carms_cli import __version__
from carms_cli.core.formatting import fmt_fixed, fmt_number
from carms_cli.core.formatting import format_matrix as _matrix
from carms_cli.core.records import Report, lookup, result_entry
from carms_cli.present.export import plain_json, to_csv, to_json

__all__ = ["fmt_fixed", "fmt_number", "plain_json", "to_csv", "to_json"]

#: Shared legend lines. A family's first legend line (what goes untested) follows the bias line,
#: its others (its extra columns) the variance line.
LEGEND_BIAS = (
    "bias: mean against the exact gradient, Bonferroni-corrected: max|z| over coordinates (threshold); "
    "* biased by design"
)
LEGEND_VARIANCE = (
    "var total: sum of per-coordinate variances of one estimate, ± the 95% interval half-width; "
    "÷REF: ratio of var totals"
)
LEGEND_TAIL = (
    "evals: mean f evaluations per estimate{note}; "
    "var×evals: var total × evals, the variance at a budget of one evaluation; "
    "exact var (--exact): enumerated total variance, z(var): max over coordinates of |MC − exact variance| / SE",
)


def header_lines(report: Report) -> list[str]:
    """Return the run's lines (version, command, backend, threads), then the family's stating the problem."""
    c = report.config
    backend = f"backend {c['backend']}" + (f" ({c['backend_note']})" if c.get("backend_note") else "")
    return [f"carms-cli {report.version} · variance · {backend} · threads {c['threads']}", *report.header]


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


def _cell(value, column) -> str:
    if column.decimals is not None:
        return fmt_fixed(value, column.decimals)
    return fmt_number(value, column.digits)


def render_table(report: Report, console: Console) -> None:
    """Print the header and one row per estimator: shared columns around the family's own."""
    for line in header_lines(report):
        console.print(line, highlight=False, markup=False)
    table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    family_columns = [column for column in report.columns if column.header]
    columns = [
        ("estimator", "left"),
        ("bias", "left"),
        ("max|z| (thr)", "right"),
        ("var total ±95%", "right"),
        (f"÷{report.reference}", "right"),
        ("med ln var", "right"),
        *[(column.header, "right") for column in family_columns],
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
        entry = result_entry(r)
        cells = [
            r.name,
            verdict,
            f"{fmt_number(r.bias_max_abs_z, 3)} ({fmt_number(r.bias_threshold_z, 3)})",
            f"{fmt_number(r.variance_total)} ±{fmt_number((high - low) / 2, 2)}",
            fmt_number(r.variance_ratio_to_loorf, 3),
            fmt_number(r.median_log_variance, 3),
            *[_cell(lookup(entry, column.path), column) for column in family_columns],
            fmt_number(r.evaluations_per_estimate, 4),
            fmt_number(r.variance_times_evaluations),
            f"{r.trials_per_second / 1e6:.3g}",
        ]
        if show_exact:
            cells[4:4] = [fmt_number(r.variance_exact_total), fmt_number(r.variance_exact_z_max, 3)]
        table.add_row(*cells)
    console.print(table)
    console.print(legend(report), highlight=False, markup=False)
    for line in verdict_lines(report):
        console.print(line, highlight=False, markup=False)


def legend(report: Report) -> str:
    """Return the legend under a variance table: shared lines around the family's."""
    untested, *columns = report.legend or ("",)
    variance = LEGEND_VARIANCE.replace("÷REF", f"÷{report.reference}")
    note = f" ({report.evaluations_note})" if report.evaluations_note else ""
    tail = [line.replace("{note}", note) for line in LEGEND_TAIL]
    return "\n".join(line for line in [LEGEND_BIAS, untested, variance, *columns, *tail] if line)


def verdict_lines(report: Report) -> list[str]:
    """Plain-language conclusions: lowest variance, comparisons with LOORF, bias failures."""
    lines = []
    unbiased = [r for r in report.results if r.unbiased and r.unbiased_by_design]
    if unbiased:
        best = min(unbiased, key=lambda r: r.variance_total)
        lines.append(f"lowest total variance among unbiased estimators: {best.name} ({best.variance_total:.4g})")
    for r in report.results:
        if r.name != report.reference and r.variance_ratio_to_loorf is not None:
            word = "below" if r.variance_ratio_to_loorf < 1 else "above"
            lines.append(
                f"{r.name}: total variance {r.variance_total:.4g} is {word} {report.reference}'s "
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
                f"{r.name}: {untested} of {r.mean.size} coordinates not bias-tested ({report.untested_reason})"
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
    """Print plain lines, then a table, then lines.

    ``align`` has one letter per column: ``l`` for left-aligned text (wraps, except the first
    column), ``r`` for right-aligned numbers (default: the first column ``l``, the others ``r``).
    """
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


CHART_MARKS = "o*x+#@%&"


def ascii_chart(series: list[tuple[str, list[float], list[float]]], width: int = 72, height: int = 12) -> list[str]:
    """Draw a plain-text chart of log10(y) against x, one mark per series, and a legend line."""
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
