"""Outbound allow-list: the upstream HTTP client only talks to the configured API origins.

Every request of :class:`evapo.sources.http.Upstream` passes :func:`outbound_guard` before it
leaves. The allowed origins (scheme, host, port) come from the settings alone (``*_url`` or
``upstream_url``), never from a request: a URL smuggled into any input cannot be fetched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx2

from evapo.config import UPSTREAM_HOSTS, Settings
from evapo.logging import get_logger

log = get_logger(__name__)

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str, port: int | None) -> Origin:
    scheme = scheme.lower()
    return scheme, host.lower().rstrip("."), port or _DEFAULT_PORTS.get(scheme, 0)


def allowed_origins(settings: Settings) -> frozenset[Origin]:
    """The (scheme, host, port) of every upstream API base URL the settings name."""
    origins = set()
    for api in UPSTREAM_HOSTS:
        parts = urlsplit(settings.api_base(api))
        origins.add(_origin(parts.scheme, parts.hostname or "", parts.port))
    return frozenset(origins)


class OutboundRefused(RuntimeError):
    """A request to a host outside the allow-list was about to leave the process."""


def check_url(url: str | httpx2.URL, allowed: frozenset[Origin]) -> None:
    """Raise :class:`OutboundRefused` unless ``url``'s origin is in ``allowed``."""
    parsed = httpx2.URL(str(url))
    origin = _origin(parsed.scheme, parsed.host, parsed.port)
    if origin not in allowed:
        raise OutboundRefused(
            f"outbound request to {origin[0]}://{origin[1]}:{origin[2]} refused: "
            "not one of the configured upstream APIs"
        )


def outbound_guard(settings: Settings) -> Callable[[httpx2.Request], Awaitable[None]]:
    """An httpx2 ``request`` event hook enforcing the allow-list built from ``settings``."""
    allowed = allowed_origins(settings)

    async def guard(request: httpx2.Request) -> None:
        try:
            check_url(request.url, allowed)
        except OutboundRefused:
            log.error("outbound_refused", host=request.url.host, port=request.url.port)
            raise

    return guard
