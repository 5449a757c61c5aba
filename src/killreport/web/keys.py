"""What every handler finds on the application: the database and the broker link."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.web.broker_link import BrokerLink

ENGINE: Final = web.AppKey("engine", AsyncEngine)
BROKER: Final = web.AppKey("broker", BrokerLink)
