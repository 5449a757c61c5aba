"""Turning any expected failure into one human line and an exit code."""

from __future__ import annotations

import json
import re
from typing import Final

import pydantic
from pydantic_settings import SettingsError

from killreport.config import ConfigError
from killreport.esi.errors import EsiError
from killreport.queue.broker import BrokerUnavailable
from killreport.runner_lock import RunnerLockHeld
from killreport.services import ServiceUnavailable
from killreport.sync.asked import RunnerSilent

USAGE: Final = 2
FAILURE: Final = 1


class UsageError(ValueError):
    """The command line asks for something impossible (exit 2)."""


# SettingsError: a value pydantic-settings cannot even decode (RETRY_DELAYS_S that is not JSON).
EXPECTED: Final = (ConfigError, ServiceUnavailable, BrokerUnavailable, EsiError, SettingsError,
                   RunnerLockHeld, RunnerSilent)


def one_line(exc: BaseException) -> str:
    """The first line of an error, with settings errors named by their environment variable."""
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        return f"invalid setting {name}: {first['msg']}"
    if isinstance(exc, SettingsError):
        # Its text names the field but not the value. A JSON error says where the value goes wrong
        # without quoting it; other causes might quote it, so they are left out.
        field = re.search(r'field "([^"]+)"', str(exc))
        why = f" as JSON ({exc.__cause__})" if isinstance(exc.__cause__, json.JSONDecodeError) else ""
        return f"invalid setting {field[1].upper() if field else '?'}: cannot be parsed{why}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
