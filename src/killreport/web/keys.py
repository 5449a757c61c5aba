"""What every handler finds on the application: the database, the broker link, the budget's view."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.web.broker_link import BrokerLink

STORE: Final = web.AppKey("store", Store)
BROKER: Final = web.AppKey("broker", BrokerLink)
BUDGET: Final = web.AppKey("budget", BudgetView)
