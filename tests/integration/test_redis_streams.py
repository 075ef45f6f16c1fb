"""RedisStreamEventLog on the real local Redis (DB 15, unique keys) and a private redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from evapo.events.messages import Error, Event, Progress, Success
from evapo.events.redis_streams import RedisStreamEventLog, stream_key
from tests.integration.distributed_support import TEST_REDIS_DB, private_redis, unique

pytestmark = pytest.mark.integration

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
RECHECK_S = 120.0
"""A follower's fallback re-read far beyond every wait here: what arrives came live."""


@pytest.fixture
async def log() -> AsyncIterator[RedisStreamEventLog]:
    event_log = RedisStreamEventLog(REDIS_URL, retry_for_s=2.0)
    yield event_log
    await event_log.close()


@pytest.fixture
async def job_id() -> AsyncIterator[str]:
    jid = unique("test-rs-")
    yield jid
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.delete(stream_key(jid))
    await client.aclose()


def progress(job_id: str, n: int) -> Progress:
    return Progress(job_id=job_id, progress=min(n, 100), step=f"step:{n}", message=f"step {n}")


async def test_append_assigns_rising_seq_and_read_replays_after(
    log: RedisStreamEventLog, job_id: str
) -> None:
    stored = [await log.append(progress(job_id, n)) for n in range(1, 6)]
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert all(e.ts > 0 for e in stored)
    assert await log.read(job_id) == stored
    assert [e.seq for e in await log.read(job_id, after=3)] == [4, 5]
    assert await log.read(job_id, after=5) == []
    assert await log.read(unique("no-such-job-")) == []


async def test_event_fields_round_trip(log: RedisStreamEventLog, job_id: str) -> None:
    sent = Progress(
        job_id=job_id,
        progress=12.5,
        step="fetch:nasa_power",
        message="NASA POWER done",
        data={"days": 365, "cached": False, "note": "ü"},
    )
    stored = await log.append(sent)
    done = await log.append(Success(job_id=job_id, summary={"eto_mean": 4.2}, result_url="/r"))
    assert await log.read(job_id) == [stored, done]
    assert stored.model_dump(exclude={"seq", "ts"}) == sent.model_dump(exclude={"seq", "ts"})


async def test_concurrent_appenders_never_share_a_seq(job_id: str) -> None:
    logs = [RedisStreamEventLog(REDIS_URL) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(logs[i % 4].append(progress(job_id, i)) for i in range(200))
        )
    finally:
        for event_log in logs:
            await event_log.close()
    assert sorted(e.seq for e in results) == list(range(1, 201))
    reader = RedisStreamEventLog(REDIS_URL)
    try:
        stored = await reader.read(job_id)
    finally:
        await reader.close()
    assert [e.seq for e in stored] == list(range(1, 201))
    assert {e.step for e in stored} == {f"step:{i}" for i in range(200)}


async def test_stream_is_trimmed_but_seq_keeps_rising(job_id: str) -> None:
    event_log = RedisStreamEventLog(REDIS_URL, maxlen=10)
    try:
        for n in range(1, 501):
            await event_log.append(progress(job_id, n))
        client = aioredis.Redis.from_url(REDIS_URL)
        length = await client.xlen(stream_key(job_id))
        await client.aclose()
        tail = await event_log.read(job_id)
    finally:
        await event_log.close()
    assert 10 <= length < 500
    assert [e.seq for e in tail] == list(range(501 - len(tail), 501))


async def test_stream_expires_after_last_append(job_id: str) -> None:
    event_log = RedisStreamEventLog(REDIS_URL, ttl_s=1)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await event_log.append(progress(job_id, 1))
        ttl_ms = await client.pttl(stream_key(job_id))
        assert 0 < ttl_ms <= 1000
        for _ in range(60):
            if not await client.exists(stream_key(job_id)):
                break
            await asyncio.sleep(0.05)
        assert not await client.exists(stream_key(job_id))
        assert await event_log.read(job_id) == []
    finally:
        await client.aclose()
        await event_log.close()


async def test_follow_replays_then_blocks_until_new_event_and_ends_on_terminal(
    log: RedisStreamEventLog, job_id: str
) -> None:
    await log.append(progress(job_id, 1))
    await log.append(progress(job_id, 2))
    got: list[Event | None] = []
    idled_twice = asyncio.Event()
    second_live = asyncio.Event()

    async def consume() -> None:
        async for item in log.follow(job_id, after=0, idle_timeout_s=0.1):
            got.append(item)
            if sum(1 for g in got if g is None) == 2:
                idled_twice.set()
            if item is not None and item.seq == 3:
                second_live.set()

    task = asyncio.create_task(consume())
    # Replay arrives, then the follower idles (heartbeat ticks) while nothing is appended.
    await asyncio.wait_for(idled_twice.wait(), 5)
    assert [g.seq for g in got if g is not None] == [1, 2]
    await log.append(progress(job_id, 3))
    await asyncio.wait_for(second_live.wait(), 5)
    await log.append(Error(job_id=job_id, code="internal", message="boom"))
    await asyncio.wait_for(task, 5)
    events = [g for g in got if g is not None]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[-1].type == "ERROR"


async def test_follow_after_resumes_without_gap_or_duplicate(
    log: RedisStreamEventLog, job_id: str
) -> None:
    for n in range(1, 5):
        await log.append(progress(job_id, n))
    await log.append(Success(job_id=job_id, summary={}, result_url="/x"))
    seen = [e.seq async for e in log.follow(job_id, after=2) if e is not None]
    assert seen == [3, 4, 5]
    late = [e.seq async for e in log.follow(job_id) if e is not None]
    assert late == [1, 2, 3, 4, 5]


