"""The one exception type the CLI turns into ``Error: …`` on stderr (exit code 2), and the exit codes."""


class InputError(ValueError):
    """Bad user input or a configuration the tool refuses (exit code 2)."""


#: Exit codes of every command (README "Failure modes"): success; a requested gate failed (and
#: nothing else); usage or input error — bad options or files, a run over the memory budget
#: (``--max-memory``), objective values too large, output that cannot be written (a full disk, a
#: closed pipe on stdout); an internal error (a bug: one line, the traceback with
#: ``CARMS_DEBUG=1``); interrupted (Ctrl-C). Each is one ``Error: …`` line on stderr.
EXIT_OK = 0
EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Ctrl-C, caught by a command that says what it kept (exit code 130); the message is that line's end.

    Typer turns a KeyboardInterrupt inside a command into a silent exit 130, so a command that
    has something to say re-raises it as this.
    """
