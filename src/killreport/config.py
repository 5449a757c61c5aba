"""Settings read from the environment or a `.env` file; the only place configuration is parsed.

Errors::

    ValueError
    └── ConfigError                 a setting that cannot work (a misread URL, no contact for the
                                    real ESI); the message never quotes the value
    pydantic.ValidationError        a setting of the wrong type or range (values hidden)
    pydantic_settings.SettingsError a value that cannot even be decoded (RETRY_DELAYS_S not JSON)

The CLI turns each into one line and exit 1 (killreport.cli.errors).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REAL_ESI_HOST: Final = "esi.evetech.net"
_URL_FIELDS: Final = frozenset({"database_url", "rabbitmq_url", "esi_base_url", "r2z2_url"})
POSTGRES_SCHEMES: Final = ("postgresql+asyncpg://", "postgresql://", "postgres://")
SQLITE_SCHEME: Final = "sqlite:///"
DATABASE_SCHEMES: Final = (*POSTGRES_SCHEMES, SQLITE_SCHEME)
RABBITMQ_SCHEMES: Final = ("amqp://", "amqps://")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# A secret passed as a parameter: `?password=` (libpq and asyncpg read it), `sslpassword=`, a
# key/value DSN's `password=...`, tokens. The look-behind anchors the key at a separator.
_SECRET_PARAM: Final = re.compile(
    r"(?<![^?&;\s])(?P<key>[^?&;=#\s]*(?:pass|pwd|secret|token)[^?&;=#\s]*=)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|[^&;#\s]*)",
    re.IGNORECASE,
)


class ConfigError(ValueError):
    """Configuration that cannot work; the message is meant for a human."""


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A lease must outlive the request it covers (ESI_TIMEOUT_S) plus the reserve and settle round
# trips around it and a busy event loop; after that it frees itself, which is how a killed
# worker's share of the budget comes back. 10 s covered every stall seen in the fault tests.
LEASE_MARGIN_S: Final = 10.0


class RouteCapGroup(BaseModel):
    """One ESI_ROUTE_CAPS group: routes that share one rate (ESI may count them together)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    per_s: float
    routes: list[str]


HISTORY_ROUTES: Final = ["/characters/{id}/corporationhistory", "/corporations/{id}/alliancehistory"]


def _option(default: Any, meaning: str, **limits: Any) -> Any:
    """A setting's default and meaning, written once (docs/configuration.md's table and .env.example
    are tested against it)."""
    return Field(default=default, description=meaning, **limits)


