"""Foreground first: the job loop pauses while requests are answered; urgent writes go first."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from evapo.events.memory import MemoryEventLog
from evapo.jobs.embedded import EmbeddedJobRunner, Execute
from evapo.jobs.foreground import Foreground
from evapo.store.db import make_engine
from evapo.store.jobs import JobStore, _WriteGate


def test_wait_quiet_returns_at_once_when_idle() -> None:
    assert Foreground(max_wait_s=5).wait_quiet() == 0.0


def test_wait_quiet_wakes_when_the_last_request_ends() -> None:
    foreground = Foreground(max_wait_s=30)
    foreground.enter()
    foreground.enter()
    waited: list[float] = []
    waiter = threading.Thread(target=lambda: waited.append(foreground.wait_quiet()))
    waiter.start()
    foreground.leave()
    waiter.join(0.2)
    assert waiter.is_alive()  # one request still in flight
    foreground.leave()
    waiter.join(5)
    assert not waiter.is_alive() and waited[0] < 30
    assert not foreground.busy


def test_wait_quiet_is_bounded_under_endless_load() -> None:
    foreground = Foreground(max_wait_s=0.05)
    foreground.enter()
    start = time.monotonic()
    foreground.wait_quiet()
    assert 0.04 <= time.monotonic() - start < 2


def test_rejects_negative_wait() -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        Foreground(max_wait_s=-1)


@asynccontextmanager
async def _runner(
    tmp_path: Path, execute: Execute, foreground: Foreground
) -> AsyncIterator[EmbeddedJobRunner]:
    """A started one-job-at-a-time runner on a fresh SQLite store; stopped and closed after."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    store = JobStore(engine)
    await store.init()

    @asynccontextmanager
    async def open_execute() -> AsyncIterator[Execute]:
        yield execute

    runner = EmbeddedJobRunner(
        open_execute, store=store, events=MemoryEventLog(), max_concurrent=1, foreground=foreground
    )
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
        await store.close()
        await engine.dispose()


async def test_jobs_wait_for_requests_in_flight(tmp_path: Path) -> None:
    started = threading.Event()

    async def execute(job_id: str) -> None:
        started.set()

    foreground = Foreground(max_wait_s=30)
    async with _runner(tmp_path, execute, foreground) as runner:
        foreground.enter()  # a request is being answered
        await runner.submit("j")
        assert not await asyncio.to_thread(started.wait, 0.3)
        foreground.leave()
        assert await asyncio.to_thread(started.wait, 5)


def test_urgent_writers_pass_waiting_bookkeeping() -> None:
    gate = _WriteGate()
    order: list[str] = []
    assert gate.try_hold()
    assert not gate.try_hold()

    def writer(name: str, urgent: bool) -> None:
        with gate.hold(urgent=urgent):
            order.append(name)

    def until_waiting(n: int) -> None:
        for _ in range(5000):
            if gate.waiting == n:
                return
            time.sleep(0.001)
        raise TimeoutError(f"{n} writers never waited")

    slow = threading.Thread(target=writer, args=("bookkeeping", False))
    slow.start()
    until_waiting(1)  # the bookkeeping writer is queued first
    fast = threading.Thread(target=writer, args=("submission", True))
    fast.start()
    until_waiting(2)
    gate.release()
    slow.join(5)
    fast.join(5)
    assert order == ["submission", "bookkeeping"]


def test_switch_interval_is_short_while_the_runner_lives_then_restored() -> None:
    import sys

    from evapo.jobs.foreground import SwitchInterval

    before = sys.getswitchinterval()
    with SwitchInterval(0.0003):
        assert sys.getswitchinterval() == pytest.approx(min(before, 0.0003))
    assert sys.getswitchinterval() == before


def test_compute_waits_for_quiet_before_it_starts() -> None:
    from evapo.pipeline import _when_quiet

    calls: list[str] = []

    def wait_quiet() -> float:
        calls.append("quiet")
        return 0.0

    def work() -> int:
        calls.append("work")
        return 42

    assert _when_quiet(wait_quiet, work) == 42
    assert calls == ["quiet", "work"]


def test_lag_counts_only_while_the_loop_is_watched() -> None:
    foreground = Foreground(max_wait_s=30, lag_s=0.02)
    time.sleep(0.05)
    assert not foreground.lagging and not foreground.busy  # no beat yet: not watched
    foreground.beat()
    assert not foreground.lagging
    time.sleep(0.05)
    assert foreground.lagging and foreground.busy  # the last beat is older than lag_s
    foreground.beat(watched=False)
    assert not foreground.lagging


def test_wait_quiet_wakes_on_the_next_beat() -> None:
    foreground = Foreground(max_wait_s=30, lag_s=0.01)
    foreground.beat()
    time.sleep(0.03)
    waited: list[float] = []
    waiter = threading.Thread(target=lambda: waited.append(foreground.wait_quiet()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # the loop is lagging: job work waits
    foreground.beat()
    waiter.join(5)
    assert not waiter.is_alive() and waited[0] < 30


def test_rejects_non_positive_lag() -> None:
    with pytest.raises(ValueError, match="lag_s"):
        Foreground(lag_s=0)


def _block_loop(seconds: float) -> None:
    """Hold the calling thread, and so its event loop, for ``seconds`` (a busy API loop)."""
    time.sleep(seconds)


async def test_jobs_pause_while_the_api_loop_is_blocked(tmp_path: Path) -> None:
    turns = [0]
    stop = threading.Event()

    async def execute(job_id: str) -> None:
        while not stop.is_set():  # every turn goes through the polite selector
            turns[0] += 1
            await asyncio.sleep(0)

    foreground = Foreground(max_wait_s=30, lag_s=0.02)
    async with _runner(tmp_path, execute, foreground) as runner:
        await runner.submit("j")
        for _ in range(500):  # until the job works and the heartbeat watches it
            await asyncio.sleep(0.01)
            if foreground.watched and turns[0] > 100 and not foreground.lagging:
                break
        assert foreground.working == 1 and foreground.watched
        _block_loop(0.1)  # this loop is busy: no heartbeat
        paused_at = turns[0]
        _block_loop(0.2)
        assert turns[0] == paused_at
        await asyncio.sleep(0.1)  # the loop turns again: the job resumes
        assert turns[0] > paused_at
        stop.set()
    assert foreground.working == 0 and not foreground.watched


async def test_an_idle_runner_is_not_watched(tmp_path: Path) -> None:
    async def execute(job_id: str) -> None:
        return None

    foreground = Foreground(max_wait_s=30, lag_s=0.01)
    async with _runner(tmp_path, execute, foreground):
        await asyncio.sleep(0.05)
        _block_loop(0.05)  # the loop blocks, but no job works: nothing to pause for
        assert not foreground.watched and not foreground.lagging
