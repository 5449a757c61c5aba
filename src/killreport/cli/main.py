"""The `killreport` command: one cyclopts App, each command group in its own module."""

from __future__ import annotations

import sys

from cyclopts import App

from killreport import __version__
from killreport.cli import sim_cmd

app = App(name="killreport", help="Keep a PostgreSQL copy of EVE Online's public data from ESI.",
          version=__version__)
app.command(sim_cmd.sim, name="sim")


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    result = app(sys.argv[1:] if argv is None else argv, result_action="return_value")
    sys.exit(result if isinstance(result, int) else 0)
