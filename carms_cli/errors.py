"""The one exception type the CLI turns into ``Error: …`` on stderr and exit code 2."""


class InputError(ValueError):
    """Bad user input or a configuration the tool refuses (exit code 2)."""
