"""Templates (Jinja2, autoescaped: every ESI string is hostile) and the filters they show values with."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from killreport.web import markup
from killreport.web.links import image_url, json_time


def cell(value: Any) -> str:
    """A value as the status page writes it, the same way as static/status.js does after each poll."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    if isinstance(value, dt.datetime):
        return json_time(value)
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def as_rows(value: Any) -> list[Any]:
    """Table rows from a list (as is) or a mapping (sorted by key, each with its `key`), as status.js does."""
    if isinstance(value, list):
        return value
    return [{"key": k, **v} if isinstance(v, dict) else {"key": k, "value": v}
            for k, v in sorted(value.items(), key=lambda item: str(item[0]))]


def web_url(value: str | None) -> str | None:
    """A corporation's URL if it is a plain http(s) address worth a link, else None (shown as text)."""
    # The same rule as a link out in a description.
    return markup.external_target(value) if value else None


def isk(value: float | None) -> str:
    """An ISK value for people: thousands separated, two decimals, or "-"."""
    return "-" if value is None else f"{value:,.2f} ISK"


def when(value: dt.datetime | None) -> str:
    """A time for people: UTC, to the second."""
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def eve(value: str | None) -> Markup:
    """A description's EVE markup as safe HTML (markup.render: only what it writes is markup)."""
    return Markup(markup.render(value or ""))  # noqa: S704 - render escapes all the player wrote


def eve_inline(value: str | None) -> Markup:
    """A title's EVE markup as safe HTML for inside a line: no breaks, sizes or colours."""
    return Markup(markup.render(value or "", inline=True))  # noqa: S704 - as eve()


def setup(app: web.Application, *, images: bool = False) -> None:
    """Load the package's templates with autoescaping on and undefined names an error.

    `images` tells the templates whether to show CCP's portraits and logos (WEB_IMAGES).
    """
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("killreport.web", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True,
        default_helpers=False)
    filters: dict[str, Callable[..., Any]] = {"cell": cell, "when": when, "as_rows": as_rows,
                                              "web_url": web_url, "eve": eve, "eve_inline": eve_inline,
                                              "isk": isk}
    env.filters.update(filters)
    env.globals["images"] = images
    env.globals["image_url"] = image_url


def page(template: str, request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    """A rendered HTML page."""
    return aiohttp_jinja2.render_template(template, request, context, status=status)
