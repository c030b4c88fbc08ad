"""Options shared by several commands (one definition, one help text).

The options that state a problem (``--categories``, ``--samples``, ``--dims``, ``--seed``,
``--probs``, ``--logits``, ``--alpha``, ``--objective``) are declared once, in
:data:`PROBLEM_OPTIONS`; a command takes the ones it needs with :func:`problem_options` and
receives them as one :class:`ProblemOptions` argument.
"""

import functools
import inspect
import os
import sys
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from carms_cli.core.errors import InputError
from carms_cli.discrete.objectives import OBJECTIVE_HELP
from carms_cli.discrete.registry import DEFAULT_ESTIMATORS

_OBJECTIVES = "; ".join(f"{name}: {text}" for name, text in OBJECTIVE_HELP.items())

Categories = Annotated[
    int | None,
    typer.Option("--categories", "-k", help="Categories K per variable (default 10, or the length of --probs rows)."),
]
Samples = Annotated[int, typer.Option("--samples", "-n", help="Samples n per estimate (= function evaluations).")]
Dims = Annotated[
    int | None,
    typer.Option("--dims", "-d", help="Independent categorical variables D (default 1, or the rows of --probs)."),
]
Trials = Annotated[
    int | None,
    typer.Option(
        "--trials", "-t", help="Independent n-sample estimates per estimator (default max(10^4, 4·10^6/(n·D)))."
    ),
]
Seed = Annotated[
    int, typer.Option("--seed", help="Seed of everything random: probabilities, objective tables and samples.")
]
Probs = Annotated[
    str | None,
    typer.Option(
        "--probs", help="Probabilities 'p1,p2,...', rows ';'-separated (one row per variable, or one row for all)."
    ),
]
Logits = Annotated[
    str | None, typer.Option("--logits", help="Logits instead of --probs (same layout); p = softmax(logits).")
]
Alpha = Annotated[
    float,
    typer.Option("--alpha", help="Without --probs/--logits, draw each row of p from a symmetric Dirichlet(alpha)."),
]
Objective = Annotated[str, typer.Option("--objective", "-o", help=f"Objective NAME[:PARAM]. {_OBJECTIVES}.")]
Estimators = Annotated[
    str | None,
    typer.Option(
        "--estimators",
        "-e",
        help=f"Comma-separated estimators, or 'all' (default: {','.join(DEFAULT_ESTIMATORS)}; see 'carms list').",
    ),
]
Threads = Annotated[
    int | None, typer.Option("--threads", help="CPU threads (default all). Results do not depend on it.")
]
JsonOut = Annotated[str | None, typer.Option("--json", help="Write the JSON record to PATH ('-' for stdout).")]
CsvOut = Annotated[str | None, typer.Option("--csv", help="Write one CSV row per estimator to PATH ('-' for stdout).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No table and no progress bar.")]
MaxMemory = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help="Memory budget, e.g. '4G' or '512M': a run estimated to need more is refused before it allocates "
        "(default half the physical memory).",
    ),
]


Significance = Annotated[
    float, typer.Option("--significance", help="Family-wise level of the Bonferroni-corrected bias test.")
]
Plot = Annotated[
    str | None,
    typer.Option("--plot", help="Bar chart of total variance per estimator: PATH (.png/.svg) or '-' (terminal)."),
]
Baseline = Annotated[
    str | None,
    typer.Option(
        "--baseline", help="Compare with this earlier --json record (see 'carms compare'); exit 1 on a regression."
    ),
]
Tolerance = Annotated[
    str,
    typer.Option(
        "--tolerance",
        help="With --baseline: variance increase allowed, as a percentage 'variance:10%' or a ratio "
        "'variance:x1.10' (a bare number is refused).",
    ),
]
FailOnBias = Annotated[
    bool,
    typer.Option("--fail-on-bias", help="Exit 1 if an estimator that is unbiased by design fails the bias test."),
]
Explain = Annotated[
    bool,
    typer.Option("--explain", help="Explain every column of the table in full (instead of the short legend)."),
]


