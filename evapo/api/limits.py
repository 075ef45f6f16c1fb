"""Abuse limits of the API, per client address.

* submissions (every ``POST`` under ``/api/``): a GCRA rate limit per client, answered with 429
  and ``Retry-After`` [s] when exceeded (``submit_rate_per_min``, ``submit_burst``);
* request bodies: at most ``max_body_bytes`` (413), checked on ``Content-Length`` and while reading;
* WebSockets: at most ``ws_max_per_client`` open at once per client; one more is accepted and
  closed at once with code 1013 (try again later) and a reason saying why.

Embedded mode keeps the counts in the process (:class:`LocalLimits`). Distributed mode shares
them through Redis (:class:`SharedLimits`), so a client meets the same limits whichever API
processes its requests reach: the rate is one GCRA bucket per client updated in one Lua script
(Redis's clock), and each open socket is a lease in a sorted set per client that its API process
renews while the socket lives, so the sockets of a crashed API process stop counting once their
leases run out. While Redis cannot answer, each process falls back to its own counts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import HTTPException
from redis.exceptions import RedisError
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


class ClientLimits(Protocol):
    """Where the submission rate and the open sockets of each client are counted."""

    async def take_submission(self, client: str) -> float:
        """Take one submission for ``client``: 0 when allowed, else the seconds to wait [s]."""
        ...

    async def open_socket(self, client: str) -> str | None:
        """Count one more open socket of ``client``: a token to release it, or None (at cap)."""
        ...

    async def close_socket(self, client: str, token: str) -> None:
        """Release the socket counted under ``token``."""
        ...

    async def aclose(self) -> None:
        """Release connections and tasks."""
        ...


class LocalLimits:
    """:class:`ClientLimits` in this process (embedded mode; fallback of :class:`SharedLimits`)."""

    def __init__(self, rate_per_min: float, burst: int, max_sockets: int) -> None:
        self.submissions = RateLimiter(rate_per_min, burst)
        self.max_sockets = max_sockets
        self.sockets: Counter[str] = Counter()

    async def take_submission(self, client: str) -> float:
        """Take one submission for ``client``: 0 when allowed, else the seconds to wait [s]."""
        return self.submissions.acquire(client)

    def open_now(self, client: str) -> str | None:
        """:meth:`open_socket` without waiting."""
        if self.sockets[client] >= self.max_sockets:
            return None
        self.sockets[client] += 1
        return "local"

    async def open_socket(self, client: str) -> str | None:
        """Count one more open socket of ``client``: a token to release it, or None (at cap)."""
        return self.open_now(client)

    def close_now(self, client: str) -> None:
        """:meth:`close_socket` without waiting."""
        self.sockets[client] -= 1
        if self.sockets[client] <= 0:
            del self.sockets[client]

    async def close_socket(self, client: str, token: str) -> None:
        """Release one open socket of ``client``."""
        self.close_now(client)

    async def aclose(self) -> None:
        """Nothing to release."""


LIMITS_PREFIX = "evapo:limits:"
"""Prefix of the Redis keys of the shared limits: ``evapo:limits:{namespace}:submit:{client}``
and ``evapo:limits:{namespace}:ws:{client}``."""

# KEYS[1] = the client's bucket; ARGV = interval [ms], tolerance [ms]. Returns the wait [ms].
_SUBMIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait > 0 then return tostring(wait) end
local new = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
return '0'
"""

