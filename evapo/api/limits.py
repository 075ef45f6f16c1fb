"""Abuse limits of the API, per client address and per API process.

* submissions (every ``POST`` under ``/api/``): a GCRA rate limit per client, answered with 429
  and ``Retry-After`` [s] when exceeded (``submit_rate_per_min``, ``submit_burst``);
* request bodies: at most ``max_body_bytes`` (413), checked on ``Content-Length`` and while reading;
* WebSockets: at most ``ws_max_per_client`` open at once per client; one more is accepted and
  closed at once with code 1013 (try again later) and a reason saying why.

The limits live in the API process: with several API processes behind a balancer each applies its
own (documented in docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evapo.config import Settings
from evapo.logging import get_logger

log = get_logger(__name__)

TOO_MANY_SOCKETS = 1013
"""WebSocket close code when a client already holds ``ws_max_per_client`` sockets."""
_MAX_TRACKED_CLIENTS = 100_000


@dataclass
class RateLimiter:
    """Generic cell rate algorithm per key: ``rate_per_min`` sustained, ``burst`` at once."""

    rate_per_min: float
    burst: int
    _tat: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.rate_per_min <= 0:
            raise ValueError(f"rate_per_min must be > 0, got {self.rate_per_min}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")

    @property
    def interval_s(self) -> float:
        """Time between two requests at the sustained rate [s]."""
        return 60.0 / self.rate_per_min

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take one request for ``key``: 0 when allowed, else the seconds to wait [s]."""
        now = time.monotonic() if now is None else now
        tolerance = self.interval_s * (self.burst - 1)
        tat = max(self._tat.get(key, now), now)
        wait = tat - tolerance - now
        if wait > 0:
            return wait
        self._tat[key] = tat + self.interval_s
        if len(self._tat) > _MAX_TRACKED_CLIENTS:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop keys whose bucket is full again (they behave exactly like unknown keys)."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]


def client_key(scope: Scope) -> str:
    """The client's address (the TCP peer; no forwarded header is trusted)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _send_json(
    send: Send, status: int, body: dict[str, object], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": payload})


class LimitsMiddleware:
    """ASGI middleware applying the submission rate limit, the body cap and the socket cap."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_sockets = settings.ws_max_per_client
        self.submissions = RateLimiter(settings.submit_rate_per_min, settings.submit_burst)
        self.sockets: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_key(scope)
        path: str = scope["path"]
        if scope["method"] == "POST" and path.startswith("/api/"):
            wait = self.submissions.acquire(client)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                log.warning("rate_limited", client=client, path=path, retry_after_s=retry)
                detail = (
                    f"too many submissions from {client}: at most "
                    f"{self.submissions.rate_per_min:g} per minute; retry in {retry} s"
                )
                await _send_json(
                    send, 429, {"detail": detail}, [(b"retry-after", str(retry).encode())]
                )
                return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _send_json(send, 413, {"detail": self._too_large(declared)}, [])
            return
        await self.app(scope, self._counting(receive), send)

    def _too_large(self, size: int | None) -> str:
        got = f"{size} bytes" if size is not None else "more"
        return f"request body too large: {got}, at most {self.max_body} bytes are accepted"

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise HTTPException(413, self._too_large(None))
            return message

        return counted

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_key(scope)
        if self.sockets[client] >= self.max_sockets:
            log.warning(
                "sockets_limited", client=client, path=scope["path"], open=self.sockets[client]
            )
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                reason = f"too many open sockets from this client (at most {self.max_sockets})"
                await send({"type": "websocket.close", "code": TOO_MANY_SOCKETS, "reason": reason})
            return
        self.sockets[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.sockets[client] -= 1
            if self.sockets[client] <= 0:
                del self.sockets[client]


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
