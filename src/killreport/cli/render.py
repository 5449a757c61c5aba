"""How command results look to a person (rich) and to a script (`--json`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from killreport.sync.orchestrate import Progress


def as_json(data: Mapping[str, Any]) -> str:
    """Stable JSON for scripts."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def plain(value: object) -> Text:
    """A value shown exactly as it is: rich never reads markup in it (ESI's strings are hostile)."""
    return Text("-" if value is None else str(value))


def status_tables(status: Mapping[str, Any]) -> list[Table]:
    """Queues, pending work, the shared budget and stored counts as tables."""
    queues = Table("queue", "ready", "consumers", title="Queues")
    for q in status["queues"]:
        queues.add_row(q["name"], str(q["ready"]), str(q["consumers"]))
    work = Table("kind", "pending", "in flight", "retrying", title="Work")
    for kind, c in sorted(status["pending"].items()):
        work.add_row(kind, str(c["pending"]), str(c["in_flight"]), str(c["retrying"]))
    budget = Table("ESI budget", "value", title="Shared ESI budget")
    for key, value in _flatten(status["budget"]).items():
        budget.add_row(key, str(value))
    stored = Table("stored", "rows", title="Database")
    for key, value in status["stored"].items():
        stored.add_row(key, str(value))
    requests = Table("ESI status", "responses", title="Requests so far (all workers)")
    for code, count in sorted(status["requests"].items()):
        requests.add_row(str(code) if code else "no answer", str(count))
    return [queues, work, budget, stored, requests, freshness_table(status["freshness"]),
            scheduler_table(status["scheduler"]), killmail_table(status["killmails"])]


def killmail_table(killmails: Mapping[str, Any]) -> Table:
    """The kill feed: where it is, how far behind, what went wrong, who follows; the back-fill."""
    feed, days = killmails["feed"], killmails["backfill"]
    table = Table("kill feed", "value", title="Killmails")
    if feed["holder"] is None or not feed["following"]:
        last = "" if feed["holder"] is None else f" (the last was {feed['holder']})"
        table.add_row("following", plain(f"no{last}: `killreport run`, or `killreport killmails follow`"))
    else:
        table.add_row("following", plain(f"{feed['holder']} (heartbeat {feed['heartbeat_age_s']} s ago)"))
    lag_s = "-" if feed["lag_s"] is None else f"{feed['lag_s']:.0f} s"
    known = feed["lag_kills"] is not None or feed["lag_s"] is not None
    behind = f"{plain(feed['lag_kills'])} kills, {lag_s}" if known else None
    seen = feed["head_seen_age_s"]
    head = feed["head"] if seen is None else f"{feed['head']} ({seen} s ago)"
    for key, value in (("cursor", feed["cursor"]), ("head seen", head),
                       ("behind", behind),
                       ("stored", feed["stored"]), ("holes", feed["holes"]),
                       ("kept aside", feed["rejected"]), ("last error", feed["last_error"])):
        table.add_row(key, plain(value))
    done = f"{days['complete']} of {days['days']} days complete, {days['stored']} of {days['listed']} kills"
    table.add_row("back-fill", plain(done if days["days"] else "none"))
    if days["incomplete"]:
        table.add_row("to redo", plain(", ".join(days["incomplete"])))
    return table


def scheduler_table(scheduler: Mapping[str, Any] | None) -> Table:
    """Whether a scheduler keeps the copy fresh, which one, and how recently it said so."""
    table = Table("scheduler", "value", title="Scheduler")
    if scheduler is None:
        table.add_row("active", "no (start `killreport scheduler` or `killreport run`)")
        return table
    table.add_row("active", "yes" if scheduler["active"] else "no (the last one stopped or died)")
    table.add_row("holder", plain(scheduler["holder"]))
    table.add_row("since", scheduler["since"][:19])
    table.add_row("heartbeat", f"{scheduler['heartbeat_age_s']} s ago")
    return table


def freshness_table(freshness: Mapping[str, Mapping[str, Any]]) -> Table:
    """Per kind: how much of the copy is past its Expires, and what refreshing it cost lately."""
    table = Table("kind", "tracked", "past Expires", "oldest overdue", "requests (1 h)", "304 share",
                  title="Freshness")
    for kind, f in freshness.items():
        oldest = "-" if f["oldest_past_s"] is None else f"{f['oldest_past_s']:.0f} s"
        share = "-" if f["share_304"] is None else f"{100 * f['share_304']:.1f} %"
        table.add_row(kind, str(f["tracked"]), str(f["past_expires"]), oldest,
                      str(f["requests_last_hour"]), share)
    return table


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list):
        return {prefix.rstrip("."): ", ".join(map(str, data)) or "-"}
    return {prefix.rstrip("."): "-" if data is None else data}


def progress_line(p: Progress) -> str:
    """One line of `sync-all --wait` progress."""
    left = ", ".join(f"{k} {v['pending']}" for k, v in sorted(p.pending.items())) or "nothing"
    stored = ", ".join(f"{k} {v}" for k, v in p.stored.items() if k in
                       ("alliances", "corporations", "characters"))
    return (f"[{p.elapsed_s:6.1f}s] pending: {left} | stored: {stored} | "
            f"queued {p.queues_ready}, consumers {p.consumers}{_esi_part(p)}")


def _esi_part(p: Progress) -> str:
    """What the shared ESI budget allows now: why a sync slows down (a pause, the error limit)."""
    b = p.budget
    if b is None or p.at is None:
        return ""
    if b.downtime:
        return " | ESI down: only /status until it is back"
    if b.paused_until is not None and b.paused_until > p.at:
        return f" | ESI paused {_seconds(b.paused_until, p.at)} s ({b.pause_reason})"
    if b.error_limit_remaining is None:
        return f" | in flight {b.in_flight}"
    ends = b.error_limit_reset_at
    reset = "" if ends is None else f", window ends in {_seconds(ends, p.at)} s"
    return f" | in flight {b.in_flight}, ESI errors left {b.error_limit_remaining}{reset}"


def _seconds(until: dt.datetime, now: dt.datetime) -> int:
    return max(0, round((until - now).total_seconds()))


def summary(console: Console, data: Mapping[str, Any]) -> None:
    """The end-of-run summary of `sync-all --wait`."""
    table = Table("", "", title=f"sync-all finished in {data['seconds']:.1f} s", show_header=False)
    for key, value in data["stored"].items():
        table.add_row(f"stored {key}", str(value))
    for code, count in sorted(data["requests"].items()):
        table.add_row(f"ESI {code or 'no answer'}", str(count))
    console.print(table)
