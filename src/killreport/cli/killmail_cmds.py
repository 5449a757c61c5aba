"""`killreport killmails ...`: the kill feed's commands."""

from __future__ import annotations

from cyclopts import App

from killreport.cli.backfill_cmd import backfill

killmails = App(name="killmails", help="Kills from zKillboard's R2Z2 feed: back-fill whole days.")
killmails.command(backfill, name="backfill")
