"""The ``carms`` command line: :mod:`carms_cli.cli.app` and one module per command."""
