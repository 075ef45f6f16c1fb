"""In-memory event log: seq, replay, live follow without gap or duplicate, heartbeat, retention."""

from __future__ import annotations

import asyncio
import threading

import pytest

from evapo.events.memory import MemoryEventLog
from evapo.events.messages import Error, Event, Progress, Success


def _progress(job: str, p: float) -> Progress:
    return Progress(job_id=job, progress=p, step=f"s{p:g}", message="m")


async def test_append_assigns_rising_seq_per_job() -> None:
    log = MemoryEventLog()
    a1 = await log.append(_progress("a", 1))
    b1 = await log.append(_progress("b", 1))
    a2 = await log.append(_progress("a", 2))
    assert (a1.seq, a2.seq, b1.seq) == (1, 2, 1)
    assert a2.ts >= a1.ts > 0
    assert [e.seq for e in await log.read("a")] == [1, 2]
    assert [e.seq for e in await log.read("a", after=1)] == [2]
    assert await log.read("unknown") == []


async def _collect(log: MemoryEventLog, job: str, after: int = 0) -> list[Event | None]:
    return [e async for e in log.follow(job, after, idle_timeout_s=5)]


async def test_follow_replays_then_streams_live_until_terminal() -> None:
    log = MemoryEventLog()
    for p in (1, 2, 3):
        await log.append(_progress("j", p))
    follower = asyncio.create_task(_collect(log, "j", after=1))
    await asyncio.sleep(0)  # follower drains the replay and waits
    await log.append(_progress("j", 4))
    await log.append(Success(job_id="j", summary={}, result_url="/r"))
    await log.append(_progress("j", 99))  # after terminal: never delivered to followers
    got = await asyncio.wait_for(follower, 5)
    assert [e.seq for e in got if e is not None] == [2, 3, 4, 5]
    assert got[-1] is not None and got[-1].type == "SUCCESS"


async def test_concurrent_appends_never_gap_or_duplicate() -> None:
    log = MemoryEventLog()
    follower = asyncio.create_task(_collect(log, "j"))

    async def writer(k: int) -> None:
        for i in range(50):
            await log.append(_progress("j", (k * 50 + i) % 100))

    await asyncio.gather(*(writer(k) for k in range(4)))
    await log.append(Error(job_id="j", code="x", message="end"))
    got = await asyncio.wait_for(follower, 5)
    assert [e.seq for e in got if e is not None] == list(range(1, 202))


async def test_idle_follow_yields_none_for_heartbeat() -> None:
    log = MemoryEventLog()
    await log.append(_progress("j", 1))
    stream = log.follow("j", 0, idle_timeout_s=0.01)
    assert (await anext(stream)).seq == 1  # type: ignore[union-attr]
    assert await anext(stream) is None
    await log.append(_progress("j", 2))
    assert (await anext(stream)).seq == 2  # type: ignore[union-attr]
    await stream.aclose()


async def test_retention_drops_oldest_finished_jobs_first() -> None:
    log = MemoryEventLog(max_jobs=10)
    await log.append(_progress("running-0", 1))
    for k in range(12):
        await log.append(Success(job_id=f"done-{k}", summary={}, result_url="/r"))
    assert len(log) == 10
    assert await log.read("running-0") != []  # unfinished job kept
    assert await log.read("done-0") == [] and await log.read("done-1") == []
    assert await log.read("done-11") != []


def test_rejects_nonsense_retention() -> None:
    with pytest.raises(ValueError, match="max_jobs"):
        MemoryEventLog(max_jobs=0)


async def test_appends_from_another_threads_loop_wake_followers_here() -> None:
    log = MemoryEventLog()
    follower = asyncio.create_task(_collect(log, "j"))
    await asyncio.sleep(0)  # the follower is waiting on this loop

    def other_thread() -> None:
        async def write() -> None:
            for p in range(100):
                await log.append(_progress("j", p))
            await log.append(Success(job_id="j", summary={}, result_url="/r"))

        asyncio.run(write())

    writer = threading.Thread(target=other_thread)
    writer.start()
    got = await asyncio.wait_for(follower, 5)
    writer.join()
    assert [e.seq for e in got if e is not None] == list(range(1, 102))
    assert got[-1] is not None and got[-1].type == "SUCCESS"


class CountingBusy:
    """Records the delivery accounting a follower does."""

    def __init__(self) -> None:
        self.active = 0
        self.entered = 0

    def enter(self) -> None:
        self.active += 1
        self.entered += 1

    def leave(self) -> None:
        self.active -= 1
        assert self.active >= 0


async def test_a_follower_counts_as_delivering_from_wake_up_until_it_asks_for_more() -> None:
    busy = CountingBusy()
    log = MemoryEventLog(busy=busy)
    await log.append(_progress("j", 1))
    stream = log.follow("j", 0, idle_timeout_s=5)
    assert (await anext(stream)).seq == 1  # type: ignore[union-attr]
    assert busy.entered == 0  # replayed events are not live deliveries
    nxt = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the follower waits for a live event
    await log.append(_progress("j", 2))
    assert (await nxt).seq == 2  # type: ignore[union-attr]
    assert busy.active == 1  # the consumer is sending it
    nxt = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # asking for more: the send is done
    assert busy.active == 0
    await log.append(Success(job_id="j", summary={}, result_url="/r"))
    assert (await nxt).type == "SUCCESS"  # type: ignore[union-attr]
    assert busy.active == 1
    await stream.aclose()
    assert busy.active == 0 and busy.entered == 2


async def test_a_cancelled_delivery_leaves_the_count_balanced() -> None:
    busy = CountingBusy()
    log = MemoryEventLog(busy=busy)
    follower = asyncio.create_task(_collect(log, "j"))
    await asyncio.sleep(0)
    await log.append(_progress("j", 1))
    await asyncio.sleep(0.01)
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    assert busy.active == 0 and busy.entered == 1