class Settings(BaseSettings):
    """Every option of killreport, each with its default and its meaning: the only place they are
    declared, and the only place configuration is parsed (the environment, then `.env`).

    Everything else receives a Settings (or the few values it needs) from the composition root;
    nothing reads `os.environ` for an option. `tests/unit/test_config_docs.py` holds the table of
    docs/configuration.md and `.env.example` to these fields.
    """

    # hide_input_in_errors: a ValidationError's text would otherwise quote the rejected value,
    # and a rejected URL usually carries its password.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = _option("sqlite:///killreport.db",
                                "sqlite:///file (embedded: one process does the work) or postgresql://... "
                                "(distributed, with RabbitMQ)")
    rabbitmq_url: str = _option("amqp://guest:guest@127.0.0.1:5672/",
                                "RabbitMQ (the path is the vhost); used only with PostgreSQL")
    esi_base_url: str = _option("https://esi.evetech.net", "ESI, or the simulator")
    esi_contact: str = _option("", "email for the User-Agent; required for the real ESI host")
    esi_compatibility_date: str = _option("2026-08-18", "the schema the code implements")
    esi_error_floor: int = _option(10, "never let error-limit remaining - in flight reach this",
                                   ge=0, le=100)
    esi_max_inflight: int = _option(32, "requests in flight across the whole cluster", ge=1, le=1000)
    esi_timeout_s: float = _option(10.0, "per request", gt=0)
    esi_max_body_bytes: int = _option(4 * 1024 * 1024, "larger bodies are malformed", gt=0)
    esi_route_caps: dict[str, RouteCapGroup] = _option(
        {"history": {"per_s": 4.0, "routes": HISTORY_ROUTES}},
        "named groups of routes, each with one rate (requests a second) for its routes together, all "
        "processes together (ESI limits some routes without saying so, perhaps counting several as "
        "one); a route in two groups is refused. A 429 on one without rate-limit headers halves its "
        "group's rate for a while and pauses the group for a minute")
    esi_daily_downtime: bool = _option(
        True, "pause every request but /status from 30 s before 11:00 UTC until /status shows ESI back "
        "(ESI's daily downtime, which the simulator keeps too); off only for an ESI without one "
        "(e.g. `killreport sim --daily-downtime-s 0`)")
    r2z2_url: str = _option("https://r2z2.zkillboard.com", "zKillboard's R2Z2 kill feed, or the simulator's "
                            "(`killreport sim` serves it under /r2z2 on its own port)")
    r2z2_max_rps: int = _option(10, "requests a second to R2Z2, for every process together", ge=1, le=100)
    r2z2_retention_s: float = _option(
        43200.0, "a follower whose newest kill was uploaded longer ago than this (R2Z2 keeps its files "
        "about a day) starts again from the feed's head and fills the gap from the day files", gt=0)
    killmail_feed: bool = _option(
        True, "`killreport run` follows the R2Z2 kill feed beside the scheduler and the worker; false: "
        "it does not (`killreport killmails follow` is the distributed mode's follower)")
    retry_delays_s: tuple[int, ...] = _option(
        (5, 30, 120, 600), "retry tiers (changing them needs the old retry queues deleted)")
    max_attempts: int = _option(5, "transient failures before dead-lettering", ge=1)
    worker_concurrency: int = _option(16, "jobs per worker process (also the broker prefetch); "
                                      "embedded, when unset: 1.5 x ESI_MAX_INFLIGHT", ge=1, le=1024)
    shutdown_timeout_s: float = _option(30.0, "drain time on SIGTERM", gt=0)
    claim_ttl_s: float = _option(
        60.0, "a claim on an entity lasts this long; a killed worker's claims free themselves after it",
        gt=0)
    janitor_interval_s: float = _option(
        15.0, "how often a worker looks for pending jobs whose message was never confirmed", gt=0)
    janitor_age_s: float = _option(30.0, "such jobs are re-published once this old", gt=0)
    stats_flush_s: float = _option(1.0, "how often request counts are added to the shared table", gt=0)
    reconnect_max_delay_s: float = _option(
        30.0, "workers wait for PostgreSQL and RabbitMQ forever, backing off up to this long", gt=0)
    log_level: str = _option("INFO", "structured logs on stderr: DEBUG, INFO, WARNING or ERROR")
    refresh_min_age_alliance: float = _option(
        3600.0, "seconds: refresh an alliance, its member list and the alliance list no more often, "
        "even past their Expires", gt=0)
    refresh_min_age_corporation: float = _option(
        3600.0, "seconds: refresh an active corporation (an alliance member, or seen on a kill within "
        "REFRESH_KILL_WINDOW_S) no more often, even past its Expires", gt=0)
    refresh_min_age_corporation_dormant: float = _option(
        604800.0, "seconds: refresh every other corporation once this old (a week)", gt=0)
    refresh_kill_window_s: float = _option(
        604800.0, "seconds: a corporation seen on a kill this recently (by the kill's time) counts as "
        "active", ge=0)
    refresh_failed_after_s: float = _option(
        86400.0, "seconds: an entity whose job failed (a dead letter) is queued again this long after, "
        "or after its kind's age if that is shorter", gt=0)
    refresh_min_age_character: float = _option(
        2592000.0, "seconds: refresh a character's details (name, title, security status...) once this "
        "old (30 days), or sooner past its Expires once a sweep or a kill shows it moved; its corporation "
        "and alliance follow the affiliation sweeps", gt=0)
    refresh_min_age_affiliation: float = _option(
        3600.0, "seconds between sweeps of every stored character through POST /characters/affiliation "
        "(never before the last answer's Expires)", gt=0)
    history: bool = _option(
        True, "fetch a character's corporation history and a corporation's alliance history when it is "
        "first stored and again when the copy sees it move (never before Expires); false: never")
    refresh_spread: float = _option(
        0.25, "due refreshes of a kind are released at most at its steady rate (tracked / its period; "
        "corporations: the active ones' and the dormant ones' together) / this: a backlog of all of them "
        "drains within this fraction of the period", gt=0, le=1)
    scheduler_tick_s: float = _option(
        1.0, "how often the active scheduler releases due refreshes and checks the alliance list", gt=0)
    scheduler_heartbeat_s: float = _option(
        3.0, "how often the active scheduler renews its lease; it steps down when it cannot", gt=0)
    scheduler_poll_s: float = _option(
        1.0, "how often a standby scheduler tries to take over from the active one", gt=0)
    # SecretStr: repr(), str() and validation errors show it as **********.
    web_token: SecretStr = _option(
        "", "a secret every `killreport web` request must carry (`Authorization: Bearer TOKEN`, or as the "
        "basic-auth password); required to listen on anything but a loopback address", validate_default=True)
    web_images: bool = _option(
        True, "`killreport web` shows portraits and logos from images.evetech.net; false: no page loads "
        "anything from elsewhere (offline or private deployments)")
    metrics_port: int = _option(
        0, "worker, scheduler and run serve /metrics, /healthz and /readyz on this port; 0: off",
        ge=0, le=65535)
    metrics_host: str = _option("127.0.0.1", "the address the metrics server listens on")
    metrics_refresh_s: float = _option(
        5.0, "how often the budget and per-kind freshness gauges are read from the database", gt=0)

    @property
    def lease_ttl_s(self) -> float:
        """How long a budget lease lives: the request timeout plus LEASE_MARGIN_S."""
        return self.esi_timeout_s + LEASE_MARGIN_S

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        """LOG_LEVEL must name a logging level (any case)."""
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("esi_compatibility_date")
    @classmethod
    def _date_shape(cls, value: str) -> str:
        """ESI_COMPATIBILITY_DATE must be an ISO date."""
        import datetime as dt

        try:
            dt.date.fromisoformat(value)
        except ValueError:
            # datetime's message quotes the value; setting errors never echo what was set.
            raise ValueError("must be a date written YYYY-MM-DD") from None
        return value

    @field_validator("esi_route_caps", mode="before")
    @classmethod
    def _cap_groups_shape(cls, value: Any) -> Any:
        """ESI_ROUTE_CAPS as it was before groups (a route and its rate) is named as such."""
        if isinstance(value, dict) and any(isinstance(v, int | float) for v in value.values()):
            raise ValueError('a cap is now a named group: {"history": {"per_s": 4, "routes": ["/..."]}}')
        return value

    @field_validator("esi_route_caps")
    @classmethod
    def _cap_groups(cls, value: dict[str, RouteCapGroup]) -> dict[str, RouteCapGroup]:
        """ESI_ROUTE_CAPS: named groups, each a positive, finite rate over route templates as the
        budget names them, no route in two groups."""
        import math

        seen: dict[str, str] = {}
        for name, group in value.items():
            if not name.strip():
                raise ValueError("a route cap group needs a name")
            if not group.per_s > 0 or math.isinf(group.per_s):
                raise ValueError(f"group {name!r}: per_s is a positive, finite number of requests a second")
            if not group.routes:
                raise ValueError(f"group {name!r} names no route")
            for route in group.routes:
                if not route.startswith("/"):
                    raise ValueError(f"group {name!r}: a route is a path template such as "
                                     f"{HISTORY_ROUTES[0]}")
                if route in seen:
                    raise ValueError(f"route {route} is in two groups, {seen[route]!r} and {name!r}")
                seen[route] = name
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        """DATABASE_URL: a SQLite file, or a PostgreSQL URL every library splits the same way."""
        if value.startswith(SQLITE_SCHEME):
            if len(value) == len(SQLITE_SCHEME):
                raise ConfigError("a SQLite URL names a file: sqlite:///path/to/killreport.db")
            return value
        return check_url(value, DATABASE_SCHEMES)

    @field_validator("rabbitmq_url")
    @classmethod
    def _rabbitmq_url_shape(cls, value: str) -> str:
        """RABBITMQ_URL must be an AMQP URL every library splits the same way."""
        return check_url(value, RABBITMQ_SCHEMES)

    @field_validator("r2z2_url")
    @classmethod
    def _r2z2_url_shape(cls, value: str) -> str:
        """R2Z2_URL must be an HTTP(S) URL every library splits the same way."""
        return check_url(value, ("https://", "http://"))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """What repr() and str() show: every field, URLs with their passwords masked."""
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name in _URL_FIELDS and isinstance(value, str) else value

    @property
    def job_concurrency(self) -> int:
        """Jobs one process runs at once: WORKER_CONCURRENCY, or, embedded and unset, 1.5 times
        ESI_MAX_INFLIGHT.

        An embedded runner is the whole fleet, so it fills the budget's in-flight cap, and more: a job
        holds no lease while it claims, stores and acks, so with as many jobs as slots the slots
        were 28 % idle. Full universe, this 2-core VM (docs/performance.md, embedded mode): 32 jobs
        145.7 s, 48 jobs 137.0 s, 64 jobs 138.8 s (waiting jobs cost a little CPU)."""
        if self.embedded and "worker_concurrency" not in self.model_fields_set:
            return self.esi_max_inflight * 3 // 2
        return self.worker_concurrency

    @property
    def embedded(self) -> bool:
        """The embedded mode: a SQLite file and no broker (else PostgreSQL + RabbitMQ)."""
        return self.database_url.startswith(SQLITE_SCHEME)

    def require_contact(self) -> None:
        """Refuse to talk to the real ESI without a contact address for CCP to reach us at."""
        host = urlsplit(self.esi_base_url).hostname or ""
        if host.endswith(REAL_ESI_HOST) and "@" not in self.esi_contact:
            raise ConfigError(
                "ESI_CONTACT must be an email address when talking to the real ESI: CCP asks every "
                "client to name a contact in its User-Agent so they can reach you instead of banning you"
            )


