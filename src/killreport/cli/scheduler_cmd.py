"""`killreport scheduler` and `killreport run`: argument parsing only; the life is in killreport.scheduler."""

from __future__ import annotations

from killreport.cli.worker_cmd import with_metrics_port, worker_settings
from killreport.scheduler import main as scheduler_main
from killreport.scheduler.standalone import run_all
from killreport.signals import until_signalled
from killreport.wiring import load_settings, runner

# A connected scheduler stops within a tick (a sweep call at most); this bounds anything slower.
_SCHEDULER_GRACE_S = 10.0


async def scheduler(*, metrics_port: int | None = None) -> int:
    """Keep the copy fresh: re-queue what expired, follow the alliance list, sweep affiliations.

    On PostgreSQL run any number on any machines: one leads (an advisory lock), the others take
    over within seconds if it dies; on a SQLite file, one runner at a time. SIGTERM/SIGINT: stop
    cleanly, exit 0.
    """
    settings = load_settings()
    port = with_metrics_port(metrics_port)
    if port is not None:
        settings = settings.model_copy(update={"metrics_port": port})
    settings.require_contact()
    with runner(settings, "killreport scheduler"):
        return await until_signalled(lambda stop, ready: scheduler_main.run(settings, stop, ready),
                                     _SCHEDULER_GRACE_S)


async def run(*, concurrency: int | None = None, shutdown_timeout: float | None = None,
              metrics_port: int | None = None) -> int:
    """Everything in one process: migrate, then a scheduler and a worker for every kind until SIGTERM.

    On SIGTERM/SIGINT the worker drains for up to --shutdown-timeout seconds, then it exits 0.
    """
    settings = worker_settings(concurrency, shutdown_timeout, metrics_port)
    grace_s = settings.shutdown_timeout_s + _SCHEDULER_GRACE_S
    with runner(settings, "killreport run"):
        return await until_signalled(lambda stop, ready: run_all(settings, stop, ready), grace_s)
