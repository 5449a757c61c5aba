"""The `killreport` command: one cyclopts App; every failure becomes one line and an exit code."""

from __future__ import annotations

import asyncio
import sys
import traceback

import pydantic
from cyclopts import App, CycloptsError
from pydantic_settings import SettingsError

from killreport import __version__
from killreport.cli import (
    admin_cmds,
    changes_cmd,
    killmail_cmds,
    scheduler_cmd,
    sim_cmd,
    sync_cmds,
    web_cmd,
    worker_cmd,
)
from killreport.cli.errors import EXPECTED, FAILURE, USAGE, UsageError, one_line
from killreport.config import ConfigError, Settings
from killreport.logs import configure_logging


def build_app() -> App:
    """The command tree."""
    app = App(name="killreport", version=__version__,
              help="Keep a local copy of EVE Online's public alliance, corporation and character data "
                   "from ESI, under one ESI budget: in one SQLite file (DATABASE_URL=sqlite:///..., the "
                   "default), or in PostgreSQL with RabbitMQ and any number of workers "
                   "(DATABASE_URL=postgresql://...).")
    app.command(admin_cmds.migrate_cmd, name="migrate")
    app.command(worker_cmd.worker, name="worker")
    app.command(scheduler_cmd.scheduler, name="scheduler")
    app.command(scheduler_cmd.run, name="run")
    app.command(sync_cmds.sync_alliances, name="sync-alliances")
    app.command(sync_cmds.sync_corporations, name="sync-corporations")
    app.command(sync_cmds.sync_characters, name="sync-characters")
    app.command(sync_cmds.sync_all, name="sync-all")
    app.command(admin_cmds.status, name="status")
    app.command("killreport.cli.refresh_cost_cmd:refresh_cost", name="refresh-cost",
                help="What the refresh policy asks of ESI at a given size (requests per hour by route).")
    app.command(changes_cmd.changes, name="changes")
    app.command(admin_cmds.purge, name="purge")
    app.command(sync_cmds.queue, name="queue")
    app.command("killreport.cli.lookup_cmd:lookup", name="lookup", help="Look ids up; fetch those not held.")
    app.command("killreport.cli.history_cmd:history", name="history", help="Who was where, and when.")
    app.command(admin_cmds.dlq)
    app.command(killmail_cmds.killmails)
    app.command(sim_cmd.sim, name="sim")
    app.command(web_cmd.web, name="web")
    app.command("killreport.cli.copy_cmd:copy", name="copy", help="Copy a SQLite file into PostgreSQL.")
    return app


def run(argv: list[str]) -> int:
    """Run a command line and return its exit code; prints one line on any expected failure."""
    level = _log_level()
    # Long-running processes let their libraries' reconnect warnings through: an operator needs them.
    configure_logging(level, quiet_libraries=argv[:1] not in (["worker"], ["scheduler"], ["run"],
                                                                      ["killmails"]))
    use_fast_event_loop()
    try:
        result = build_app()(argv, exit_on_error=False, print_error=False,
                             result_action="return_value")
    except (CycloptsError, UsageError) as exc:
        print(f"killreport: {one_line(exc)}", file=sys.stderr)
        return USAGE
    except (*EXPECTED, pydantic.ValidationError) as exc:
        print(f"killreport: error: {one_line(exc)}", file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Anything unforeseen still gets one line; LOG_LEVEL=DEBUG shows the traceback.
        print(f"killreport: unexpected error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        if level == "DEBUG":
            traceback.print_exc()
        return FAILURE
    return result if isinstance(result, int) else 0


def _log_level() -> str:
    """LOG_LEVEL from the settings; INFO when they are invalid (the command then says why in one line)."""
    try:
        return Settings().log_level
    except (pydantic.ValidationError, SettingsError, ConfigError):
        return "INFO"


def use_fast_event_loop() -> None:
    """uvloop where it installs (measured: it cuts a worker's CPU per job)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but never required to run
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run(sys.argv[1:] if argv is None else argv))
