"""Structured logs on stderr, one line each, with secrets kept out by never logging URLs unmasked."""

from __future__ import annotations

import logging
import sys

import structlog

_LIBRARIES = ("aiormq", "aio_pika", "asyncio", "aiohttp", "sqlalchemy", "alembic")


def configure_logging(level: str, *, quiet_libraries: bool = False) -> None:
    """Key-value logs to stderr at `level` (Settings.log_level).

    Short commands keep the libraries quiet so a failure stays one line; workers let their
    reconnect warnings through, since an operator needs them.
    """
    name = level.upper()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        level=getattr(logging, name, logging.INFO))
    for library in _LIBRARIES:
        logging.getLogger(library).setLevel(logging.CRITICAL if quiet_libraries else logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
