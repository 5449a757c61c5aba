"""The project's PL/pgSQL, one .sql file per function, and the loader migrations create them with.

A rule change is an edit of the .sql file plus a migration whose upgrade is `load("that.sql")`.
The files use CREATE OR REPLACE, so reloading an unchanged signature needs nothing else; a changed
signature needs a `DROP FUNCTION IF EXISTS` of the old argument list first (0003 shows how).
An older migration that loads a file always loads its current text: keep every file loadable on
a schema at that migration's revision (PL/pgSQL resolves tables only when a function runs).
"""

from __future__ import annotations

from importlib.resources import files


def read(name: str) -> str:
    """The text of `name` (e.g. "esi_settle.sql"), read through the package so it works installed."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def statements(text: str) -> list[str]:
    """Split SQL text into statements, each to be sent on its own.

    asyncpg prepares what it is given, and a prepared statement is a single statement. A statement
    ends at a line ending in `;` outside a `$$` body; chunks that are only comments are dropped.
    """
    found: list[str] = []
    lines: list[str] = []
    quoted = False
    for line in text.splitlines():
        lines.append(line)
        if line.count("$$") % 2:
            quoted = not quoted
        if not quoted and line.rstrip().endswith(";"):
            found.append("\n".join(lines).rstrip().removesuffix(";"))
            lines = []
    found.append("\n".join(lines))
    return [s.strip() for s in found if any(_is_code(line) for line in s.splitlines())]


def _is_code(line: str) -> bool:
    """Whether a line holds SQL rather than blank space or a `--` comment."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def load(name: str) -> None:
    """Run every statement of `name`, one at a time, inside the current Alembic migration."""
    from alembic import op  # only a migration calls this; the tests read the files without Alembic

    for statement in statements(read(name)):
        op.execute(statement)
