"""`killreport changes`: what refreshes and sweeps observed changing in the game."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from cyclopts import Parameter
from rich.console import Console
from rich.table import Table

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.ids import Kind
from killreport.services import database
from killreport.since import parse_since
from killreport.store.changes import Observed
from killreport.wiring import load_settings


async def changes(*, since: str | None = None, kind: Kind | None = None,
                  entity_id: Annotated[int | None, Parameter(name="--id")] = None,
                  limit: int = 100, json: bool = False) -> int:
    """Changes observed by refreshes and sweeps, oldest first: who moved, renamed, closed, was deleted."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    try:
        after = None if since is None else parse_since(since, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        raise UsageError(f"--since {exc}") from None
    async with database(load_settings(), wait=False) as store, store.connect() as conn:
        found = await store.admin.recent_changes(conn, since=after, kind=kind, entity_id=entity_id,
                                                 limit=limit)
    rows = [_row(o) for o in found]
    if json:
        print(render.as_json({"changes": rows}))
    else:
        Console().print(_table(rows))
    return 0


def _row(observed: Observed) -> dict[str, Any]:
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
