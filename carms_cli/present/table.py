"""Presenters: Report → Rich table, JSON and CSV; and the progress bar.

The only module that imports Rich. Scripts should read the JSON; the table is for people.
"""

import functools
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from carms_cli import __version__
from carms_cli.core.formatting import fmt_fixed, fmt_number
from carms_cli.core.formatting import format_matrix as _matrix
from carms_cli.core.records import Report, lookup, result_entry
from carms_cli.present.export import plain_json, to_csv, to_json

__all__ = ["fmt_fixed", "fmt_number", "plain_json", "to_csv", "to_json"]

#: Piped or redirected output is laid out this wide unless COLUMNS is set: one table, no wrapping.
WIDE = 10_000
#: A column of text that may wrap (a summary, a note) gets at least this width before a table splits.
TEXT_WIDTH = 30
#: Legend lines are at most this wide (or the console's width, if narrower).
LEGEND_WIDTH = 100


@dataclass(frozen=True)
class TableColumn:
    """One column to lay out: its title, one cell per row, its alignment, and whether its text wraps."""

    title: str
    cells: list[Text]
    justify: str = "right"
    wrap: bool = False

    def width(self) -> int:
        """Return the width the column needs: its widest cell or title; wrapping text up to TEXT_WIDTH."""
        widest = max([cell_len(self.title), *(cell.cell_len for cell in self.cells)])
        if not self.wrap:
            return widest
        words = [cell_len(word) for cell in self.cells for word in cell.plain.split()]
        return max(min(widest, TEXT_WIDTH), cell_len(self.title), *words)


def table_width(columns: list[TableColumn]) -> int:
    """Return the width of a table of these columns (box SIMPLE_HEAD, outer padding off)."""
    return sum(column.width() for column in columns) + 3 * (len(columns) - 1) + 2


def split_columns(
    keys: list[TableColumn], groups: list[list[TableColumn]], width: int
) -> tuple[list[list[TableColumn]], list[TableColumn]]:
    """Pack column groups, in order, into as few tables beside the key columns as fit ``width``.

    Parameters
    ----------
    keys : list of TableColumn
        The columns that name a row (the estimator), repeated in every table.
    groups : list of list of TableColumn
        The other columns, in groups kept in one table where they fit; a group too wide for one
        table is split into its columns.
    width : int
        The console width.

    Returns
    -------
    tables : list of list of TableColumn
        The columns of each table, keys not included.
    left_out : list of TableColumn
        The columns too wide to fit beside the keys even alone.
    """

    def fits(columns):
        return table_width([*keys, *columns]) <= width

    units = []
    for group in groups:
        units.extend([group] if fits(group) else [[column] for column in group])
    tables, left_out, current = [], [], []
    for unit in units:
        if fits([*current, *unit]):
            current = [*current, *unit]
        elif fits(unit):
            tables.append(current)
            current = list(unit)
        else:
            left_out.extend(unit)
    if current:
        tables.append(current)
    return tables, left_out


