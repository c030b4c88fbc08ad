"""The ``carms`` command line: a thin Typer layer over the library.

Exit codes (:mod:`carms_cli.core.errors`): 0 success; 1 a requested gate failed
(``--fail-on-bias``); 2 usage or input error, or output that cannot be written (a full disk, a
closed pipe), reported as one ``Error: …`` line on stderr; 3 a bug (one line; ``CARMS_DEBUG=1``
for the traceback); 130 interrupted.
"""

import codecs
import errno
import os
import sys
import unicodedata

import typer

try:  # typer >= 0.22 vendors click as typer._click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer depends on click itself
    from click import exceptions as _click_exceptions

from carms_cli import __version__
from carms_cli.cli import (
    bench_cmd,
    compare_cmd,
    continuous_cmd,
    duplicates_cmd,
    exact_cmd,
    implicit_cmd,
    list_cmd,
    pmf_cmd,
    sweep_cmd,
    train_cmd,
    vae_cmd,
    variance_cmd,
    warmup_cmd,
)
from carms_cli.core.errors import EXIT_GATE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, InputError

app = typer.Typer(
    name="carms",
    help="Estimator variance analyzer for Monte Carlo gradients through discrete random variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"carms-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Estimator variance analyzer for Monte Carlo gradients through discrete random variables."""


# every command is a function of its own module; registering them here keeps the modules free of
# the app (no import cycle between the app and its commands)
for _command, _name in (
    (variance_cmd.variance, "variance"),
    (continuous_cmd.continuous, "continuous"),
    (train_cmd.train, "train"),
    (exact_cmd.exact, "exact"),
    (pmf_cmd.pmf, "pmf"),
    (duplicates_cmd.duplicates, "duplicates"),
    (sweep_cmd.sweep, "sweep"),
    (compare_cmd.compare, "compare"),
    (list_cmd.list_, "list"),
    (warmup_cmd.warmup, "warmup"),
    (bench_cmd.bench, "bench"),
    (implicit_cmd.implicit, "implicit"),
):
    app.command(_name)(_command)

#: ``carms vae …``: the model objectives (discrete VAEs), one command per step of the protocol.
vae_app = typer.Typer(name="vae", help="Discrete VAEs trained with each estimator.", no_args_is_help=True)
vae_app.command("train")(vae_cmd.train)
vae_app.command("variance")(vae_cmd.variance)
vae_app.command("import")(vae_cmd.import_)
app.add_typer(vae_app, name="vae")


#: Stand-ins for characters a legacy terminal encoding (cp1252, latin-1, ASCII) cannot show.
_PLAIN = {
    "−": "-", "·": ".", "×": "x", "Σ": "S", "√": "sqrt", "≤": "<=", "≥": ">=", "≈": "~", "±": "+/-",
    "→": "->", "←": "<-", "…": "...", "φ": "phi", "∇": "grad", "α": "alpha", "μ": "mu", "σ": "sigma",
    "λ": "lambda", "θ": "theta", "Φ": "Phi", "‖": "||", "─": "-", "━": "-", "│": "|", "┃": "|", "–": "-",
    "—": "-", "█": "#", "▏": "|", "░": ".", "•": "*", "⁻": "-",
}  # fmt: skip
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_PLAIN_ERRORS = "carms-cli-plain"


def _plain_text(error: UnicodeEncodeError) -> tuple[str, int]:
    """Write an unencodable run as plain ASCII (``10⁶`` → ``10^6``, ``σ`` → ``sigma``): an encoding error handler."""
    text = error.object[error.start : error.end]
    if all(char in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻" for char in text):
        return "^" + text.translate(_SUPERSCRIPTS), error.end
    out = []
    for char in text:
        plain = _PLAIN.get(char)
        if plain is None:
            plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode() or "?"
        out.append(plain)
    return "".join(out), error.end


codecs.register_error(_PLAIN_ERRORS, _plain_text)


def _tolerant_streams() -> None:
    """Let stdout and stderr in a legacy encoding (``PYTHONIOENCODING=cp1252``) show every table.

    Characters the encoding lacks are written as plain ASCII stand-ins instead of raising
    UnicodeEncodeError; UTF-8 streams are left alone.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            if codecs.lookup(stream.encoding or "ascii").name.startswith("utf"):
                continue
            stream.reconfigure(errors=_PLAIN_ERRORS)
        except (AttributeError, LookupError, ValueError, OSError):  # not a reconfigurable text stream
            continue


#: ``errno`` of a write that failed for want of space or of a reader (full disk, quota, size limit, I/O).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EPIPE}


def _output_failed(exc: OSError) -> int:
    """One line for output that could not be written (stdout closed or on a full disk); exit 2."""
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        message = "standard output was closed before all output was written (broken pipe)"
    else:
        message = f"cannot write to standard output: {exc.strerror or exc}"
    try:
        print(f"Error: {message}", file=sys.stderr)
    except (OSError, ValueError):
        pass
    return EXIT_USAGE


def _without_bool_metavar(command) -> None:
    """Drop Typer's ``<bool>`` type label from the help of flags, which take no value."""
    try:  # the --help flag is made (and then kept) on first use: make it now, to relabel it too
        command.get_help_option(command.context_class(command))
    except (AttributeError, TypeError):  # pragma: no cover - a Typer without these hooks
        pass
    for parameter in [*getattr(command, "params", ()), getattr(command, "_help_option", None)]:
        if getattr(parameter, "is_flag", False) and not getattr(parameter, "count", False):
            parameter.metavar = ""
    for child in getattr(command, "commands", {}).values():
        _without_bool_metavar(child)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (never raises, never prints a traceback).

    Bad input is one ``Error:`` line and exit 2; Ctrl-C one line and exit 130; anything else is
    a bug: one line naming the exception and exit 3 (``CARMS_DEBUG=1`` re-raises it, traceback
    and all).
    """
    from carms_cli.core.errors import Interrupted  # a command's Ctrl-C with a word on what it kept

    exits = (typer.Exit, getattr(_click_exceptions, "Exit", typer.Exit))
    aborts = (typer.Abort, getattr(_click_exceptions, "Abort", typer.Abort))
    _tolerant_streams()
    try:
        command = typer.main.get_command(app) if isinstance(app, typer.Typer) else app
        _without_bool_metavar(command)
        code = command(args=argv, prog_name="carms", standalone_mode=False)
        if code in (None, EXIT_OK, EXIT_GATE):
            sys.stdout.flush()  # a full disk or a closed pipe is reported here, not lost at exit
    except InputError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _click_exceptions.ClickException as exc:
        message = " ".join(exc.format_message().split()) or "missing command (see 'carms --help')"
        print(f"Error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except exits as exc:
        return exc.exit_code
    except (KeyboardInterrupt, Interrupted) as exc:
        return _interrupted(exc)
    except aborts as exc:
        # click turns Ctrl-C and an end of input (EOFError) into Abort; only the first is the user's
        if isinstance(exc.__cause__, EOFError):
            return _internal_error(exc.__cause__)
        print("Error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        # Rich answers a closed stdout by pointing it at /dev/null and raising SystemExit(1), the gate's code
        if isinstance(exc.__context__, BrokenPipeError):
            return _output_failed(exc.__context__)
        raise
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno in _OUTPUT_ERRNOS:
            return _output_failed(exc)
        return _internal_error(exc)
    except Exception as exc:  # a bug: say so in one line
        return _internal_error(exc)
    return code if isinstance(code, int) else EXIT_OK


def _interrupted(exc: BaseException) -> int:
    """Say ``Error: interrupted``, and what the command kept if it says (:class:`Interrupted`)."""
    said = " ".join(str(exc).split())
    print(f"Error: interrupted{'; ' + said if said else ''}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("CARMS_DEBUG"):
        raise exc
    message = " ".join(str(exc).split())[:300]
    hint = "please report it (CARMS_DEBUG=1 shows the traceback)"
    print(f"Error: internal error ({type(exc).__name__}: {message}); {hint}", file=sys.stderr)
    return EXIT_INTERNAL


def run() -> None:
    """Console-script entry point: ``main()``, then the process ends at once.

    Output is flushed and ``os._exit`` skips the interpreter's teardown, which frees numba's
    compiler state (LLVM modules, type registries) object by object: about 0.3 s of a
    one-second run, for memory the operating system reclaims anyway. Every file the CLI writes
    is closed, and every worker pool or cluster shut down, before ``main`` returns. Under a
    profiler, tracer, debugger or coverage tool, which report at exit, it exits normally.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # reader gone, disk full (main said so), or stream already closed
            _discard(stream)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    os._exit(code)


def _discard(stream) -> None:
    """Point a failed stream at /dev/null, so that no later flush (at exit) raises again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
