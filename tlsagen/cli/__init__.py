"""The command line: parses, calls the engine or the core, renders. Only output.py knows rich."""

from __future__ import annotations

import sys


def run() -> None:
    """Console-script entry point. `tlsagen --version` answers before the command line (typer,
    every command's options) is imported: scripts and monitoring call it often."""
    if sys.argv[1:] == ["--version"]:
        from tlsagen import __version__

        print(f"tlsagen {__version__}")
        sys.exit(0)
    from tlsagen.cli.app import run as run_app

    run_app()