def print_columns(
    console: Console,
    keys: list[TableColumn],
    groups: list[list[TableColumn]],
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Print the columns as one table, or as stacked tables sharing the key columns where one does not fit.

    A continuation table leaves out the rows whose cells are all blank in it (and is not printed
    if none is left). Columns too wide to fit beside the keys even alone are named once under
    the tables. ``progress(done)`` is called after each of the stacked tables.

    Returns
    -------
    list of str
        The titles of the columns shown, keys included.
    """
    tables, left_out = split_columns(keys, groups, console.width)
    for index, columns in enumerate(tables or [[]]):
        rows = [
            row
            for row in range(len(keys[0].cells))
            if not index or any(column.cells[row].plain.strip() for column in columns)
        ]
        if not rows and index:
            continue  # a continuation table with nothing in it
        table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in [*keys, *columns]:
            table.add_column(
                column.title, justify=column.justify, no_wrap=not column.wrap, min_width=cell_len(column.title)
            )
        for row in rows:
            table.add_row(*[column.cells[row] for column in [*keys, *columns]])
        console.print(table)
        if progress is not None:
            progress(index + 1)
    if left_out:
        titles = ", ".join(column.title for column in left_out)
        console.print(
            f"not shown at {console.width} columns: {titles} (a wider terminal shows them, "
            "as does piped output, e.g. '| less -S')",
            highlight=False,
            markup=False,
        )
    return [column.title for column in [*keys, *(column for columns in tables for column in columns)]]


def legend_lines(entries: list[str], width: int) -> list[str]:
    """Join legend entries with "; " into lines no wider than ``width`` (or LEGEND_WIDTH); repeats said once."""
    width = min(width, LEGEND_WIDTH)
    lines = []
    for entry in dict.fromkeys(entry for entry in entries if entry):
        if lines and cell_len(lines[-1]) + 2 + cell_len(entry) <= width:
            lines[-1] += "; " + entry
        else:
            lines.append(entry)
    return lines


def _said_once(notes: list[tuple[str, str]]) -> list[str]:
    """Return ``"name, name: message"`` lines: estimators with the same message named together."""
    names: dict[str, list[str]] = {}
    for name, message in notes:
        names.setdefault(message, []).append(name)
    return [f"{', '.join(group)}: {message}" for message, group in names.items()]


#: The short legend of the shared columns of a variance table, by title ("REF": the reference).
NOTES = {
    "bias": "bias: mean vs exact gradient",
    "max|z| (thr)": "max|z| (thr): largest z vs Bonferroni threshold",
    "var total ±95%": "var total: variance of one estimate ±95% CI",
    "exact var": "exact var: METHOD",
    "z(var)": "z(var): max |MC − exact| / SE",
    "÷REF": "÷REF: ratio of var totals",
    "med ln var": "med ln var: median ln variance",
    "evals": "evals: f calls per estimate",
    "var×evals": "var×evals: cost-adjusted variance",
    "M trials/s": "M trials/s: 10⁶ estimates/s",
}

#: The full explanation of the shared columns of a variance table (``--explain``); the family's
#: first legend line (what goes untested) follows the bias lines, its others the variance lines.
EXPLAIN_BIAS = (
    "estimator: the estimator ('carms list' describes each)",
    "bias: ok when the Monte Carlo mean agrees with the exact gradient, BIASED otherwise, Bonferroni-corrected "
    "over the tested coordinates at family-wise level --significance; * biased by design; (k untested): k "
    "coordinates could not be tested, named under the table; untested alone: none could",
    "max|z| (thr): the largest coordinate z-score (mean − exact gradient) / SE, and the Bonferroni threshold",
)
EXPLAIN_VARIANCE = (
    "var total ±95%: sum of per-coordinate variances of one estimate, ± the half-width of its 95% interval",
    "exact var (--exact): the total variance, METHOD; z(var): max over coordinates of |MC − exact variance| / SE",
    "÷REF: var total ÷ REF's var total",
    "med ln var: median over coordinates of the natural log of the per-coordinate variance",
)
EXPLAIN_COST = (
    "evals: mean f evaluations per estimate{note}",
    "var×evals: var total × evals, the variance at a budget of one evaluation (compares estimators at equal cost)",
    "M trials/s: millions of estimates per second (kernel time, compilation excluded; depends on the machine)",
)


def header_lines(report: Report) -> list[str]:
    """Return the run's lines (version, command, backend, threads), then the family's stating the problem."""
    c = report.config
    backend = f"backend {c['backend']}" + (f" ({c['backend_note']})" if c.get("backend_note") else "")
    command = c.get("command", "variance")
    return [f"carms-cli {report.version} · {command} · {backend} · threads {c['threads']}", *report.header]


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


def _verdict(result) -> str:
    """Return the bias cell (Rich markup): ok, BIASED or untested, * if biased by design, the untested count."""
    if result.unbiased is None:
        verdict = "[yellow]untested[/]"
    else:
        verdict = "[green]ok[/]" if result.unbiased else "[red]BIASED[/]"
    if not result.unbiased_by_design:
        verdict += "*"
    untested = result.mean.size - result.bias_tested_coordinates
    if untested and result.unbiased is not None:
        verdict += f" [yellow]({untested} untested)[/]"
    return verdict


def _plain(title: str, cells: list[str], justify: str = "right") -> TableColumn:
    return TableColumn(title, [Text(cell) for cell in cells], justify)


def report_columns(report: Report) -> tuple[TableColumn, list[list[TableColumn]]]:
    """Return the estimator column and the variance table's groups: bias, variance, the family's, cost."""
    results = report.results
    entries = [result_entry(r) for r in results]
    bias = [
        TableColumn("bias", [Text.from_markup(_verdict(r)) for r in results], "left"),
        _plain(
            "max|z| (thr)",
            [f"{fmt_number(r.bias_max_abs_z, 3)} ({fmt_number(r.bias_threshold_z, 3)})" for r in results],
        ),
    ]
    half_widths = [(r.variance_total_ci95[1] - r.variance_total_ci95[0]) / 2 for r in results]
    variance = [
        _plain(
            "var total ±95%",
            [f"{fmt_number(r.variance_total)} ±{fmt_number(h, 2)}" for r, h in zip(results, half_widths, strict=True)],
        )
    ]
    if any(r.variance_exact_total is not None or r.exact_note for r in results):
        variance += [
            _plain("exact var", [fmt_number(r.variance_exact_total) for r in results]),
            _plain("z(var)", [fmt_number(r.variance_exact_z_max, 3) for r in results]),
        ]
    variance += [
        _plain(f"÷{report.reference}", [fmt_number(r.variance_ratio_to_loorf, 3) for r in results]),
        _plain("med ln var", [fmt_number(r.median_log_variance, 3) for r in results]),
    ]
    family = [
        _plain(column.header, [_cell(lookup(entry, column.path), column) for entry in entries])
        for column in report.columns
        if column.header
    ]
    cost = [
        _plain("evals", [fmt_number(r.evaluations_per_estimate, 4) for r in results]),
        _plain("var×evals", [fmt_number(r.variance_times_evaluations) for r in results]),
        _plain("M trials/s", [f"{r.trials_per_second / 1e6:.3g}" for r in results]),
    ]
    key = _plain("estimator", [r.name for r in results], "left")
    return key, [group for group in (bias, variance, family, cost) if group]


def render_table(report: Report, console: Console, explain: bool = False) -> None:
    """Print the header, the table (stacked tables where it does not fit), the legend and the conclusions.

    ``explain``: the full explanation of every column instead of the short legend of those shown.
    """
    for line in header_lines(report):
        console.print(line, highlight=False, markup=False)
    key, groups = report_columns(report)
    shown = print_columns(console, [key], groups)
    lines = explanations(report) if explain else legend_lines(legend(report, shown), console.width)
    for line in lines + verdict_lines(report):
        console.print(line, highlight=False, markup=False)


def legend(report: Report, shown: list[str]) -> list[str]:
    """Return the short legend entries of the columns shown (in order), then the markers used and --explain."""
    reference = f"÷{report.reference}"
    notes = {**NOTES, reference: NOTES["÷REF"].replace("REF", str(report.reference))}
    notes["exact var"] = NOTES["exact var"].replace("METHOD", report.exact_method)
    family = {column.header: column.note for column in report.columns if column.header}
    entries = [notes.get(title) or family.get(title) for title in shown]
    if any(title in family and not family[title] for title in shown):
        entries += report.legend[1:]  # a column without a note: the family's own lines
    if any(not r.unbiased_by_design for r in report.results):
        entries.append("*: biased by design")
    return [*entries, "more: --explain"]


def explanations(report: Report) -> list[str]:
    """Return the full explanation of every column of a variance table, one line each (``--explain``)."""
    untested, *columns = report.legend or ("",)
    variance = [
        line.replace("REF", str(report.reference)).replace("METHOD", report.exact_method) for line in EXPLAIN_VARIANCE
    ]
    note = f" ({report.evaluations_note})" if report.evaluations_note else ""
    cost = [line.replace("{note}", note) for line in EXPLAIN_COST]
    return [line for line in [*EXPLAIN_BIAS, untested, *variance, *columns, *cost] if line]


def verdict_lines(report: Report) -> list[str]:
    """Plain-language conclusions: lowest variance, comparisons with the reference, notes, bias failures.

    A note that is the same for several estimators (an untested count, why no exact variance) is
    said once, naming them all.
    """
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
    notes = []
    for r in report.results:
        if r.exact_note:
            notes.append((r.name, f"exact variance {r.exact_note}"))
        if r.bias_exact_max_abs is not None and r.bias_exact_max_abs > 1e-9:
            notes.append((r.name, f"exact mean differs from the gradient by up to {r.bias_exact_max_abs:.4g}"))
    for r in report.results:
        untested = r.mean.size - r.bias_tested_coordinates
        if untested:
            notes.append(
                (r.name, f"{untested} of {r.mean.size} coordinates not bias-tested ({report.untested_reason})")
            )
        if r.unbiased is False:
            notes.append(
                (
                    r.name,
                    f"mean differs from the exact gradient (max|z| = {r.bias_max_abs_z:.3g} > "
                    f"{r.bias_threshold_z:.2f})",
                )
            )
    return lines + _said_once(notes)


def make_console() -> Console:
    """Return the console for stdout: a terminal's width; piped or redirected, COLUMNS if set, else WIDE."""
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(width=WIDE)
    return console


def print_report(report: Report, explain: bool = False) -> None:
    """Print a variance Report for people (see :func:`render_table`)."""
    render_table(report, make_console(), explain)


class ProgressBar:
    """A progress bar on stderr that appears only once a run has lasted more than a second.

    Disabled when stderr is not a terminal or when ``enabled`` is false (``--quiet``). ``label``
    and ``unit`` say what is counted (``sampling … trials`` unless told otherwise).
    """

    def __init__(self, total: int, enabled: bool, delay: float = 1.0, label: str = "sampling", unit: str = "trials"):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.delay = delay
        self.label, self.unit = label, unit
        self.started = time.perf_counter()
        self._progress = None
        self._task = None

    def __call__(self, done: int, total: int | None = None) -> None:
        """Show ``done`` of the total (``total`` replaces it, for counts known only once work starts)."""
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        if self._progress is None:
            if time.perf_counter() - self.started < self.delay:
                return
            self._progress = Progress(
                TextColumn(self.label),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} " + self.unit),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total)
        self._progress.update(self._task, completed=done, total=self.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_table(
    columns: list[str],
    rows: list[list[str]],
    header: list[str] | None = None,
    footer: list[str] | None = None,
    align: str | None = None,
    keys: int = 1,
    groups: list[int] | None = None,
    notes: dict[str, str] | None = None,
) -> None:
    """Print plain lines, a table, the legend of the columns shown, then lines.

    A table too wide for the console is printed as stacked tables that repeat the key columns
    (see :func:`print_columns`).

    Parameters
    ----------
    columns : list of str
        The column titles.
    rows : list of list of str
        The cells, one list per row (printed as plain text, not markup).
    header, footer : list of str, optional
        Lines before the table, and after it and its legend.
    align : str, optional
        One letter per column: ``l`` for left-aligned text, which wraps (except in key columns),
        ``r`` for right-aligned numbers (default: the first column ``l``, the others ``r``).
    keys : int
        The first ``keys`` columns name a row and are repeated in every stacked table.
    groups : list of int, optional
        Sizes of consecutive groups of the other columns kept in one table where they fit (a
        column headed "(MC)" beside the exact value it samples); default: one group per column.
    notes : dict of str to str, optional
        A column's legend entry by its title ("title: a few words"), printed for the columns shown.
    """
    console = make_console()
    for line in header or []:
        console.print(line, highlight=False, markup=False)
    align = align or "l" + "r" * (len(columns) - 1)
    table_columns = [
        TableColumn(
            title,
            [Text(row[index]) for row in rows],
            "left" if align[index] == "l" else "right",
            wrap=align[index] == "l" and index >= keys,
        )
        for index, title in enumerate(columns)
    ]
    others, start = [], keys
    for size in groups or [1] * (len(columns) - keys):
        others.append(table_columns[start : start + size])
        start += size
    shown = print_columns(console, table_columns[:keys], others)
    legend = legend_lines([(notes or {}).get(title, "") for title in shown], console.width)
    for line in legend + (footer or []):
        console.print(line, highlight=False, markup=False)


def print_matrices(
    matrices: list[tuple[str, np.ndarray]],
    header: list[str] | None = None,
    digits: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """K×K matrices with category labels, one table each (split into column blocks where too wide).

    ``progress(done, total)`` hears of each printed table (column block) of all the matrices: at
    large K, laying out the K² cells is what takes long.
    """
    console = make_console()
    for line in header or []:
        console.print(line, highlight=False, markup=False)
    laid_out = []
    for title, matrix in matrices:
        key = TableColumn("a\\b", [Text(str(a), style="bold") for a in range(matrix.shape[0])])
        columns = [
            [_plain(str(b), [fmt_number(float(x), digits) for x in matrix[:, b]])] for b in range(matrix.shape[1])
        ]
        laid_out.append((title, key, columns, max(1, len(split_columns([key], columns, console.width)[0]))))
    total, done = sum(blocks for *_, blocks in laid_out), 0
    for title, key, columns, blocks in laid_out:
        console.print(title, highlight=False, markup=False)
        told = None if progress is None else functools.partial(_tell_block, progress, done, total)
        print_columns(console, [key], columns, progress=told)
        done += blocks


def _tell_block(progress: Callable[[int, int], None], before: int, total: int, done: int) -> None:
    progress(before + done, total)


CHART_MARKS = "o*x+#@%&"


def ascii_chart(series: list[tuple[str, list[float], list[float]]], width: int = 70, height: int = 12) -> list[str]:
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
    """Print plain lines (no markup) on the console of :func:`make_console`."""
    console = make_console()
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _mean_sd(value: tuple, digits: str) -> str:
    mean, sd = value
    if mean is None:
        return "–"
    return f"{mean:{digits}}" + (f" ±{sd:{digits}}" if sd is not None else "")


def print_vae_record(record) -> None:
    """Print the table of ``carms vae train``: one row per estimator, its last checkpoint (mean ±sd over seeds)."""
    config = record.config
    seeds = ",".join(map(str, config.seeds))
    header = [
        f"carms-cli {record.to_dict()['version']} · vae train · {record.model}",
        f"data {record.dataset} · {config.binarisation} binarisation",
        f"{config.steps:,} steps · batch {config.batch} · Adam lr {config.lr:g} (prior {config.prior_lr:g}) · "
        f"seeds {seeds} · variance from {config.variance_replicates} estimates "
        f"on {config.variance_batch} fixed examples",
    ]
    if config.structured:
        header.append(
            f"structured prediction: −ELBO is −E_q log p(x_lower | z), −bound({config.eval_k}) is "
            f"−log (1/{config.eval_k}) Σ_i p(x_lower | z_i)"
        )
    k = config.eval_k
    rows = [
        [
            s.estimator,
            str(s.samples),
            f"{s.evaluations_per_step:,}",
            _mean_sd(s.values["train_neg_elbo"], ".2f"),
            _mean_sd(s.values["test_neg_bound"], ".2f"),
            _mean_sd(s.values["log10_variance"], ".3f"),
            _mean_sd(s.values["variance_ratio_to_loorf"], ".3f"),
            _mean_sd(s.values["encoder_param_variance_ratio_to_loorf"], ".3f"),
            f"{s.ms_per_step:.2f}" if s.ms_per_step is not None else "–",
        ]
        for s in record.summaries()
    ]
    notes = {
        "evals/step": "evals/step: f evaluations per step (n × batch; ARSM: K(K−1)/2+1 swaps; Gumbel: 2n)",
        "train −ELBO": "train −ELBO: 1-sample, last checkpoint",
        f"test −bound({k})": f"test −bound({k}): {k}-sample importance-weighted bound",
        "log10 var": "log10 var: Σ per-coordinate variance of the logit gradient per example, at frozen parameters",
        "÷loorf": "÷loorf: that variance ÷ LOORF's on the same parameters and batch",
        "param ÷loorf": "param ÷loorf: the same ratio for the encoder-parameter gradient (estimates backpropagated)",
        "ms/step": "ms/step: training step time, evaluations excluded",
    }
    if "exact" in config.estimators:
        notes["n"] = (
            f"exact: the exact ELBO gradient by enumeration of all {config.categories**config.dims:,} configurations "
            "(n column), variance 0"
        )
    columns = ["estimator", "n", "evals/step", "train −ELBO", f"test −bound({k})", "log10 var", "÷loorf",
               "param ÷loorf", "ms/step"]  # fmt: skip
    print_table(columns, rows, header=header, notes=notes)


def print_vae_variance(record) -> None:
    """Print the table of ``carms vae variance``: one row per (n, estimator)."""
    config = record.config
    saved = record.parameters
    source = (
        f"parameters of seed {config.seed} after {config.warmup_steps} LOORF steps"
        if saved is None
        else f"parameters from {config.checkpoint} ({saved['estimator']}, seed {saved['seed']}, step {saved['step']:,})"
    )
    header = [
        f"carms-cli {record.to_dict()['version']} · vae variance · {record.model}",
        f"data {record.dataset} · {source} · {config.batch} fixed examples (seed {config.seed}) · "
        f"{config.replicates:,} estimates each",
    ]
    rows = []
    for r in record.rows:
        verdict = ("BIASED" if r.biased else "ok") + ("" if r.unbiased_by_design else "*")
        half = (r.encoder_param_variance_ci95[1] - r.encoder_param_variance_ci95[0]) / 2
        rows.append(
            [
                r.estimator,
                str(r.samples),
                f"{verdict} vs {r.bias_reference}",
                f"{r.max_abs_z:.3g} ({r.threshold:.3g})",
                f"{r.variance_total:.4g} ±{(r.variance_ci95[1] - r.variance_ci95[0]) / 2:.2g}",
                f"{r.variance_ratio_to_loorf:.3f}" if r.variance_ratio_to_loorf is not None else "–",
                f"{r.variance_times_evaluations:.4g}",
                f"{r.encoder_param_variance_total:.4g} ±{half:.2g}",
                f"{r.encoder_param_variance_ratio_to_loorf:.3f}" if r.encoder_param_variance_ratio_to_loorf is not None
                else "–",
                f"{r.encoder_param_variance_times_evaluations:.4g}",
            ]
        )
    notes = {
        "bias": "bias: mean vs the exact gradient (enumerated) or an independent LOORF run",
        "max|z| (thr)": "max|z| (thr): largest z vs Bonferroni threshold",
        "var total ±95%": "var total: Σ per-coordinate variance of the logit gradient per example",
        "÷loorf": "÷loorf: ratio to LOORF's at the same n",
        "var×evals": "var×evals: var total × f evaluations (n; ARSM: its K(K−1)/2+1 swaps)",
        "param var ±95%": "param var: Σ per-coordinate variance of the encoder-parameter gradient of the minibatch "
        "(each estimate backpropagated through the encoder)",
        "param ÷loorf": "param ÷loorf, param var×evals: its ratio to LOORF's at the same n, and × f evaluations",
    }
    columns = ["estimator", "n", "bias", "max|z| (thr)", "var total ±95%", "÷loorf", "var×evals", "param var ±95%",
               "param ÷loorf", "param var×evals"]  # fmt: skip
    print_table(columns, rows, header=header, notes=notes, keys=2)
