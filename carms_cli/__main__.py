"""``python -m carms_cli`` entry point."""

from carms_cli.cli import run

if __name__ == "__main__":
    run()
