"""Stuck-batch sweeper for real: a fresh migrated PostgreSQL database and Redis Streams events.

Each stuck state is fabricated in the database as a lost worker or a lost closing step leaves it;
the sweep (called directly, and run by an API process as it starts) must close it exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from evapo.api.server import run_in_thread
from evapo.batches import BatchCreate, create_batch, sweep_batches
from evapo.config import Settings
from evapo.events.messages import Event, Success, Timeout
from evapo.services import Services, close_services, open_services
from evapo.store.batches import BatchStore, PointOutcome, PointStatus
from evapo.store.jobs import JobStatus
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import TEST_REDIS_DB, temp_database, unique
from tests.integration.test_batch_embedded import follow

pytestmark = pytest.mark.integration

STALL_S = 600.0
DAYS = ["2019-01-01", "2019-01-02"]


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    with temp_database() as url:
        upgrade_head(url)
        yield Settings(
            mode="distributed",
            database_url=url,
            redis_url=f"redis://127.0.0.1:6379/{TEST_REDIS_DB}",
            broker_url="amqp://guest:guest@127.0.0.1:5672//",
            job_queue=unique("evapo.sweep."),
            batch_stall_s=STALL_S,
            region_scheduler=False,
        )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings, runner=False)
    yield opened
    await close_services(opened)


async def new_batch(services: Services, n_points: int = 3) -> str:
    body = BatchCreate.model_validate(
        {
            "points": [
                {"name": f"p{i}", "lat": -7.0 - i, "lon": -47.0, "elevation": 200.0}
                for i in range(n_points)
            ],
            "start": DAYS[0],
            "end": DAYS[-1],
        }
    )
    batch = await create_batch(services, unique("s"), body)
    return batch.id


def rows(eto: float) -> list[dict[str, object]]:
    return [{"date": day, "eto_mm": eto, "flags": ""} for day in DAYS]


async def age(services: Services, batch_id: str, seconds: float) -> None:
    """Move every clock of the batch and its points ``seconds`` into the past."""
    async with services.engine.begin() as conn:
        shift = {"b": batch_id, "d": timedelta(seconds=seconds)}
        await conn.execute(
            text(
                "UPDATE batches SET created_at = created_at - :d,"
                " started_at = started_at - :d WHERE id = :b"
            ),
            shift,
        )
        await conn.execute(
            text("UPDATE batch_points SET updated_at = updated_at - :d WHERE batch_id = :b"),
            shift,
        )


async def log_of(services: Services, batch_id: str) -> list[Event]:
    return await services.events.read(batch_id)


async def test_sweep_closes_each_stuck_state_once_and_leaves_live_batches(
    services: Services,
) -> None:
    store = BatchStore(services.engine)
    # Lost finisher: every point is stored but nobody closed the batch.
    finished = await new_batch(services)
    await store.start(finished)
    await store.claim_points(finished, None, worker="gone:1")
    outcomes = [
        PointOutcome(0, rows(4.0)),
        PointOutcome(1, rows(5.0)),
        PointOutcome(2, None, "x", "y"),
    ]
    assert await store.finish_points(finished, outcomes) == [0, 1, 2]
    # Lost workers: one point done, two left running, nothing changed for an hour.
    stalled = await new_batch(services)
    await store.start(stalled)
    await store.claim_points(stalled, None, worker="gone:2")
    await store.finish_points(stalled, [PointOutcome(0, rows(4.0))])
    await age(services, stalled, 3600)
    # Lost messages: queued an hour ago and never started.
    never = await new_batch(services, n_points=2)
    await age(services, never, 3600)
    # A cancel asked while only queued points remain (its chunks were lost).
    asked = await new_batch(services)
    await store.start(asked)
    assert await store.request_cancel(asked)
    # Live: claimed a minute ago by a worker still at it; and an old batch that just moved.
    live = await new_batch(services)
    await store.start(live)
    await store.claim_points(live, None, worker="alive:1")
    moving = await new_batch(services)
    await store.start(moving)
    await age(services, moving, 3600)
    await store.claim_points(moving, [0], worker="alive:2")

    report = await sweep_batches(services)

    assert finished in report.completed
    assert stalled in report.timed_out and never in report.timed_out
    assert asked in report.cancelled
    touched = report.completed + report.timed_out + report.cancelled
    assert live not in touched and moving not in touched

    done = await store.get(finished)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    events = await log_of(services, finished)
    assert [e.type for e in events] == ["SUCCESS"]
    assert isinstance(events[-1], Success)
    assert events[-1].summary == {
        "points_total": 3,
        "points_done": 2,
        "points_failed": 1,
    }

    out = await store.get(stalled)
    assert out is not None
    assert (out.status, out.error_code) == (JobStatus.TIMED_OUT, "timeout")
    events = await log_of(services, stalled)
    assert [e.type for e in events] == ["TIMEOUT"]
    assert isinstance(events[-1], Timeout)
    assert "1 of 3 point(s) done, 0 failed, 2 not computed" in events[-1].message
    assert "batch_stall_s" in events[-1].message
    assert [p.status for p in await store.points(stalled)] == [
        PointStatus.SUCCEEDED,
        PointStatus.SKIPPED,
        PointStatus.SKIPPED,
    ]
    counts = await store.counts(stalled)
    assert (counts.done, counts.failed, counts.skipped) == (1, 0, 2)

    lost = await store.get(never)
    assert lost is not None and lost.status is JobStatus.TIMED_OUT
    assert [e.type for e in await log_of(services, never)] == ["TIMEOUT"]

    cancelled = await store.get(asked)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    events = await log_of(services, asked)
    assert [(e.type, getattr(e, "code", None)) for e in events] == [("ERROR", "cancelled")]

    for untouched in (live, moving):
        still = await store.get(untouched)
        assert still is not None and still.status is JobStatus.RUNNING
        assert await log_of(services, untouched) == []

    # A second sweep (another API process, the next beat) changes nothing and logs nothing.
    again = await sweep_batches(services)
    assert not {finished, stalled, never, asked} & set(
        again.completed + again.timed_out + again.cancelled
    )
    for batch_id in (finished, stalled, never, asked):
        assert len(await log_of(services, batch_id)) == 1


async def test_a_point_that_moves_after_the_snapshot_keeps_its_batch_alive(
    services: Services,
) -> None:
    store = BatchStore(services.engine)
    batch_id = await new_batch(services)
    await store.start(batch_id)
    await store.claim_points(batch_id, None, worker="slow:1")
    await age(services, batch_id, 3600)
    cutoff = datetime.now(UTC) - timedelta(seconds=STALL_S)
    # A worker was only slow: it stores a point between the sweep's read and its end.
    assert await store.finish_points(batch_id, [PointOutcome(1, rows(3.0))]) == [1]
    ended = await store.end(
        batch_id, JobStatus.TIMED_OUT, error_code="timeout", message="x", stalled_since=cutoff
    )
    assert ended is None
    still = await store.get(batch_id)
    assert still is not None and still.status is JobStatus.RUNNING


async def test_an_api_process_sweeps_when_it_starts(settings: Settings, services: Services) -> None:
    store = BatchStore(services.engine)
    batch_id = await new_batch(services, n_points=2)
    await store.start(batch_id)
    await store.claim_points(batch_id, None, worker="gone:3")
    await age(services, batch_id, 2 * STALL_S)
    with run_in_thread(settings) as api:
        ws = api.replace("http://", "ws://") + f"/ws/batches/{batch_id}"
        events, code = await asyncio.wait_for(follow(ws), 60)
    assert code == 1000
    assert [e["type"] for e in events] == ["TIMEOUT"]
    assert "0 of 2 point(s) done, 0 failed, 2 not computed" in events[-1]["message"]
    final = await store.get(batch_id)
    assert final is not None and final.status is JobStatus.TIMED_OUT
