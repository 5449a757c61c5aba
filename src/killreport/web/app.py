"""The aiohttp application: routes, templates, static files, and the middlewares every request passes."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.web import api, history_api, kill_api, kill_pages, lookup_api, pages, render
from killreport.web.broker_link import BrokerLink
from killreport.web.errors import error_response, errors
from killreport.web.keys import BROKER, BUDGET, STORE
from killreport.web.security import auth_middleware, security_headers_hook

_PAGES = [("/", pages.status_page), ("/alliances/{id}", pages.alliance_page),
          ("/corporations/{id}", pages.corporation_page), ("/characters/{id}", pages.character_page),
          ("/search", pages.search_page), ("/killmails/{id}", kill_pages.kill_page),
          (kill_pages.LIST_ROUTE, kill_pages.list_page)]
_API = [("/api", api.index), ("/api/status", api.status_json), ("/api/alliances/{id}", api.alliance),
        ("/api/alliances/{id}/corporations", api.alliance_corporations),
        ("/api/corporations/{id}", api.corporation),
        ("/api/corporations/{id}/characters", api.corporation_characters),
        ("/api/characters/{id}", api.character), ("/api/search", api.search), ("/api/changes", api.changes),
        ("/api/killmails", kill_api.killmails), ("/api/killmails/{id}", kill_api.killmail),
        ("/api/alliances/{id}/trend", history_api.alliance_trend),
        ("/api/corporations/{id}/trend", history_api.corporation_trend),
        ("/api/characters/{id}/history", history_api.character_history),
        ("/api/corporations/{id}/history", history_api.corporation_history),
        ("/api/alliances/{id}/members", history_api.alliance_members),
        ("/api/alliances/{id}/joined-left", history_api.alliance_joined_left),
        ("/api/corporations/{id}/joined-left", history_api.corporation_joined_left)]


def build_app(store: Store, broker: BrokerLink, budget: BudgetView, *, token: str | None = None,
              images: bool = False) -> web.Application:
    """The read-only site over `store` and `broker`, the budget seen through `budget`
    (wiring.budget_view); with a token, every request must carry it.

    With `images`, entity pages show portraits and logos from CCP's image server (WEB_IMAGES);
    without, no page loads anything from anywhere but this site.
    """
    # The token check comes first: nothing, not even an error page, is served without it.
    middlewares = [auth_middleware(token, error_response)] if token else []
    app = web.Application(middlewares=[*middlewares, errors])
    app[STORE] = store
    app[BROKER] = broker
    app[BUDGET] = budget
    render.setup(app, images=images)
    for path, handler in _PAGES + _API:
        app.router.add_get(path, handler)
    app.router.add_post("/api/lookup", lookup_api.lookup)
    static = resources.files("killreport.web") / "static"
    app.router.add_static("/static", str(static), append_version=False)
    app.on_response_prepare.append(security_headers_hook(images))
    return app
