"""`killreport lookup ID...`: what the copy holds of each id; the ids it lacks fetched and awaited.

Nothing here talks to ESI (killreport/lookup.py says why): the ids the copy lacks are queued, and the
workers fetch them, the runner's on a SQLite file. On a file no runner holds nobody would fetch them,
so the command says so and does not wait.
"""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import Parameter
from rich.console import Console
from rich.table import Column, Table

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.lookup import DEFAULT_WAIT_S, LookupRefused, Report, bounded_ids, bounded_wait, look_up
from killreport.queue.broker import JobQueue
from killreport.runner_lock import holder
from killreport.services import database
from killreport.store.sqlite.engine import path_of
from killreport.wiring import broker, load_settings


def parse_ids(texts: list[str]) -> list[int]:
    """The ids typed on the command line; UsageError naming the first that is not a number."""
    ids = []
    for text in texts:
        try:
            ids.append(int(text))
        except ValueError:
            raise UsageError(f"{text!r} is not a numeric id") from None
    return ids


async def lookup(ids: Annotated[list[str], Parameter(allow_leading_hyphen=True)], *,
                 wait: float = DEFAULT_WAIT_S, json: bool = False) -> int:
    """Look ids up: each one's kind, name, ticker, corporation and alliance as the copy holds them; the
    ids it lacks are queued for the workers and waited for.

    Parameters
    ----------
    ids: Up to 100 character, corporation or alliance ids, of any kind.
    wait: Seconds to wait for the ids the copy lacks (0 to 120); those not fetched by then are pending.
    json: Print the answer as JSON (the shape POST /api/lookup answers).
    """
    try:
        wanted, wait_s = bounded_ids(parse_ids(ids)), bounded_wait(wait)
    except LookupRefused as exc:
        raise UsageError(str(exc)) from None
    settings = load_settings()
    if settings.embedded and holder(path_of(settings.database_url)) is None:
        Console(stderr=True).print(f"no runner holds {path_of(settings.database_url)}: the ids it lacks stay "
                                   "queued until `killreport run` starts; not waiting for them",
                                   markup=False, highlight=False)
        wait_s = 0.0
    async with database(settings, wait=False) as store, broker(settings) as mq:

        async def opened() -> JobQueue:
            return mq

        report = await look_up(store, opened, wanted, wait_s=wait_s)
    if json:
        print(render.as_json(report.as_json()))
    else:
        Console().print(_table(report))
        for answer in report.answers:
            if answer.reason is not None:
                print(f"{answer.id}: {answer.reason}")
        print(_summary(report))
    return 0


def _linked(record: dict[str, Any], link: str) -> str | None:
    """A corporation or alliance as `name [ticker] (id)`, or its id alone when the copy lacks it."""
    shown = record.get(link)
    if shown is None:
        return None
    if shown["name"] is None:
        return str(shown["id"])
    return f"{shown['name']} [{shown['ticker']}] ({shown['id']})"


def _table(report: Report) -> Table:
    """One row per id, every cell shown as plain text (ESI's strings are hostile); ids never cut."""
    table = Table(*(Column(c, no_wrap=True) for c in ("id", "status", "kind")), "name", "ticker",
                  "corporation", "alliance")
    for answer in report.answers:
        record = answer.record or {}
        table.add_row(*(render.plain(v) for v in (
            answer.id, answer.status, answer.kind, record.get("name"), record.get("ticker"),
            _linked(record, "corporation"), _linked(record, "alliance"))))
    return table


def _summary(report: Report) -> str:
    """One line: how many ids were answered how, and how long the lookup waited."""
    counts = ", ".join(f"{len(ids)} {status}" for status, ids in report.ids_by_status.items())
    line = f"{counts}; queued {report.queued}, waited {report.waited_s:.1f} s"
    if report.of("pending"):
        line += "; pending ids are still fetched by the workers: look them up again later"
    return line
