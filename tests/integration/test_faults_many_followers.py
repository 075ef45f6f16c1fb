"""More concurrent followers than redis-py's default pool (100) on one RedisStreamEventLog.

Each follower holds a connection in ``XREAD BLOCK``; with the default pool the 101st failed with
"Too many connections" and backed off (seconds of event lag under load, seen by bench.load).
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from evapo.events.messages import Success
from evapo.events.redis_streams import RedisStreamEventLog, stream_key
from tests.integration.distributed_support import TEST_REDIS_DB, unique

pytestmark = pytest.mark.integration

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
FOLLOWERS = 150


async def _blocked_clients_reach(n: int, timeout_s: float = 10.0) -> bool:
    """Wait until Redis reports at least ``n`` clients blocked (each XREAD reached Redis)."""
    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            info = await probe.info("clients")
            if int(info["blocked_clients"]) >= n:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await probe.aclose()


async def test_150_blocked_followers_all_get_their_event_without_retrying() -> None:
    log = RedisStreamEventLog(REDIS_URL, block_ms=10_000)
    jobs = [unique("many-") for _ in range(FOLLOWERS)]
    all_blocked = asyncio.Event()
    waiting = 0

    async def first_event(job_id: str) -> int:
        nonlocal waiting
        waiting += 1
        if waiting == FOLLOWERS:
            all_blocked.set()
        async for event in log.follow(job_id):
            assert event is not None
            return event.seq
        raise AssertionError("follow ended without an event")

    try:
        with capture_logs() as logs:
            followers = [asyncio.create_task(first_event(j)) for j in jobs]
            await all_blocked.wait()
            assert await _blocked_clients_reach(FOLLOWERS), "some followers are not blocked"
            for job_id in jobs:
                await log.append(Success(job_id=job_id, summary={}, result_url="/r"))
            seqs = await asyncio.wait_for(asyncio.gather(*followers), 30)
        assert seqs == [1] * FOLLOWERS
        retries = [e for e in logs if e["event"] in ("redis_follow_retry", "redis_unavailable")]
        assert retries == [], retries[:3]
    finally:
        await log.close()
        client = aioredis.Redis.from_url(REDIS_URL)
        await client.delete(*(stream_key(j) for j in jobs))
        await client.aclose()