def max_variance_ratio_option(reference: str):
    """Return the ``--max-variance-ratio`` option type, its help naming the family's reference estimator."""
    return Annotated[
        float | None,
        typer.Option(
            "--max-variance-ratio", help=f"Exit 1 if an estimator's total variance exceeds R times {reference}'s."
        ),
    ]


def check_report_options(
    significance: float, json_out: str | None, csv_out: str | None, max_variance_ratio: float | None
) -> None:
    """Refuse, before any work, the report options of ``variance`` and ``continuous`` that cannot work."""
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    if json_out == "-" and csv_out == "-":
        raise InputError("--json - and --csv - cannot both write to stdout")
    if max_variance_ratio is not None and not max_variance_ratio > 0:
        raise InputError(f"--max-variance-ratio must be positive, got {max_variance_ratio}")


class BackendName(str, Enum):
    """Where kernels run."""

    cpu = "cpu"
    cuda = "cuda"
    numpy = "numpy"
    auto = "auto"


Backend = Annotated[
    BackendName,
    typer.Option(
        "--backend",
        help="cpu (numba, parallel), cuda (numba-cuda GPU; needs carms-cli[cuda] and a GPU), numpy (vectorised "
        "NumPy, one thread, same random stream) or auto (GPU if usable).",
    ),
]


class CopulaName(str, Enum):
    """Copula across the n samples."""

    dirichlet = "dirichlet"
    gaussian = "gaussian"
    independent = "independent"


class ConstructionName(str, Enum):
    """How copula tuples become categories."""

    inverse = "inverse"
    gumbel = "gumbel"
    stick = "stick"


def check_outputs(outputs: dict[str, str | None], inputs: dict[str, str | None], plot: str | None = None) -> None:
    """Refuse, before any work, outputs that could not be written or would overwrite an input.

    ``outputs`` and ``inputs`` map an option (``--json``) to its path (None: not given; ``-``:
    stdout). An output's folder must exist and be writable and the output must not be a folder;
    no output may be an input file (an objective ``file:`` or a ``--baseline``); a ``--plot``
    path (not ``-``) must end in .png or .svg.
    """
    given = {option: Path(path).resolve() for option, path in inputs.items() if path not in (None, "-")}
    for option, path in outputs.items():
        if path in (None, "-"):
            continue
        target = Path(path)
        if target.is_dir():
            raise InputError(f"{option} '{path}' is a folder, not a file")
        folder = target.resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"cannot write {option} '{path}': its folder does not exist or is not writable")
        for source, source_path in given.items():
            if target.resolve() == source_path:
                raise InputError(f"{option} '{path}' is also the {source} file: refusing to overwrite an input")
    if plot not in (None, "-") and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise InputError(f"--plot must end in .png or .svg (or be '-' for the terminal), got '{plot}'")


def check_trials(trials: int | None) -> None:
    """Refuse ``--trials 1`` for a command that reports variances: one estimate has no variance."""
    if trials == 1:
        raise InputError("--trials must be at least 2: the variance of a single estimate is undefined")


def check_record_outputs(
    json_out: str | None, csv_out: str | None, inputs: dict[str, str | None], plot: str | None = None
) -> None:
    """Refuse, before any work, ``--json -`` with ``--csv -`` and outputs :func:`check_outputs` refuses."""
    if json_out == "-" and csv_out == "-":
        raise InputError("--json - and --csv - cannot both write to stdout")
    check_outputs({"--json": json_out, "--csv": csv_out, "--plot": plot}, inputs, plot)


def write_records(record, json_out: str | None, csv_out: str | None, quiet: bool, csv_text, show) -> None:
    """Write ``--json`` (``record.to_dict()``) and ``--csv`` (``csv_text(record)``), then ``show(record)``.

    Nothing is shown with ``quiet`` or when a record went to stdout.
    """
    from carms_cli.present.export import plain_json

    if json_out is not None:
        write_output(json_out, plain_json(record.to_dict()), "JSON")
    if csv_out is not None:
        write_output(csv_out, csv_text(record), "CSV")
    if quiet or "-" in (json_out, csv_out):
        return
    show(record)


