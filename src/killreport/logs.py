"""Structured logs on stderr, one line each, with secrets kept out by never logging URLs unmasked."""

from __future__ import annotations

import logging
import sys

import structlog

_LIBRARIES = ("aiormq", "aio_pika", "asyncio", "aiohttp", "sqlalchemy", "alembic")


class _Stderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured.

    Loggers are cached on first use; bound to the stream of that moment they would keep writing
    to it after a caller (a test running a command in its own process) has swapped stderr.
    """

    def write(self, text: str) -> int:
        """Write to the current stderr."""
        return sys.stderr.write(text)

    def flush(self) -> None:
        """Flush the current stderr."""
        sys.stderr.flush()


def configure_logging(level: str, *, quiet_libraries: bool = False) -> None:
    """Key-value logs to stderr at `level` (Settings.log_level).

    Short commands keep the libraries quiet so a failure stays one line; workers let their
    reconnect warnings through, since an operator needs them.
    """
    name = level.upper()
    # force: a second command in one process (tests run commands in theirs) gets its own level.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=_Stderr(),
                        level=getattr(logging, name, logging.INFO), force=True)
    for library in _LIBRARIES:
        logging.getLogger(library).setLevel(logging.CRITICAL if quiet_libraries else logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
