"""Distributed event log: one Redis Stream per job, entry id ``<seq>-0``, trimmed and expiring.

Key layout (the only Redis keys this module touches):

* ``evapo:events:{job_id}`` -- the job's stream. Each entry id is ``<seq>-0`` so replay after a
  sequence number is a plain ``XRANGE`` by id; the entry's fields are ``ts`` (unix time [s]) and
  ``e`` (the event's JSON without ``seq``/``ts``).
* pub/sub channel ``evapo:live:{db}:{job_id}`` -- every append is also published there (same Lua
  script, so in the same order as the stream), as ``<seq> <ts> <event JSON>``. The Redis database
  number is part of the name because pub/sub channels are shared by every database.

Sequence numbers are assigned inside one Lua script (read the stream's newest id, add one, ``XADD``,
refresh the TTL, ``PUBLISH``), so concurrent appenders from any number of processes never share a
seq.

Following many jobs from one process costs one Redis connection, not one per follower: a single
hub task per process pattern-subscribes to the live channels of its database and hands each
published event, decoded once, to the local followers of that job. The stream stays the source
of truth: a follower replays it after the last seq it yielded whenever it may have missed a
notification (when it starts, when the hub (re)subscribes, when a seq is skipped, and after
``recheck_s`` without news), and drops seqs it has already yielded, so it never skips an event
and never yields one twice.

Redis restarts are survived: every operation reconnects with a bounded backoff, followers resume
from the last seq they yielded, and an appender remembers the last seq it assigned per job so a
stream lost with a non-persistent Redis continues above it instead of restarting at 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from evapo.events.messages import Event, event_adapter, is_terminal
from evapo.logging import get_logger

log = get_logger(__name__)

STREAM_PREFIX = "evapo:events:"
"""Prefix of every job stream key (``evapo:events:{job_id}``)."""
LIVE_PREFIX = "evapo:live:"
"""Prefix of the live channels (``evapo:live:{db}:{job_id}``)."""

_T = TypeVar("_T")
_MAX_FLOORS = 10_000  # jobs whose last seq an appender remembers (oldest forgotten first)

# KEYS[1] = stream; ARGV = floor seq, maxlen, ttl [s], ts [s], event JSON, live channel.
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
redis.call('PUBLISH', ARGV[6], tostring(seq) .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
return seq
"""

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
_RESYNC: Final = "resync"
"""Hub -> follower: notifications may have been missed; read the stream after your last seq."""


def stream_key(job_id: str) -> str:
    """Redis key of ``job_id``'s stream."""
    return f"{STREAM_PREFIX}{job_id}"


def live_channel(db: int, job_id: str) -> str:
    """Pub/sub channel on which ``job_id``'s appends in Redis database ``db`` are published."""
    return f"{LIVE_PREFIX}{db}:{job_id}"


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


def _decode_live(data: bytes) -> Event:
    """An event from its live notification ``<seq> <ts> <event JSON>``."""
    seq, ts, payload = data.split(b" ", 2)
    body = json.loads(payload)
    body["seq"] = int(seq)
    body["ts"] = float(ts)
    return event_adapter.validate_python(body)


_Item = Event | str
"""What a follower's queue holds: a live event, or :data:`_RESYNC`."""


async def _next(queue: asyncio.Queue[_Item], timeout_s: float) -> _Item | None:
    """The next queued item, waiting at most ``timeout_s`` [s]; None when none came."""
    if not queue.empty():
        return queue.get_nowait()
    if timeout_s <= 0:
        return None
    try:
        return await asyncio.wait_for(queue.get(), timeout_s)
    except TimeoutError:
        return None


