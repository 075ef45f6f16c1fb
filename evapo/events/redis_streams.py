"""Distributed event log: one Redis Stream per job, entry id ``<seq>-0``, trimmed and expiring.

Key layout (the only Redis keys this module touches):

* ``evapo:events:{job_id}`` -- the job's stream. Each entry id is ``<seq>-0`` so replay after a
  sequence number is a plain ``XRANGE``/``XREAD`` by id; the entry's fields are ``ts`` (unix time
  [s]) and ``e`` (the event's JSON without ``seq``/``ts``).

Sequence numbers are assigned inside one Lua script (read the stream's newest id, add one, ``XADD``,
refresh the TTL), so concurrent appenders from any number of processes never share a seq. Redis
restarts are survived: every operation reconnects with a bounded backoff, :meth:`follow` resumes
from the last id it delivered, and an appender remembers the last seq it assigned per job so a
stream lost with a non-persistent Redis continues above it instead of restarting at 1.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from evapo.events.messages import Event, event_adapter, is_terminal
from evapo.logging import get_logger

log = get_logger(__name__)

STREAM_PREFIX = "evapo:events:"
"""Prefix of every job stream key (``evapo:events:{job_id}``)."""

_T = TypeVar("_T")
_MAX_FLOORS = 10_000  # jobs whose last seq an appender remembers (oldest forgotten first)

# KEYS[1] = stream; ARGV = floor seq, maxlen, ttl [s], ts [s], event JSON.
_APPEND_LUA = """
local seq = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 then
  local last = tonumber(string.match(top[1][1], '^(%d+)-'))
  if last > seq then seq = last end
end
seq = seq + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], tostring(seq) .. '-0',
           'ts', ARGV[4], 'e', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return seq
"""

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


def stream_key(job_id: str) -> str:
    """Redis key of ``job_id``'s stream."""
    return f"{STREAM_PREFIX}{job_id}"


def _seq_of(entry_id: str | bytes) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


def _decode(entry_id: str | bytes, fields: dict[Any, Any]) -> Event:
    def field(name: str) -> str:
        value = fields.get(name, fields.get(name.encode()))
        if value is None:
            raise ValueError(f"stream entry {entry_id!r} has no field {name!r}")
        return value.decode() if isinstance(value, bytes) else str(value)

    body = json.loads(field("e"))
    body["seq"] = _seq_of(entry_id)
    body["ts"] = float(field("ts"))
    return event_adapter.validate_python(body)


class RedisStreamEventLog:
    """:class:`evapo.events.base.EventLog` on Redis Streams (distributed mode)."""

    def __init__(
        self,
        redis_url: str,
        *,
        maxlen: int = 10_000,
        ttl_s: int = 7 * 86400,
        retry_for_s: float = 30.0,
        block_ms: int = 5_000,
        max_connections: int = 10_000,
    ) -> None:
        """Connect lazily to ``redis_url``.

        ``maxlen`` caps each job's stream (approximate trim), ``ttl_s`` [s] expires a stream after
        its last append, ``retry_for_s`` [s] bounds how long an append/read waits for Redis to
        come back, ``block_ms`` [ms] is the longest single ``XREAD BLOCK`` of :meth:`follow`,
        ``max_connections`` caps the pool (one connection per concurrent follower).
        """
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be >= 1 s, got {ttl_s}")
        self.maxlen = maxlen
        self.ttl_s = ttl_s
        self.retry_for_s = retry_for_s
        self.block_ms = block_ms
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            redis_url,
            protocol=2,  # RESP2 replies: XREAD gives [(stream, [(id, fields), ...])]
            socket_connect_timeout=2.0,
            health_check_interval=15,
            # Each following socket holds a connection in XREAD BLOCK: redis-py 8's default
            # pool of 100 made the 101st follower fail and back off (seconds of event lag).
            max_connections=max_connections,
        )
        self._append_script = self._redis.register_script(_APPEND_LUA)
        self._floor: dict[str, int] = {}

    async def _retrying(self, what: str, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op``, retrying transient connection errors for up to ``retry_for_s`` [s]."""
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.05
        while True:
            try:
                return await op()
            except _TRANSIENT as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("redis_unavailable", op=what, error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def append(self, event: Event) -> Event:
        """Store ``event``, assigning the next seq atomically and ``ts`` now; return it."""
        ts = time.time()
        payload = event.model_dump_json(exclude={"seq", "ts"})
        key = stream_key(event.job_id)
        floor = self._floor.get(event.job_id, 0)

        async def op() -> int:
            result = await self._append_script(
                keys=[key], args=[floor, self.maxlen, self.ttl_s, repr(ts), payload]
            )
            return int(result)

        seq = await self._retrying("append", op)
        self._floor.pop(event.job_id, None)
        if not is_terminal(event):
            self._floor[event.job_id] = seq
            if len(self._floor) > _MAX_FLOORS:
                self._floor.pop(next(iter(self._floor)))
        return event.model_copy(update={"seq": seq, "ts": ts})

    async def read(self, job_id: str, after: int = 0) -> list[Event]:
        """Every stored event of ``job_id`` with ``seq > after``, in order."""
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")

        async def op() -> list[Any]:
            entries: Any = await self._redis.xrange(stream_key(job_id), min=f"{after + 1}-0")
            return list(entries or [])

        entries = await self._retrying("read", op)
        return [_decode(entry_id, fields) for entry_id, fields in entries]

    async def follow(
        self, job_id: str, after: int = 0, *, idle_timeout_s: float | None = None
    ) -> AsyncIterator[Event | None]:
        """Replay events after ``after``, then yield live ones until a terminal event.

        Yields ``None`` each time ``idle_timeout_s`` [s] passes without an event, also while
        Redis is unreachable (the follower reconnects and resumes from the last seq it yielded).
        """
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        key = stream_key(job_id)
        last = after
        idle_since = time.monotonic()
        delay = 0.05
        while True:
            if idle_timeout_s is None:
                block_ms = self.block_ms
            else:
                left = idle_timeout_s - (time.monotonic() - idle_since)
                if left <= 0:
                    yield None
                    idle_since = time.monotonic()
                    continue
                block_ms = max(1, min(self.block_ms, int(left * 1000)))
            try:
                reply: Any = await self._redis.xread({key: f"{last}-0"}, count=500, block=block_ms)
                delay = 0.05
            except _TRANSIENT as exc:
                log.warning("redis_follow_retry", job_id=job_id, error=str(exc), after=last)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    event = _decode(entry_id, fields)
                    last = event.seq
                    idle_since = time.monotonic()
                    yield event
                    if is_terminal(event):
                        return

    async def ping(self) -> bool:
        """True when Redis answers a PING now (no retry)."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
