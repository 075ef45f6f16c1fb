"""Job store on the machine's real PostgreSQL (own schema per run): same behaviour as SQLite."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import text

from evapo.store.db import make_engine
from evapo.store.jobs import JobSpec, JobStatus, JobStore

pytestmark = pytest.mark.integration

PG_URL = os.environ.get(
    "EVAPO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/evapo_test"
)
SPEC = JobSpec(lat=-7.2, lon=-44.6, start=date(2020, 1, 1), end=date(2020, 1, 3))


@pytest.fixture
async def store() -> AsyncIterator[JobStore]:
    schema = f"evapo_jobs_test_{os.getpid()}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    s = JobStore(engine)
    await s.init()
    yield s
    await engine.dispose()
    async with admin.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    await admin.dispose()


async def test_result_rows_round_trip_and_are_never_duplicated(store: JobStore) -> None:
    await store.create("j", SPEC)
    await store.claim("j")
    assert (await store.claim("j")) is not None  # redelivery while running
    rows = [
        {"date": f"2020-01-0{d}", "eto_mm": 4.0 + d, "tmax_c": float("nan"), "flags": "x"}
        for d in (1, 2, 3)
    ]
    assert await store.store_result("j", rows, {"mean": float("nan"), "n_days": 3})
    assert not await store.store_result("j", rows, {})
    got = await store.result_rows("j")
    assert [r["eto_mm"] for r in got] == [5.0, 6.0, 7.0] and got[0]["tmax_c"] is None
    job = await store.get("j")
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 2
    assert job.summary == {"mean": None, "n_days": 3}
    assert job.created_at.tzinfo is not None


async def test_cancel_flag_counts_and_ping(store: JobStore) -> None:
    await store.create("a", SPEC)
    await store.create("b", SPEC)
    await store.request_cancel("a")
    assert await store.is_cancel_requested("a") and not await store.is_cancel_requested("b")
    assert await store.finish("b", JobStatus.FAILED, error_code="no_source", message="none")
    counts = await store.count_by_status()
    assert counts[JobStatus.QUEUED] == 1 and counts[JobStatus.FAILED] == 1
    assert await store.open_jobs() == ["a"]
    assert await store.ping()
