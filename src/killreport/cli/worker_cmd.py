"""`killreport worker KIND...`: a long-running worker process."""

from __future__ import annotations

from killreport.cli.errors import UsageError
from killreport.config import Settings
from killreport.ids import parse_kinds
from killreport.signals import until_signalled
from killreport.wiring import load_settings, runner
from killreport.worker.main import run

# A draining worker stops by itself within SHUTDOWN_TIMEOUT_S; this bounds anything slower.
_GRACE_S = 10.0


def worker_settings(concurrency: int | None, shutdown_timeout: float | None,
                    metrics_port: int | None = None) -> Settings:
    """The settings with the worker flags applied (UsageError when impossible)."""
    if concurrency is not None and concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if shutdown_timeout is not None and shutdown_timeout <= 0:
        raise UsageError("--shutdown-timeout must be more than 0")
    overrides = {"worker_concurrency": concurrency, "shutdown_timeout_s": shutdown_timeout,
                 "metrics_port": with_metrics_port(metrics_port)}
    return load_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})


def with_metrics_port(port: int | None) -> int | None:
    """--metrics-port, checked (UsageError outside 0..65535; 0 turns METRICS_PORT off)."""
    if port is not None and not 0 <= port <= 65535:
        raise UsageError("--metrics-port must be between 0 and 65535")
    return port


async def worker(*kinds: str, concurrency: int | None = None,
                 shutdown_timeout: float | None = None, metrics_port: int | None = None) -> int:
    """Take jobs of the given kinds (alliance, corporation, character, all) until SIGTERM/SIGINT."""
    try:
        chosen = parse_kinds(kinds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    settings = worker_settings(concurrency, shutdown_timeout, metrics_port)
    with runner(settings, "killreport worker"):
        return await until_signalled(lambda stop, ready: run(settings, chosen, stop, ready),
                                     settings.shutdown_timeout_s + _GRACE_S)