def write_output(target: str, text: str, what: str) -> None:
    """Write ``text`` to a path, or to stdout for ``-``; an unwritable path is an InputError.

    The file is written whole or not at all (:mod:`carms_cli.core.files`): a failed write leaves
    the previous file in place.
    """
    from carms_cli.core.files import write_text_atomic

    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_text_atomic(target, text)
    except OSError as exc:
        raise InputError(f"cannot write {what} to '{target}': {exc.strerror or exc}") from None


#: The problem options in their order on the command line: name → option type (the defaults are
#: :class:`ProblemOptions`'s).
PROBLEM_OPTIONS = {
    "categories": Categories,
    "samples": Samples,
    "dims": Dims,
    "seed": Seed,
    "probs": Probs,
    "logits": Logits,
    "alpha": Alpha,
    "objective": Objective,
    "max_memory": MaxMemory,
}


@dataclass(frozen=True)
class ProblemOptions:
    """The problem options a command was given (those it does not take keep their defaults)."""

    categories: int | None = None
    samples: int = 4
    dims: int | None = None
    seed: int = 0
    probs: str | None = None
    logits: str | None = None
    alpha: float = 1.0
    objective: str = "linear"
    max_memory: str | None = None

    def budget(self) -> int:
        """Return the memory budget in bytes (``--max-memory``, or half the physical memory)."""
        from carms_cli.core.budget import parse_memory

        return parse_memory(self.max_memory)

    def build(self, trials: int | None, **overrides):
        """Build and validate the :class:`~carms_cli.discrete.problem.Problem` (``overrides`` replace options).

        The problem's own tables (probabilities, objective, exact gradient) are estimated from its
        sizes first and refused beyond the memory budget, before anything is allocated.
        """
        from carms_cli.core.budget import check_memory
        from carms_cli.discrete.problem import build_problem, problem_bytes

        values = {field.name: getattr(self, field.name) for field in fields(self) if field.name != "max_memory"}
        values = {**values, **overrides}
        budget = self.budget()
        matrix = values["probs"] or values["logits"]
        need = problem_bytes(values["categories"], values["dims"], matrix, values["objective"])
        check_memory(need, budget, "this problem's tables")
        return build_problem(**values, trials=trials, memory_budget=budget)


def problem_options(*names: str, **defaults):
    """Give a command the shared problem options ``names`` (all of them when none are named).

    The command declares one parameter ``problem: ProblemOptions``; in its place the command
    line gets the named options (with the shared help text, and ``defaults`` overriding the
    shared defaults), and the command receives them bundled.
    """
    chosen = names or tuple(PROBLEM_OPTIONS)
    unknown = set(chosen) - set(PROBLEM_OPTIONS)
    if unknown:
        raise ValueError(f"unknown problem options {sorted(unknown)}")

    def decorate(command):
        signature = inspect.signature(command)
        own = list(signature.parameters.values())
        position = [parameter.name for parameter in own].index("problem")
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=PROBLEM_OPTIONS[name],
                default=defaults.get(name, ProblemOptions.__dataclass_fields__[name].default),
            )
            for name in PROBLEM_OPTIONS
            if name in chosen
        ]
        keyword = inspect.Parameter.KEYWORD_ONLY
        rest = [parameter.replace(kind=keyword) for parameter in own if parameter.name != "problem"]

        @functools.wraps(command)
        def run(**values):
            problem = ProblemOptions(**{name: values.pop(name) for name in chosen})
            return command(problem=problem, **values)

        parameters = rest[:position] + added + rest[position:]
        run.__signature__ = signature.replace(parameters=parameters)
        run.__annotations__ = {
            **{parameter.name: parameter.annotation for parameter in parameters},
            "return": signature.return_annotation,
        }
        return run

    return decorate
