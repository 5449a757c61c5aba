"""Settings read from the environment or a `.env` file; the only place configuration is parsed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REAL_ESI_HOST: Final = "esi.evetech.net"
_URL_FIELDS: Final = frozenset({"database_url", "rabbitmq_url", "esi_base_url"})


class ConfigError(ValueError):
    """Configuration that cannot work; the message is meant for a human."""


class Settings(BaseSettings):
    """Every knob of killreport; see `.env.example` for the documented list."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql://root@127.0.0.1:5432/killreport"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    esi_base_url: str = "https://esi.evetech.net"
    esi_contact: str = ""
    esi_compatibility_date: str = "2026-08-18"
    esi_error_floor: int = Field(default=10, ge=0, le=100)
    esi_max_inflight: int = Field(default=32, ge=1, le=1000)
    esi_timeout_s: float = Field(default=10.0, gt=0)
    esi_max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    retry_delays_s: tuple[int, ...] = (5, 30, 120, 600)
    max_attempts: int = Field(default=5, ge=1)
    worker_concurrency: int = Field(default=16, ge=1, le=1024)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    claim_ttl_s: float = Field(default=60.0, gt=0)

    @field_validator("esi_compatibility_date")
    @classmethod
    def _date_shape(cls, value: str) -> str:
        import datetime as dt

        dt.date.fromisoformat(value)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """What repr() and str() show: every field, URLs with their passwords masked."""
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name in _URL_FIELDS and isinstance(value, str) else value

    def require_contact(self) -> None:
        """Refuse to talk to the real ESI without a contact address for CCP to reach us at."""
        host = urlsplit(self.esi_base_url).hostname or ""
        if host.endswith(REAL_ESI_HOST) and "@" not in self.esi_contact:
            raise ConfigError(
                "ESI_CONTACT must be an email address when talking to the real ESI: CCP asks every "
                "client to name a contact in its User-Agent so they can reach you instead of banning you"
            )


def sqlalchemy_url(database_url: str) -> str:
    """Turn a user's `postgresql://` URL into the asyncpg dialect SQLAlchemy needs."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    raise ConfigError(f"DATABASE_URL must start with postgresql://, got {mask_url(database_url)}")


def mask_url(url: str) -> str:
    """Hide the password in a URL so it can go into logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # Rebuilt from the raw netloc so the user's encoding and an IPv6 host's brackets survive.
    userinfo, _, host = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