async def test_followers_asking_together_share_one_read(job_id: str) -> None:
    log = RedisStreamEventLog(REDIS_URL, retry_for_s=2.0, recheck_s=RECHECK_S)
    reads: list[int] = []
    plain_range = log._range

    async def counted(jid: str, after: int) -> list[Event]:
        reads.append(after)
        return await plain_range(jid, after)

    log._range = counted  # type: ignore[method-assign]
    done = unique("test-rs-done-")
    try:  # a finished job's follower starts the hub
        await log.append(Success(job_id=done, summary={}, result_url="/x"))
        assert [e.seq async for e in log.follow(done) if e is not None] == [1]
        await asyncio.sleep(0.3)  # subscribed: no resubscription re-read from here on
        reads.clear()
        await log.append(progress(job_id, 1))

        async def follower() -> list[int]:
            return [e.seq async for e in log.follow(job_id) if e is not None]

        together = [asyncio.create_task(follower()) for _ in range(10)]
        await asyncio.sleep(0.3)
        assert reads == [0]  # ten sockets of one job: one read
        late = asyncio.create_task(follower())  # the read was sent before it joined: its own
        await asyncio.sleep(0.3)
        assert reads == [0, 0]
        await log.append(progress(job_id, 2))
        await log.append(Success(job_id=job_id, summary={}, result_url="/x"))
        seen = await asyncio.wait_for(asyncio.gather(*together, late), 5)
        assert seen == [[1, 2, 3]] * 11  # every event once, the live ones included
        assert reads == [0, 0]
    finally:
        await log._redis.delete(stream_key(done))
        await log.close()


async def test_two_jobs_never_see_each_others_events(log: RedisStreamEventLog) -> None:
    a, b = unique("test-rs-a-"), unique("test-rs-b-")
    try:
        await asyncio.gather(*(log.append(progress(j, n)) for n in range(1, 21) for j in (a, b)))
        await log.append(Success(job_id=a, summary={}, result_url="/a"))
        await log.append(Success(job_id=b, summary={}, result_url="/b"))
        for jid in (a, b):
            events = [e async for e in log.follow(jid) if e is not None]
            assert {e.job_id for e in events} == {jid}
            assert [e.seq for e in events] == list(range(1, 22))
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        await client.delete(stream_key(a), stream_key(b))
        await client.aclose()


async def test_survives_a_redis_restart(tmp_path: Path) -> None:
    """Followers resume after a restart: one woken by its heartbeat ticks, one only by the
    pub/sub hub resubscribing (its fallback re-read is far beyond the test's waits)."""
    jid = unique("test-restart-")
    with private_redis(tmp_path) as server:
        appender = RedisStreamEventLog(server.url, retry_for_s=20.0)
        ticking = RedisStreamEventLog(server.url)
        quiet = RedisStreamEventLog(server.url, recheck_s=RECHECK_S)
        got: dict[str, list[Event]] = {"ticking": [], "quiet": []}
        seen_two = {name: asyncio.Event() for name in got}

        async def consume(name: str, follower: RedisStreamEventLog, idle: float | None) -> None:
            async for item in follower.follow(jid, idle_timeout_s=idle):
                if item is not None:
                    got[name].append(item)
                    if len(got[name]) == 2:
                        seen_two[name].set()

        tasks = [
            asyncio.create_task(consume("ticking", ticking, 0.1)),
            asyncio.create_task(consume("quiet", quiet, None)),
        ]
        try:
            await appender.append(progress(jid, 1))
            await appender.append(progress(jid, 2))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in seen_two.values())), 5)
            server.stop()
            assert await appender.ping() is False
            server.start()
            # Redis came back empty (no persistence): seqs continue above what was delivered.
            third = await appender.append(progress(jid, 3))
            assert third.seq == 3
            assert await appender.ping() is True
            await appender.append(Success(job_id=jid, summary={}, result_url="/r"))
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
        finally:
            for task in tasks:
                task.cancel()
            for event_log in (appender, ticking, quiet):
                await event_log.close()
    for events in got.values():
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert events[-1].type == "SUCCESS"


async def test_live_event_arrives_through_the_hub_and_a_missed_one_is_filled(
    job_id: str,
) -> None:
    """A follower waiting far less than its fallback re-read gets live events; an entry that was
    never announced (written by an older appender) is filled in from the stream, in order."""
    follower = RedisStreamEventLog(REDIS_URL, recheck_s=RECHECK_S)
    appender = RedisStreamEventLog(REDIS_URL)
    got: list[int] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for item in follower.follow(job_id):
            assert item is not None
            got.append(item.seq)
            first.set()

    task = asyncio.create_task(consume())
    try:
        await appender.append(progress(job_id, 1))
        await asyncio.wait_for(first.wait(), 5)
        client = aioredis.Redis.from_url(REDIS_URL)
        body = progress(job_id, 2).model_dump_json(exclude={"seq", "ts"})
        await client.xadd(stream_key(job_id), {"ts": "1.0", "e": body}, id="2-0")
        await client.aclose()
        await appender.append(progress(job_id, 3))
        await appender.append(Success(job_id=job_id, summary={}, result_url="/r"))
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        await follower.close()
        await appender.close()
    assert got == [1, 2, 3, 4]


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="maxlen"):
        RedisStreamEventLog(REDIS_URL, maxlen=0)
    with pytest.raises(ValueError, match="ttl_s"):
        RedisStreamEventLog(REDIS_URL, ttl_s=0)
    with pytest.raises(ValueError, match="recheck_s"):
        RedisStreamEventLog(REDIS_URL, recheck_s=0)
    event_log = RedisStreamEventLog(REDIS_URL)
    try:
        with pytest.raises(ValueError, match="after"):
            await event_log.read("x", after=-1)
    finally:
        await event_log.close()
