"""Many concurrent followers on one RedisStreamEventLog (one API process with many sockets).

Following costs one pub/sub connection per log, not one Redis connection per follower: before,
each follower held a connection in ``XREAD BLOCK``, so past redis-py's pool of 100 followers
failed "Too many connections" and backed off, and a pool big enough made every socket a Redis
client of its own. Live events reach every follower through the log's pub/sub hub, within far
less than ``recheck_s`` (the follower's fallback re-read of its stream).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from evapo.events.messages import Progress, Success
from evapo.events.redis_streams import RedisStreamEventLog
from tests.integration.distributed_support import private_redis, unique

pytestmark = pytest.mark.integration

FOLLOWERS = 1_000
POOL = 8
RECHECK_S = 120.0
"""Far beyond every wait below: a live event that arrives came through the pub/sub hub."""


async def _numpat(url: str) -> int:
    probe = aioredis.Redis.from_url(url)
    try:
        return int(await probe.pubsub_numpat())
    finally:
        await probe.aclose()


async def _subscribed(url: str, timeout_s: float = 10.0) -> bool:
    """Wait until Redis reports the log's pattern subscription."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await _numpat(url) > 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def _connected_clients(url: str) -> int:
    probe = aioredis.Redis.from_url(url)
    try:
        return int((await probe.info("clients"))["connected_clients"]) - 1  # minus the probe
    finally:
        await probe.aclose()


async def test_1000_followers_share_one_subscription_and_all_get_live_events(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path) as server:
        log = RedisStreamEventLog(server.url, recheck_s=RECHECK_S, max_connections=POOL)
        jobs = [unique("many-") for _ in range(FOLLOWERS)]
        first_seen = [asyncio.Event() for _ in jobs]

        async def follow(i: int) -> list[int]:
            seqs: list[int] = []
            async for event in log.follow(jobs[i]):
                assert event is not None
                seqs.append(event.seq)
                first_seen[i].set()
            return seqs

        try:
            with capture_logs() as logs:
                followers = [asyncio.create_task(follow(i)) for i in range(len(jobs))]
                assert await _subscribed(server.url), "the log never subscribed"
                assert await _numpat(server.url) == 1
                assert await _connected_clients(server.url) <= POOL + 1
                for job_id in jobs:
                    await log.append(Progress(job_id=job_id, progress=50, step="s", message="m"))
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_seen)), 30)
                for job_id in jobs:
                    await log.append(Success(job_id=job_id, summary={}, result_url="/r"))
                seqs = await asyncio.wait_for(asyncio.gather(*followers), 30)
            assert seqs == [[1, 2]] * FOLLOWERS
            retries = [e for e in logs if e["event"].startswith("redis_")]
            assert retries == [], retries[:3]
            assert await _connected_clients(server.url) <= POOL + 1
        finally:
            await log.close()
