"""Job store on SQLite: lifecycle, idempotent results, cancel flag, crash recovery inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from evapo.store.db import make_engine
from evapo.store.jobs import JobSpec, JobStatus, JobStore, json_safe

SPEC = JobSpec(lat=-5.1, lon=-42.8, start=date(2020, 1, 1), end=date(2020, 1, 3))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    s = JobStore(engine)
    await s.init()
    yield s
    await engine.dispose()


def _rows(n: int, eto: float = 4.0) -> list[dict[str, object]]:
    return [
        {"date": f"2020-01-0{i + 1}", "eto_mm": eto + i, "tmax_c": float("nan"), "flags": ""}
        for i in range(n)
    ]


async def test_lifecycle_queued_running_succeeded(store: JobStore) -> None:
    created = await store.create("j1", SPEC)
    assert created.status is JobStatus.QUEUED and created.spec == SPEC
    claimed = await store.claim("j1")
    assert claimed is not None and claimed.status is JobStatus.RUNNING and claimed.attempts == 1
    assert await store.store_result("j1", _rows(3), {"total": 15.0, "mean": float("nan")})
    job = await store.get("j1")
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert job.summary == {"total": 15.0, "mean": None}
    assert job.finished_at is not None and job.finished_at.tzinfo is not None
    rows = await store.result_rows("j1")
    assert [r["eto_mm"] for r in rows] == [4.0, 5.0, 6.0]
    assert rows[0]["tmax_c"] is None  # NaN stored as null


async def test_final_job_is_never_reclaimed_or_overwritten(store: JobStore) -> None:
    await store.create("j1", SPEC)
    await store.claim("j1")
    assert await store.store_result("j1", _rows(3), {})
    assert await store.claim("j1") is None
    assert not await store.store_result("j1", _rows(3, eto=9.0), {})
    assert not await store.finish("j1", JobStatus.FAILED, error_code="x", message="late")
    assert [r["eto_mm"] for r in await store.result_rows("j1")] == [4.0, 5.0, 6.0]


async def test_redelivered_running_job_replaces_rows_without_duplicates(store: JobStore) -> None:
    await store.create("j1", SPEC)
    await store.claim("j1")
    second = await store.claim("j1")  # redelivery after a worker died
    assert second is not None and second.attempts == 2
    assert await store.store_result("j1", _rows(3), {})
    assert len(await store.result_rows("j1")) == 3


async def test_cancel_flag_and_open_jobs(store: JobStore) -> None:
    for jid in ("a", "b", "c"):
        await store.create(jid, SPEC)
    await store.claim("b")
    await store.finish("c", JobStatus.TIMED_OUT, error_code="timeout", message="slow")
    assert sorted(await store.open_jobs()) == ["a", "b"]
    assert not await store.is_cancel_requested("a")
    job = await store.request_cancel("a")
    assert job is not None and job.cancel_requested
    assert await store.is_cancel_requested("a")
    assert await store.request_cancel("zzz") is None
    counts = await store.count_by_status()
    assert counts[JobStatus.QUEUED] == 1 and counts[JobStatus.RUNNING] == 1
    assert counts[JobStatus.TIMED_OUT] == 1 and counts[JobStatus.SUCCEEDED] == 0
    assert [j.id for j in await store.list_recent(2)] == ["c", "b"]
    assert await store.ping()


async def test_finish_refuses_succeeded(store: JobStore) -> None:
    await store.create("a", SPEC)
    with pytest.raises(ValueError, match="not succeeded"):
        await store.finish("a", JobStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("field", "payload"),
    [
        ("lat", {"lat": 91}),
        ("lon", {"lon": -181}),
        ("start", {"start": "2020/01/01"}),
        ("end", {"end": 20200101}),
        ("elevation", {"elevation": 10_000}),
    ],
)
def test_spec_names_bad_field(field: str, payload: dict[str, object]) -> None:
    base: dict[str, object] = {"lat": 0, "lon": 0, "start": "2020-01-01", "end": "2020-01-02"}
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(base | payload)
    assert [e["loc"][0] for e in info.value.errors()] == [field]


def test_json_safe_replaces_non_finite() -> None:
    import numpy as np

    assert json_safe({"a": [1.0, float("inf")], "b": np.float64("nan"), "c": "x"}) == {
        "a": [1.0, None],
        "b": None,
        "c": "x",
    }
    assert JobStatus.CANCELLED.final and not JobStatus.RUNNING.final


async def test_concurrent_creates_are_group_committed(store: JobStore) -> None:
    import asyncio

    from sqlalchemy.exc import IntegrityError

    records = await asyncio.gather(*(store.create(f"g{k}", SPEC) for k in range(30)))
    assert [r.id for r in records] == [f"g{k}" for k in range(30)]
    assert (await store.count_by_status())[JobStatus.QUEUED] == 30
    with pytest.raises(IntegrityError):
        await store.create("g0", SPEC)  # the failure reaches the caller
    assert await store.get("g0") is not None