class _Hub:
    """One pub/sub connection per process; fans live events out to the local followers.

    Runs as one task, started by the first follower. Each (re)subscription (start, reconnect
    after a Redis restart, redis-py's own reconnect) tells every follower to re-read its stream,
    because notifications published meanwhile were lost.
    """

    def __init__(self, redis: aioredis.Redis, db: int) -> None:
        self._redis = redis
        self._prefix = f"{LIVE_PREFIX}{db}:".encode()
        self._followers: dict[str, set[asyncio.Queue[_Item]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def join(self, job_id: str) -> asyncio.Queue[_Item]:
        """A queue that receives ``job_id``'s live events from now on (start the hub if needed)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._run(), name="evapo-events-hub")
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._followers.setdefault(job_id, set()).add(queue)
        return queue

    def leave(self, job_id: str, queue: asyncio.Queue[_Item]) -> None:
        """Stop delivering to ``queue``."""
        queues = self._followers.get(job_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._followers[job_id]

    def _resync_all(self) -> None:
        for queues in self._followers.values():
            for queue in queues:
                queue.put_nowait(_RESYNC)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        queues = self._followers.get(channel[len(self._prefix) :].decode())
        if not queues:
            return  # nobody follows that job in this process
        try:
            event = _decode_live(data)
        except ValueError as exc:
            log.warning("redis_live_undecodable", channel=channel.decode(), error=str(exc))
            item: _Item = _RESYNC  # the stream has it; let the followers read it there
        else:
            item = event
        for queue in queues:
            queue.put_nowait(item)

    async def _run(self) -> None:
        """Subscribe, dispatch, and on any connection failure resubscribe with backoff."""
        delay = 0.05
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + b"*")
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "pmessage":
                        self._dispatch(message["channel"], message["data"])
                    elif message["type"] == "psubscribe":
                        delay = 0.05
                        self._resync_all()
            except (RedisError, OSError) as exc:
                log.warning("redis_live_retry", error=str(exc), retry_in_s=delay)
                self._resync_all()  # they re-read now, and again once we are back
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def close(self) -> None:
        """Stop the hub task (unless its event loop is already gone)."""
        task, self._task = self._task, None
        if task is None or task.done() or self._loop is None or self._loop.is_closed():
            return
        task.cancel()
        if self._loop is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class _PendingRead:
    """A read of a stream that followers may share until it is sent."""

    sent: bool = False
    result: asyncio.Future[list[Event]] | None = None


class RedisStreamEventLog:
    """:class:`evapo.events.base.EventLog` on Redis Streams (distributed mode)."""

    def __init__(
        self,
        redis_url: str,
        *,
        maxlen: int = 10_000,
        ttl_s: int = 7 * 86400,
        retry_for_s: float = 30.0,
        recheck_s: float = 15.0,
        max_connections: int = 64,
    ) -> None:
        """Connect lazily to ``redis_url``.

        ``maxlen`` caps each job's stream (approximate trim), ``ttl_s`` [s] expires a stream after
        its last append, ``retry_for_s`` [s] bounds how long an append/read waits for Redis to
        come back, ``recheck_s`` [s] is how long a follower waits for a live notification before
        it re-reads its stream anyway, ``max_connections`` caps the pool (requests beyond it wait
        for a free connection; following takes one connection per process, not per follower).
        """
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be >= 1 s, got {ttl_s}")
        if recheck_s <= 0:
            raise ValueError(f"recheck_s must be > 0 s, got {recheck_s}")
        self.maxlen = maxlen
        self.ttl_s = ttl_s
        self.retry_for_s = retry_for_s
        self.recheck_s = recheck_s
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url,
            protocol=2,  # RESP2 replies: XRANGE gives [(id, fields), ...], pmessage as a list
            socket_connect_timeout=2.0,
            socket_keepalive=True,
            health_check_interval=15,
            max_connections=max_connections,
            timeout=retry_for_s,
        )
        self._redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        db = int(pool.connection_kwargs.get("db", 0) or 0)
        self._db = db
        self._append_script = self._redis.register_script(_APPEND_LUA)
        self._floor: dict[str, int] = {}
        self._hub = _Hub(self._redis, db)
        self._pending_reads: dict[tuple[str, int], _PendingRead] = {}

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
        channel = live_channel(self._db, event.job_id)
        floor = self._floor.get(event.job_id, 0)

        async def op() -> int:
            result = await self._append_script(
                keys=[key], args=[floor, self.maxlen, self.ttl_s, repr(ts), payload, channel]
            )
            return int(result)

        seq = await self._retrying("append", op)
        self._floor.pop(event.job_id, None)
        if not is_terminal(event):
            self._floor[event.job_id] = seq
            if len(self._floor) > _MAX_FLOORS:
                self._floor.pop(next(iter(self._floor)))
        return event.model_copy(update={"seq": seq, "ts": ts})

    async def _range(self, job_id: str, after: int) -> list[Event]:
        """One ``XRANGE`` after ``after`` (no retry)."""
        entries: Any = await self._redis.xrange(stream_key(job_id), min=f"{after + 1}-0")
        return [_decode(entry_id, fields) for entry_id, fields in entries or []]

    async def _shared_range(self, job_id: str, after: int) -> list[Event]:
        """A follower's ``XRANGE``, shared with the followers of the job that ask for the same
        range before it is sent: sockets of one job open together, and a hub resubscription
        makes every follower re-read at once; one read serves them all.

        A read not yet sent when a follower asks is sent after it asked (after it joined the
        hub, or learnt that it missed news), so it holds all that follower needs.
        """
        key = (job_id, after)
        pending = self._pending_reads.get(key)
        if pending is None or pending.sent:
            pending = _PendingRead()
            self._pending_reads[key] = pending
            pending.result = asyncio.ensure_future(self._send_shared(key, pending))
        assert pending.result is not None
        return list(await asyncio.shield(pending.result))

    async def _send_shared(self, key: tuple[str, int], pending: _PendingRead) -> list[Event]:
        await asyncio.sleep(0)  # followers asking in this loop turn share the read
        pending.sent = True
        if self._pending_reads.get(key) is pending:
            del self._pending_reads[key]
        return await self._range(*key)

    async def read(self, job_id: str, after: int = 0) -> list[Event]:
        """Every stored event of ``job_id`` with ``seq > after``, in order."""
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        return await self._retrying("read", lambda: self._range(job_id, after))

    async def follow(
        self, job_id: str, after: int = 0, *, idle_timeout_s: float | None = None
    ) -> AsyncIterator[Event | None]:
        """Replay events after ``after``, then yield live ones until a terminal event.

        Yields ``None`` each time ``idle_timeout_s`` [s] passes without an event, also while
        Redis is unreachable (the follower reconnects and resumes from the last seq it yielded).
        """
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        queue = self._hub.join(job_id)  # before the first read: nothing falls in between
        try:
            last = after
            stale = True  # the stream may hold events we have not yielded
            idle_since = time.monotonic()
            delay = 0.05
            while True:
                if stale:
                    try:
                        events = await self._shared_range(job_id, last)
                    except _TRANSIENT as exc:
                        log.warning("redis_follow_retry", job_id=job_id, error=str(exc), after=last)
                        events = None
                    if events is not None:
                        stale, delay = False, 0.05
                        for event in events:
                            if event.seq <= last:
                                continue
                            last = event.seq
                            idle_since = time.monotonic()
                            yield event
                            if is_terminal(event):
                                return
                wait_s = delay if stale else self.recheck_s
                if idle_timeout_s is not None:
                    wait_s = min(wait_s, idle_timeout_s - (time.monotonic() - idle_since))
                item = await _next(queue, wait_s)
                if item is None:
                    if idle_timeout_s is not None and (
                        time.monotonic() - idle_since >= idle_timeout_s
                    ):
                        yield None
                        idle_since = time.monotonic()
                    if stale:
                        delay = min(delay * 2, 1.0)
                    stale = True  # no news for a while: look at the stream itself
                elif isinstance(item, str):
                    stale = True
                elif item.seq == last + 1:
                    last = item.seq
                    idle_since = time.monotonic()
                    yield item
                    if is_terminal(item):
                        return
                elif item.seq > last + 1:
                    stale = True  # a notification went missing: fill the gap from the stream
        finally:
            self._hub.leave(job_id, queue)

    async def ping(self) -> bool:
        """True when Redis answers a PING now (no retry)."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Stop the live hub and close the connection pool."""
        await self._hub.close()
        await self._redis.aclose()