# KEYS[1] = the client's leases; ARGV = member, max open, lease [ms]. Returns 1 (opened) or 0.
_OPEN_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] = the client's leases; ARGV = lease [ms], members still open here.
_RENEW_LUA = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
"""


class SharedLimits:
    """:class:`ClientLimits` shared by every API process through Redis (distributed mode).

    The processes sharing ``namespace`` share the counts (:func:`client_limits` uses the job
    queue: the API processes of one installation). ``lease_s`` [s] is how long a socket stays
    counted without being renewed (renewed every third of it while open); ``timeout_s`` [s]
    bounds each Redis call on the request path; a burst of requests queues for one of
    ``max_connections`` (up to ten times ``timeout_s``) instead of opening a connection each.
    """

    def __init__(
        self,
        redis_url: str,
        rate_per_min: float,
        burst: int,
        max_sockets: int,
        *,
        namespace: str = "evapo",
        lease_s: float = 30.0,
        timeout_s: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if lease_s <= 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s}")
        self.local = LocalLimits(rate_per_min, burst, max_sockets)
        self.prefix = f"{LIMITS_PREFIX}{namespace}:"
        self.max_sockets = max_sockets
        self.lease_ms = math.ceil(lease_s * 1000)
        self.interval_ms = 60_000.0 / rate_per_min
        self.tolerance_ms = self.interval_ms * (burst - 1)
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url,
            max_connections=max_connections,
            timeout=10 * timeout_s,  # a burst waits for a free connection (Redis down: refused)
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # the fallback answers at once; no retry on the path
        )
        self._redis: Any = aioredis.Redis.from_pool(pool)
        self._submit = self._redis.register_script(_SUBMIT_LUA)
        self._open = self._redis.register_script(_OPEN_LUA)
        self._renew = self._redis.register_script(_RENEW_LUA)
        self._owner = uuid.uuid4().hex[:12]
        self._serial = itertools.count(1)
        self._open_here: dict[str, set[str]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._degraded = False

    def _fallback(self, what: str, exc: Exception) -> None:
        if not self._degraded:
            log.warning("limits_redis_unavailable", op=what, error=str(exc), fallback="process")
        self._degraded = True

    def _recovered(self) -> None:
        if self._degraded:
            log.info("limits_redis_back")
        self._degraded = False

    async def take_submission(self, client: str) -> float:
        """Take one submission for ``client`` from its shared bucket (seconds to wait, or 0)."""
        key = f"{self.prefix}submit:{client}"
        try:
            wait_ms = float(
                await self._submit(keys=[key], args=[self.interval_ms, self.tolerance_ms])
            )
        except (RedisError, OSError) as exc:
            self._fallback("submit", exc)
            return self.local.submissions.acquire(client)
        self._recovered()
        return wait_ms / 1000.0

    async def open_socket(self, client: str) -> str | None:
        """Lease one more open socket of ``client`` (None when it holds ``max_sockets``)."""
        member = f"{self._owner}:{next(self._serial)}"
        key = f"{self.prefix}ws:{client}"
        try:
            opened = int(
                await self._open(keys=[key], args=[member, self.max_sockets, self.lease_ms])
            )
        except (RedisError, OSError) as exc:
            self._fallback("open_socket", exc)
            return self.local.open_now(client)
        self._recovered()
        if not opened:
            return None
        self._open_here.setdefault(client, set()).add(member)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        return member

    async def close_socket(self, client: str, token: str) -> None:
        """Release the lease ``token`` (a socket counted by the fallback is released there)."""
        if token == "local":
            self.local.close_now(client)
            return
        members = self._open_here.get(client)
        if members is not None:
            members.discard(token)
            if not members:
                del self._open_here[client]
        try:
            await self._redis.zrem(f"{self.prefix}ws:{client}", token)
        except (RedisError, OSError) as exc:
            self._fallback("close_socket", exc)  # the lease runs out by itself

    async def ping(self) -> bool:
        """True when Redis answers a PING now."""
        return bool(await self._redis.ping())

    async def renew(self) -> None:
        """Renew the leases of every socket open in this process."""
        for client, members in list(self._open_here.items()):
            key = f"{self.prefix}ws:{client}"
            await self._renew(keys=[key], args=[self.lease_ms, *sorted(members)])

    async def _renew_forever(self) -> None:
        while self._open_here:
            await asyncio.sleep(self.lease_ms / 3000.0)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                self._fallback("renew", exc)

    async def aclose(self) -> None:
        """Stop renewing (leases left run out) and close the connections."""
        if self._renewer is not None and not self._renewer.done():
            self._renewer.cancel()
        await self._redis.aclose()


def client_limits(settings: Settings) -> ClientLimits:
    """The limits of ``settings``' mode: shared through Redis (distributed) or in-process."""
    if settings.mode == "distributed":
        return SharedLimits(
            settings.redis_url,
            settings.submit_rate_per_min,
            settings.submit_burst,
            settings.ws_max_per_client,
            namespace=settings.job_queue,
        )
    return LocalLimits(
        settings.submit_rate_per_min, settings.submit_burst, settings.ws_max_per_client
    )


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

    def __init__(
        self, app: ASGIApp, *, settings: Settings, limits: ClientLimits | None = None
    ) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_sockets = settings.ws_max_per_client
        self.rate_per_min = settings.submit_rate_per_min
        self.limits = limits or LocalLimits(
            settings.submit_rate_per_min, settings.submit_burst, settings.ws_max_per_client
        )

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
            wait = await self.limits.take_submission(client)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                log.warning("rate_limited", client=client, path=path, retry_after_s=retry)
                detail = (
                    f"too many submissions from {client}: at most "
                    f"{self.rate_per_min:g} per minute; retry in {retry} s"
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
        token = await self.limits.open_socket(client)
        if token is None:
            log.warning("sockets_limited", client=client, path=scope["path"], cap=self.max_sockets)
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                reason = f"too many open sockets from this client (at most {self.max_sockets})"
                await send({"type": "websocket.close", "code": TOO_MANY_SOCKETS, "reason": reason})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await self.limits.close_socket(client, token)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
