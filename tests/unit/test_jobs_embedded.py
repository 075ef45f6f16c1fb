"""Embedded runner: own loop thread, bounded concurrency, cancel, crash recovery at start."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from evapo.events.memory import MemoryEventLog
from evapo.jobs.embedded import EmbeddedJobRunner, Execute, OpenExecute
from evapo.store.db import make_engine
from evapo.store.jobs import JobSpec, JobStatus, JobStore

SPEC = JobSpec.model_validate({"lat": 0, "lon": 0, "start": "2020-01-01", "end": "2020-01-02"})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    s = JobStore(engine)
    await s.init()
    yield s
    await engine.dispose()


def opener(execute: Execute, log: list[str] | None = None) -> OpenExecute:
    """An OpenExecute yielding ``execute``; records enter/exit and the thread it ran on."""

    @asynccontextmanager
    async def open_execute() -> AsyncIterator[Execute]:
        if log is not None:
            log.append(f"open on {threading.current_thread().name}")
        yield execute
        if log is not None:
            log.append("closed")

    return open_execute


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until ``condition`` holds, checked as the other thread makes progress."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError("condition not met within 5 s")


async def test_jobs_run_on_the_runner_thread_and_resources_close(store: JobStore) -> None:
    threads: list[str] = []
    lifecycle: list[str] = []

    async def execute(job_id: str) -> None:
        threads.append(threading.current_thread().name)

    runner = EmbeddedJobRunner(
        opener(execute, lifecycle), store=store, events=MemoryEventLog(), max_concurrent=2
    )
    await runner.start()
    assert await runner.ping()
    await runner.submit("a")
    await runner.wait_idle()
    assert threads == ["evapo-jobs"] != [threading.current_thread().name]
    await runner.stop()
    assert lifecycle == ["open on evapo-jobs", "closed"]
    assert not await runner.ping()


async def test_concurrency_is_bounded(store: JobStore) -> None:
    lock = threading.Lock()
    running, peak, release = 0, 0, threading.Event()

    async def execute(job_id: str) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        await asyncio.to_thread(release.wait)
        with lock:
            running -= 1

    runner = EmbeddedJobRunner(
        opener(execute), store=store, events=MemoryEventLog(), max_concurrent=2
    )
    await runner.start()
    for k in range(5):
        await runner.submit(f"j{k}")
    await until(lambda: running == 2)
    await asyncio.sleep(0.05)  # a third job would have started by now if the bound leaked
    assert running == 2
    release.set()
    await runner.wait_idle()
    assert peak == 2 and running == 0
    await runner.stop()


async def test_cancel_starts_a_waiting_job_and_wakes_a_running_one(store: JobStore) -> None:
    started: list[str] = []
    woke: list[str] = []
    runner: EmbeddedJobRunner

    async def execute(job_id: str) -> None:
        started.append(job_id)
        if job_id == "busy":
            await runner.cancel_signal("busy").wait()  # set from the test's (other) loop
            woke.append(job_id)

    runner = EmbeddedJobRunner(
        opener(execute), store=store, events=MemoryEventLog(), max_concurrent=1
    )
    await runner.start()
    await runner.submit("busy")
    await runner.submit("waiting")
    await until(lambda: started == ["busy"])
    await runner.cancel("waiting")  # runs now (execute_job sees the flag and ends it cancelled)
    await until(lambda: started == ["busy", "waiting"])
    assert woke == []
    await runner.cancel("busy")
    await runner.wait_idle()
    assert woke == ["busy"]
    await runner.stop()


async def test_stop_cancels_running_jobs(store: JobStore) -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def execute(job_id: str) -> None:
        started.append(job_id)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(job_id)
            raise

    runner = EmbeddedJobRunner(
        opener(execute), store=store, events=MemoryEventLog(), max_concurrent=2
    )
    await runner.start()
    await runner.submit("forever")
    await until(lambda: started == ["forever"])
    await runner.stop()
    assert cancelled == ["forever"]


async def test_stop_ends_tasks_a_job_left_behind(store: JobStore) -> None:
    ended: list[str] = []
    left: list[asyncio.Future[None]] = []

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(threading.current_thread().name)

    async def execute(job_id: str) -> None:
        left.append(asyncio.ensure_future(background()))  # not awaited: outlives the job

    runner = EmbeddedJobRunner(
        opener(execute), store=store, events=MemoryEventLog(), max_concurrent=1
    )
    await runner.start()
    await runner.submit("j")
    await runner.wait_idle()
    assert ended == []
    await runner.stop()
    assert ended == ["evapo-jobs"]  # cancelled and run to its end on the runner's thread
    assert left[0].cancelled()


async def test_start_fails_jobs_a_crash_left_open(store: JobStore) -> None:
    await store.create("queued", SPEC)
    await store.create("running", SPEC)
    await store.claim("running")
    await store.create("done", SPEC)
    await store.finish("done", JobStatus.CANCELLED, error_code="cancelled", message="x")
    events = MemoryEventLog()

    async def execute(job_id: str) -> None:
        raise AssertionError("nothing should run")

    runner = EmbeddedJobRunner(opener(execute), store=store, events=events, max_concurrent=1)
    await runner.start()
    for job_id in ("queued", "running"):
        job = await store.get(job_id)
        assert (
            job is not None and job.status is JobStatus.FAILED and job.error_code == "interrupted"
        )
        [event] = await events.read(job_id)
        assert event.type == "ERROR" and event.code == "interrupted"
    assert await events.read("done") == []
    await runner.stop()


async def test_submit_before_start_is_refused(store: JobStore) -> None:
    async def execute(job_id: str) -> None:
        return None

    runner = EmbeddedJobRunner(
        opener(execute), store=store, events=MemoryEventLog(), max_concurrent=1
    )
    with pytest.raises(RuntimeError, match="not started"):
        await runner.submit("x")


async def test_a_failing_open_stops_the_thread(store: JobStore) -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[Execute]:
        raise OSError("cannot open the job database")
        yield  # pragma: no cover

    runner = EmbeddedJobRunner(broken, store=store, events=MemoryEventLog(), max_concurrent=1)
    with pytest.raises(OSError, match="job database"):
        await runner.start()
    assert not await runner.ping()
    assert not [t for t in threading.enumerate() if t.name == "evapo-jobs"]
