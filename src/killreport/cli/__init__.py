"""The `killreport` command, in both modes (DATABASE_URL picks the SQLite file or PostgreSQL):
argument parsing and rendering only; the work lives in the packages."""

from killreport.cli.main import build_app, main, run

__all__ = ["build_app", "main", "run"]
