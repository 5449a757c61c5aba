"""Create or upgrade the schema with Alembic; the migrations ship inside the package.

Each store has its own history: PostgreSQL's in store/migrations, the embedded SQLite file's in
store/sqlite/migrations (a different schema rendering, and SQLite alters tables by copying them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from killreport.config import SQLITE_SCHEME, sqlalchemy_url

if TYPE_CHECKING:
    from alembic.config import Config

_HERE = Path(__file__).resolve().parent
_SCRIPTS = _HERE / "migrations"
_SQLITE_SCRIPTS = _HERE / "sqlite" / "migrations"


def script_location(database_url: str) -> Path:
    """The migrations of the store that `database_url` names (sqlite:/// or PostgreSQL)."""
    return _SQLITE_SCRIPTS if database_url.startswith(SQLITE_SCHEME) else _SCRIPTS


def alembic_config(database_url: str) -> Config:
    """An Alembic Config pointing at the packaged migrations of the URL's store and the given database."""
    # Alembic is imported here, not at the top: every command imports this module (through
    # services), and Alembic with Mako added ~0.14 s to every `killreport` process's start
    # (python -X importtime: 1.78-1.82 s of imports with it at the top, 1.63-1.67 s without).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location(database_url)))
    # ConfigParser interpolation would read a '%' in a password as a placeholder.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking: call through asyncio.to_thread from async code)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