def sqlalchemy_url(database_url: str) -> str:
    """Turn a user's URL into the dialect SQLAlchemy needs (asyncpg, or aiosqlite for a file)."""
    if database_url.startswith(SQLITE_SCHEME):
        return "sqlite+aiosqlite:///" + database_url[len(SQLITE_SCHEME):]
    for prefix in POSTGRES_SCHEMES:
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    where = mask_url(database_url)
    raise ConfigError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {where}")


def check_url(url: str, schemes: tuple[str, ...]) -> str:
    """`url` if every library will read its user, password and host the same way; else ConfigError.

    Without this, a password with a raw `/`, `?`, `#` or `@` moves the split: the libraries then
    see no password at all, so their own masking fails and their logs print it (aio-pika's
    reconnect log did), and a worker retries a URL that can never work. The messages never quote
    the URL.
    """
    if not url.startswith(schemes):
        raise ConfigError(f"must start with {' or '.join(schemes)}")
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if authority.count("@") > 1 or ("@" not in authority and "@" in rest):
        raise ConfigError("cannot tell the password from the host: percent-encode any '@', '/', '?' "
                          "or '#' in the user name and password (%40, %2F, %3F, %23)")
    try:
        urlsplit(url).port  # noqa: B018 - evaluated for the ValueError it raises on a bad port
    except ValueError:  # also an unclosed IPv6 bracket
        raise ConfigError("cannot read the host and port (the port must be a number from 0 to 65535)"
                          ) from None
    return url


def mask_url(url: str) -> str:
    """Hide the password in a URL so it can go into logs and error messages; never raises.

    Malformed URLs are masked too, erring towards hiding more: everything between the first ':' of
    the user info and the *last* '@' goes, because `u:p@h/db?x=a@b` reads either as password `p`
    on host `h` or as password `p@h/db?x=a` on host `b`, and only hiding up to `b` is safe for both.
    Without any '@', a "port" that is not a number may be a password typed without its host
    (`amqp://guest:s3cret`), so it is hidden. Secret-named parameters (`?password=`, a key/value
    DSN's `password=`) are hidden as well.
    """
    scheme = _SCHEME.match(url)
    prefix = scheme.group(0) if scheme else ""
    rest = url[len(prefix) :]
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    else:
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        host, colon, port = authority.rpartition(":")
        if colon and not port.isdigit() and not authority.endswith("]"):
            rest = f"{host}:***{rest[len(authority) :]}"
    return prefix + _SECRET_PARAM.sub(lambda m: f"{m['key']}***", rest)
