"""`killreport web`: a small read-only site and JSON API over the copy and the system, on a SQLite
file or PostgreSQL (RabbitMQ optional: without it the status page shows the rest).

Server-rendered pages (Jinja2, autoescaped), one small script for the live status page, a strict
Content-Security-Policy, loopback-only unless WEB_TOKEN is set.
"""

from killreport.web.app import build_app
from killreport.web.broker_link import BrokerLink
from killreport.web.security import check_bind, is_loopback, token_matches
from killreport.web.server import serve, url_of

__all__ = ["BrokerLink", "build_app", "check_bind", "is_loopback", "serve", "token_matches", "url_of"]
