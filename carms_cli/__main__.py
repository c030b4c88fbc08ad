"""``python -m carms_cli`` entry point."""

from carms_cli.cli.app import run

if __name__ == "__main__":
    run()
