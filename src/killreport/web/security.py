"""Who may read the pages, and the headers that keep hostile text from ever running.

By default the server listens on loopback only and asks for nothing. Listening on any other address
needs WEB_TOKEN: every request must then carry it, as `Authorization: Bearer TOKEN` (scripts) or as
the password of basic auth (browsers ask for it), compared in constant time.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from aiohttp import BasicAuth, web
from aiohttp.typedefs import Handler, Middleware

from killreport.config import ConfigError

MIN_TOKEN_CHARS: Final = 16
# Portraits and logos come from here when WEB_IMAGES is on; from nowhere else, ever.
IMAGE_SERVER: Final = "https://images.evetech.net"
# Scripts only from this origin and none inline; styles only from style.css (no style attributes:
# EVE's colours are classes, see markup._colour_classes); no plugins, frames, forms elsewhere or
# base tags: even a string that escaped escaping could neither run nor load anything.
_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CONTENT_SECURITY_POLICY: Final = _POLICY.format(images="'self'")
CONTENT_SECURITY_POLICY_WITH_IMAGES: Final = _POLICY.format(images=f"'self' {IMAGE_SERVER}")
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CHALLENGE: Final = 'Basic realm="killreport", charset="UTF-8"'

Refuse = Callable[[web.Request, int, str], web.Response]


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback IP address (names, even `localhost`, are not trusted to be)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str) -> None:
    """Refuse (ConfigError) to listen beyond loopback without WEB_TOKEN, or with a guessable one."""
    if token and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"WEB_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
    if not token and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}, which is not a loopback address, without WEB_TOKEN: set "
            "WEB_TOKEN (sent as `Authorization: Bearer TOKEN` or as the basic-auth password) or listen "
            "on 127.0.0.1")


def _digest(secret: str) -> bytes:
    # Comparing digests keeps the comparison's time independent of the token's length too.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def presented_secret(authorization: str) -> str | None:
    """The secret an Authorization header carries: a bearer token, or basic auth's password."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return str(BasicAuth.decode(authorization.strip()).password)
        except (ValueError, binascii.Error):
            return None
    return None


def token_matches(authorization: str, token: str) -> bool:
    """Whether an Authorization header carries `token` (constant-time comparison)."""
    given = presented_secret(authorization)
    return hmac.compare_digest(_digest(given or ""), _digest(token)) and given is not None


def auth_middleware(token: str, refuse: Refuse) -> Middleware:
    """A middleware that answers 401 (through `refuse`) to any request without the token."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler's answer with the token, else 401."""
        if token_matches(request.headers.get("Authorization", ""), token):
            return await handler(request)
        response = refuse(request, 401, "this server needs its token: `Authorization: Bearer TOKEN`, "
                                        "or the token as the basic-auth password")
        response.headers["WWW-Authenticate"] = CHALLENGE
        return response

    return require_token


def security_headers(images: bool) -> Mapping[str, str]:
    """The headers every answer carries; with `images`, the policy lets pages show CCP's images."""
    if not images:
        return SECURITY_HEADERS
    return {**SECURITY_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY_WITH_IMAGES}


def security_headers_hook(images: bool) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An on_response_prepare signal handler adding `security_headers(images)` to every answer."""
    headers = security_headers(images)

    async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
        """The same headers on every answer (pages, API, static files, errors)."""
        response.headers.update(headers)
        if not request.path.startswith("/static/"):
            # Pages show live data and may sit behind a token: no shared cache may keep them.
            response.headers["Cache-Control"] = "no-store"

    return add_security_headers
