"""Turning any expected failure into one human line and an exit code."""

from __future__ import annotations

from typing import Final

import pydantic

from killreport.config import ConfigError
from killreport.esi.errors import EsiError
from killreport.queue.broker import BrokerUnavailable
from killreport.services import ServiceUnavailable

USAGE: Final = 2
FAILURE: Final = 1


class UsageError(ValueError):
    """The command line asks for something impossible (exit 2)."""


EXPECTED: Final = (ConfigError, ServiceUnavailable, BrokerUnavailable, EsiError)


def one_line(exc: BaseException) -> str:
    """The first line of an error, with settings errors named by their environment variable."""
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        return f"invalid setting {name}: {first['msg']}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
