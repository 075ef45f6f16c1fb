"""Embedded runner: bounded concurrency, cancel of a waiting job, crash recovery at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evapo.events.memory import MemoryEventLog
from evapo.jobs.embedded import EmbeddedJobRunner
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


async def test_concurrency_is_bounded(store: JobStore) -> None:
    running, peak, release = 0, 0, asyncio.Event()

    async def execute(job_id: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    runner = EmbeddedJobRunner(execute, store=store, events=MemoryEventLog(), max_concurrent=2)
    await runner.start()
    for k in range(5):
        await runner.submit(f"j{k}")
    await asyncio.sleep(0.01)
    assert running == 2
    release.set()
    await runner.wait_idle()
    assert peak == 2 and running == 0
    await runner.stop()
    assert not await runner.ping()


async def test_cancel_starts_a_waiting_job_at_once(store: JobStore) -> None:
    started: list[str] = []
    block = asyncio.Event()

    async def execute(job_id: str) -> None:
        started.append(job_id)
        if job_id == "busy":
            await block.wait()

    runner = EmbeddedJobRunner(execute, store=store, events=MemoryEventLog(), max_concurrent=1)
    await runner.start()
    await runner.submit("busy")
    await runner.submit("waiting")
    await asyncio.sleep(0.01)
    assert started == ["busy"]
    await runner.cancel("waiting")  # runs now (execute_job sees the flag and ends it cancelled)
    await asyncio.sleep(0.01)
    assert started == ["busy", "waiting"]
    signal = runner.cancel_signal("busy")
    await runner.cancel("busy")
    assert signal.is_set()
    block.set()
    await runner.stop()


async def test_start_fails_jobs_a_crash_left_open(store: JobStore) -> None:
    await store.create("queued", SPEC)
    await store.create("running", SPEC)
    await store.claim("running")
    await store.create("done", SPEC)
    await store.finish("done", JobStatus.CANCELLED, error_code="cancelled", message="x")
    events = MemoryEventLog()

    async def execute(job_id: str) -> None:
        raise AssertionError("nothing should run")

    runner = EmbeddedJobRunner(execute, store=store, events=events, max_concurrent=1)
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

    runner = EmbeddedJobRunner(execute, store=store, events=MemoryEventLog(), max_concurrent=1)
    with pytest.raises(RuntimeError, match="not started"):
        await runner.submit("x")
