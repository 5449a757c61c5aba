"""`killreport killmails ...`: the kill feed's commands (`follow`, `backfill`: more may join the group)."""

from __future__ import annotations

from typing import Annotated

from cyclopts import App, Parameter

from killreport.cli.backfill_cmd import backfill
from killreport.cli.errors import UsageError
from killreport.killfeed.main import follow_alone
from killreport.signals import until_signalled
from killreport.wiring import load_settings, runner

killmails = App(name="killmails", help="Kills from zKillboard's R2Z2 feed: follow it, back-fill whole days.")
killmails.command(backfill, name="backfill")

# A follower stops within one request and one write; this bounds anything slower.
_FOLLOW_GRACE_S = 20.0


@killmails.command(name="follow")
async def follow(*, from_: Annotated[int | None, Parameter(name="--from")] = None) -> int:
    """Follow the R2Z2 kill feed into the copy until SIGTERM/SIGINT (then stop cleanly, exit 0).

    On PostgreSQL run it on any number of machines: one follows (an advisory lock), the others take
    over within seconds if it dies. On a SQLite file `killreport run` follows the feed itself.
    The first start begins at the feed's head pointer, or at --from (a sequence number); a later
    start continues from the stored cursor. The past before that comes from `killmails backfill`.

    Parameters
    ----------
    from_
        Feed sequence number to begin at when the copy has never followed the feed.
    """
    if from_ is not None and from_ < 0:
        raise UsageError("--from must be a sequence number (0 or more)")
    settings = load_settings()
    with runner(settings, "killreport killmails follow"):
        return await until_signalled(lambda stop, ready: follow_alone(settings, stop, ready, from_),
                                     _FOLLOW_GRACE_S)
