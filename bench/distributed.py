"""Distributed-mode plumbing benchmark: Redis Streams event log and Celery submit, on local Redis.

Measures, with baselines taken in the same run:
* event latency, append -> a follower blocked in ``XREAD`` receives it, 20 jobs followed at once,
  against the in-memory event log of the embedded mode doing the same;
* append throughput (Lua script: atomic seq + ``XADD`` + ``EXPIRE``) against raw ``XADD``;
* ``CeleryJobRunner.submit`` latency (publish to the Redis broker) against a Redis ``PING``.

Uses Redis DB 15 (events) and 13 (broker, a queue unique to the run), and deletes what it wrote.
Run: ``.venv/bin/python -m bench.distributed``; the last line is
``distributed: event p99 <X> ms (memory <M> ms), append <A>/s (raw XADD <B>/s), submit p99 <S> ms
(redis ping p99 <P> ms)``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from evapo.config import Settings
from evapo.events.base import EventLog
from evapo.events.memory import MemoryEventLog
from evapo.events.messages import Progress, Success
from evapo.events.redis_streams import RedisStreamEventLog, stream_key
from evapo.logging import configure_logging

EVENTS_URL = "redis://127.0.0.1:6379/15"
BROKER_URL = "redis://127.0.0.1:6379/13"
JOBS = 20
EVENTS_PER_JOB = 50
APPENDS = 2000
SUBMITS = 300


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def event_latency(log: EventLog, prefix: str) -> list[float]:
    """Per-event delay [ms] from the start of ``append`` to a follower receiving it."""
    jobs = [f"{prefix}{i}" for i in range(JOBS)]
    sent: dict[tuple[str, int], float] = {}
    delays: list[float] = []
    ready = asyncio.Barrier(JOBS + 1)

    async def follower(job_id: str) -> None:
        stream = log.follow(job_id, idle_timeout_s=0.05)
        first = True
        async for event in stream:
            if first:
                first = False
                await ready.wait()
            if event is None:
                continue
            delays.append((time.perf_counter() - sent[(job_id, event.seq)]) * 1000)
            if event.type == "SUCCESS":
                return

    tasks = [asyncio.create_task(follower(j)) for j in jobs]
    await ready.wait()
    for n in range(1, EVENTS_PER_JOB + 1):
        for job_id in jobs:
            sent[(job_id, n)] = time.perf_counter()
            if n == EVENTS_PER_JOB:
                await log.append(Success(job_id=job_id, summary={}, result_url="/r"))
            else:
                await log.append(
                    Progress(job_id=job_id, progress=n, step="bench", message=f"event {n}")
                )
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    return delays


async def throughput(op: Callable[[int], Awaitable[object]], count: int) -> float:
    """Operations per second of ``op`` run ``count`` times, 8 at a time."""
    start = time.perf_counter()
    semaphore = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with semaphore:
            await op(i)

    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - start)


async def timed(op: Callable[[], Awaitable[object]], count: int) -> list[float]:
    """Latency [ms] of ``op`` called ``count`` times in sequence."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        await op()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def main() -> None:
    """Run every measurement and print the summary line last."""
    configure_logging("WARNING", json=False)
    # Imported after configuring: module loggers bind the logging configuration at import.
    from evapo.jobs.distributed import CeleryJobRunner

    run = uuid.uuid4().hex[:8]
    client = aioredis.Redis.from_url(EVENTS_URL)
    redis_log = RedisStreamEventLog(EVENTS_URL)
    memory_log = MemoryEventLog(max_jobs=1000)
    written: list[str] = []
    try:
        mem = await event_latency(memory_log, f"bench-mem-{run}-")
        red = await event_latency(redis_log, f"bench-rs-{run}-")
        written += [stream_key(f"bench-rs-{run}-{i}") for i in range(JOBS)]
        print(f"event latency memory: p50 {_pct(mem, 0.5):.2f} ms, p99 {_pct(mem, 0.99):.2f} ms")
        print(f"event latency redis:  p50 {_pct(red, 0.5):.2f} ms, p99 {_pct(red, 0.99):.2f} ms")

        lua_job, raw_key = f"bench-append-{run}", f"evapo:bench:raw:{run}"
        written += [stream_key(lua_job), raw_key]
        event = Progress(job_id=lua_job, progress=1, step="bench", message="append")
        lua = await throughput(lambda _i: redis_log.append(event), APPENDS)
        payload = event.model_dump_json()
        raw = await throughput(
            lambda _i: client.xadd(raw_key, {"e": payload}, maxlen=10_000, approximate=True),
            APPENDS,
        )
        print(f"append: Lua seq+XADD+EXPIRE {lua:.0f}/s, raw XADD {raw:.0f}/s ({lua / raw:.2f}x)")

        queue = f"evapo.bench.{run}"
        settings = Settings(
            mode="distributed",
            database_url="postgresql+psycopg://postgres@127.0.0.1:5432/evapo_test",
            broker_url=BROKER_URL,
            job_queue=queue,
        )
        runner = CeleryJobRunner(settings)
        await runner.start()
        try:
            submits = await timed(lambda: runner.submit(uuid.uuid4().hex), SUBMITS)
        finally:
            await runner.stop()
            broker = aioredis.Redis.from_url(BROKER_URL)
            await broker.delete(queue, f"_kombu.binding.{queue}")
            await broker.aclose()
        pings = await timed(client.ping, SUBMITS)
        print(
            f"submit: p50 {_pct(submits, 0.5):.2f} ms, p99 {_pct(submits, 0.99):.2f} ms; "
            f"redis ping p50 {_pct(pings, 0.5):.2f} ms, p99 {_pct(pings, 0.99):.2f} ms"
        )
        print(
            f"distributed: event p99 {_pct(red, 0.99):.1f} ms (memory {_pct(mem, 0.99):.1f} ms), "
            f"append {lua:.0f}/s (raw XADD {raw:.0f}/s), submit p99 {_pct(submits, 0.99):.1f} ms "
            f"(redis ping p99 {_pct(pings, 0.99):.1f} ms)"
        )
    finally:
        if written:
            await client.delete(*written)
        await redis_log.close()
        await memory_log.close()
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
