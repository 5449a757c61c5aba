"""`killreport changes`: what refreshes and sweeps observed changing in the game."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Final

from cyclopts import Parameter
from rich.console import Console
from rich.table import Table

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.ids import Kind
from killreport.services import database
from killreport.store import changes as stored_changes
from killreport.wiring import load_settings

_AGO: Final = re.compile(r"^(\d+)([smhd])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`90s`, `15m`, `2h`, `3d` ago, or an ISO 8601 date or time (UTC unless it says otherwise)."""
    ago = _AGO.match(text.strip())
    if ago:
        return now - dt.timedelta(seconds=int(ago[1]) * _UNITS[ago[2]])
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        why = "expected a time like 2026-11-30T10:00 or an age like 2h"
        raise UsageError(f"--since {text!r}: {why}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def changes(*, since: str | None = None, kind: Kind | None = None,
                  entity_id: Annotated[int | None, Parameter(name="--id")] = None,
                  limit: int = 100, json: bool = False) -> int:
    """Changes observed by refreshes and sweeps, oldest first: who moved, renamed, closed, was deleted."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    after = None if since is None else parse_since(since, dt.datetime.now(dt.UTC))
    async with database(load_settings(), wait=False) as engine, engine.connect() as conn:
        found = await stored_changes.recent(conn, since=after, kind=kind, entity_id=entity_id, limit=limit)
    rows = [_row(o) for o in found]
    if json:
        print(render.as_json({"changes": rows}))
    else:
        Console().print(_table(rows))
    return 0


def _row(observed: stored_changes.Observed) -> dict[str, Any]:
    c = observed.change
    return {"observed_at": observed.observed_at.isoformat(), "kind": c.kind, "id": c.entity_id,
            "field": c.field, "old": c.old, "new": c.new}


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("observed", "kind", "id", "field", "old", "new", title=f"{len(rows)} change(s)")
    for r in rows:
        # Values come from ESI (hostile text): rich markup in them must show as text.
        table.add_row(r["observed_at"][:19], r["kind"], str(r["id"]), r["field"],
                      *(render.plain(r[k]) for k in ("old", "new")))
    return table
