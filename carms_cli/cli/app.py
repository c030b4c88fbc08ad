"""The ``carms`` command line: a thin Typer layer over the library.

Exit codes: 0 success; 1 a requested gate failed (``--fail-on-bias``); 2 usage or input error,
reported as one ``Error: …`` line on stderr. Anything else is a bug.
"""

import os
import sys

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
    list_cmd,
    pmf_cmd,
    sweep_cmd,
    train_cmd,
    variance_cmd,
    warmup_cmd,
)
from carms_cli.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, InputError

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
):
    app.command(_name)(_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (never raises, never prints a traceback).

    Bad input is one ``Error:`` line and exit 2; Ctrl-C one line and exit 130; anything else is
    a bug: one line naming the exception and exit 3 (``CARMS_DEBUG=1`` re-raises it, traceback
    and all).
    """
    from carms_cli.core.errors import Interrupted  # a command's Ctrl-C with a word on what it kept

    exits = (typer.Exit, getattr(_click_exceptions, "Exit", typer.Exit))
    aborts = (typer.Abort, getattr(_click_exceptions, "Abort", typer.Abort))
    try:
        code = app(args=argv, prog_name="carms", standalone_mode=False)
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
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # reader gone, or stream already closed
            pass
    os._exit(code)
