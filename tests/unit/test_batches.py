"""Batch input, store idempotency (real SQLite), result table, grouped Open-Meteo requests."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx2
import pandas as pd
import pytest
from pydantic import ValidationError

from evapo.batches import (
    BatchCreate,
    BatchInputError,
    check_batch,
    frame_bytes,
    parse_points_csv,
    result_frame,
    terminal_event,
)
from evapo.config import Settings
from evapo.jobs.batch_tasks import chunks
from evapo.science.asce import MethodChoice
from evapo.sources._convert import MalformedResponse
from evapo.sources.http import Upstream
from evapo.sources.openmeteo import OpenMeteoArchive
from evapo.store.batches import BatchStore, Counts, PointOutcome, PointStatus
from evapo.store.db import make_engine
from evapo.store.jobs import JobStatus

POINTS = [
    {"name": "a", "lat": -7.19, "lon": -48.21},
    {"name": "b", "lat": -7.53, "lon": -46.04, "elevation": 247.0},
    {"name": "c", "lat": -8.44, "lon": -43.86},
]


def test_csv_with_and_without_elevation() -> None:
    text = "\ufeffName,Lat,Lon,Elevation\nA,-7.19,-48.21,227\n\nB,-7.53,-46.04,\n"
    points = parse_points_csv(text, limit=10)
    assert [(p.name, p.lat, p.lon, p.elevation) for p in points] == [
        ("A", -7.19, -48.21, 227.0),
        ("B", -7.53, -46.04, None),
    ]
    assert len(parse_points_csv("name,lat,lon\nA,1,2\n", limit=1)) == 1


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("name,latitude,lon\nA,1,2\n", "file", "header"),
        ("name,lat,lon\nA,1,2\nB,95,2\n", "file line 3", "lat"),
        ("name,lat,lon\nA,x,2\n", "file line 2", "x"),
        ("name,lat,lon\n", "file", "no point"),
        ("name,lat,lon\nA,1,2\nB,1,2\nC,1,2\n", "file", "more than 2"),
    ],
)
def test_csv_errors_name_the_line_and_field(text: str, field: str, words: str) -> None:
    with pytest.raises(BatchInputError) as caught:
        parse_points_csv(text, limit=2)
    assert caught.value.field == field
    assert words in caught.value.message


def test_check_batch_limit_dates_and_ok() -> None:
    settings = Settings(batch_max_points=2)
    body = BatchCreate.model_validate(
        {"points": POINTS, "start": "2019-01-01", "end": "2019-01-05"}
    )
    problems = check_batch(body, settings, today=date(2026, 1, 1))
    assert [p.field for p in problems] == ["points"]
    assert "at most 2" in problems[0].message
    small = body.model_copy(update={"points": body.points[:2]})
    assert check_batch(small, settings, today=date(2026, 1, 1)) == []
    backwards = small.model_copy(update={"start": date(2019, 2, 1)})
    problems = check_batch(backwards, settings, today=date(2026, 1, 1))
    assert problems[0].field == "start"
    assert "point 0 (a)" in problems[0].message


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        BatchCreate.model_validate(
            {"points": POINTS, "start": "2019-01-01", "end": "2019-01-02", "sources": ["nope"]}
        )


def test_method_fields_are_checked_like_a_job() -> None:
    base = {"points": POINTS, "start": "2019-01-01", "end": "2019-01-02"}
    assert BatchCreate.model_validate(base).choice.label == "fao56"
    tall = BatchCreate.model_validate(base | {"method": "asce", "reference": "tall"})
    assert tall.choice.label == "asce-tall-full"
    with pytest.raises(ValidationError) as caught:
        BatchCreate.model_validate(base | {"reference": "tall"})
    assert [e["loc"] for e in caught.value.errors()] == [("reference",)]
    with pytest.raises(ValidationError) as caught:
        BatchCreate.model_validate(base | {"rso": "full"})
    assert [e["loc"] for e in caught.value.errors()] == [("rso",)]
    with pytest.raises(ValidationError):
        BatchCreate.model_validate(base | {"method": "hargreaves"})


def test_chunks_cover_every_index_once() -> None:
    assert chunks(7, 3) == [[0], [1], [2], [3], [4], [5], [6]]  # 7 left: 1/8 each, at least 1
    assert chunks(3, 25) == [[0, 1, 2]]
    assert [i for share in chunks(500, 10) for i in share] == list(range(500))
    # Guided: full shares while many points are left, then smaller ones down to size // 5.
    sizes = [len(share) for share in chunks(500, 25)]
    assert sizes[:12] == [25] * 12 and sizes == sorted(sizes, reverse=True)
    assert min(sizes[:-1]) == 5 and max(sizes) == 25 and sum(sizes) == 500


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[BatchStore]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    batches = BatchStore(engine)
    await batches.init()
    yield batches
    await engine.dispose()


def rows_for(days: list[str], eto: float) -> list[dict[str, object]]:
    return [{"date": d, "eto_mm": eto, "precip_mm": 0.0, "flags": ""} for d in days]


async def test_points_are_claimed_and_stored_once(store: BatchStore) -> None:
    await store.create("b1", start=date(2020, 1, 1), end=date(2020, 1, 2), points=POINTS)
    claimed = await store.claim_points("b1", None, worker="w1")
    assert [(p.idx, p.status, p.attempts) for p in claimed] == [
        (0, PointStatus.RUNNING, 1),
        (1, PointStatus.RUNNING, 1),
        (2, PointStatus.RUNNING, 1),
    ]
    days = ["2020-01-01", "2020-01-02"]
    outcomes = [PointOutcome(0, rows_for(days, 4.0)), PointOutcome(1, None, "no_source", "x")]
    assert await store.finish_points("b1", outcomes) == [0, 1]
    # A redelivered task: finished points are neither claimed nor stored again.
    assert await store.finish_points("b1", [PointOutcome(0, rows_for(days, 9.0))]) == []
    again = await store.claim_points("b1", [0, 1, 2], worker="w2")
    assert [(p.idx, p.attempts, p.worker) for p in again] == [(2, 2, "w2")]
    assert await store.complete_if_done("b1") is None  # point 2 still open
    assert await store.requeue_point("b1", 2, error_code="no_source", message="retry")
    assert (await store.points("b1", [2]))[0].status is PointStatus.QUEUED
    assert await store.finish_point("b1", 2, rows=rows_for(days, 5.0))
    counts = await store.counts("b1")
    assert (counts.total, counts.done, counts.failed) == (3, 2, 1)
    final = await store.complete_if_done("b1")
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert await store.complete_if_done("b1") is None  # only one caller closes the batch
    stored = await store.points("b1", with_rows=True)
    assert stored[0].rows is not None and stored[0].rows[0]["eto_mm"] == 4.0
    event = terminal_event(final, counts)
    assert event is not None and event.type == "SUCCESS"


async def test_batch_whose_points_all_failed_is_failed(store: BatchStore) -> None:
    await store.create("b2", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS[:1])
    await store.claim_points("b2", None, worker="w")
    await store.finish_points("b2", [PointOutcome(0, None, "no_source", "every source failed")])
    final = await store.complete_if_done("b2")
    assert final is not None
    assert (final.status, final.error_code) == (JobStatus.FAILED, "all_points_failed")
    event = terminal_event(final, await store.counts("b2"))
    assert event is not None and event.type == "ERROR"


async def test_cancel_skips_open_points_and_stores_nothing_after(store: BatchStore) -> None:
    days = ["2020-01-01"]
    await store.create("c1", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS)
    assert not await store.stop_requested("c1")
    await store.start("c1")
    await store.claim_points("c1", [0, 1], worker="w")
    assert await store.finish_points("c1", [PointOutcome(0, rows_for(days, 4.0))]) == [0]
    assert await store.request_cancel("c1")
    assert await store.stop_requested("c1")
    # A busy batch (point 1 running) is not ended by an "only if idle" cancel.
    assert (
        await store.end(
            "c1", JobStatus.CANCELLED, error_code="cancelled", message="x", only_if_idle=True
        )
        is None
    )
    ended = await store.end("c1", JobStatus.CANCELLED, error_code="cancelled", message="stop")
    assert ended is not None and ended.status is JobStatus.CANCELLED and ended.cancel_requested
    assert await store.end("c1", JobStatus.CANCELLED, error_code="cancelled", message="x") is None
    # The point in flight when it ended is not stored; the counts say what happened.
    assert await store.finish_points("c1", [PointOutcome(1, rows_for(days, 4.0))]) == []
    counts = await store.counts("c1")
    assert (counts.total, counts.done, counts.failed, counts.skipped, counts.open) == (
        3,
        1,
        0,
        2,
        0,
    )
    assert [p.status for p in await store.points("c1")] == [
        PointStatus.SUCCEEDED,
        PointStatus.SKIPPED,
        PointStatus.SKIPPED,
    ]
    assert await store.complete_if_done("c1") is None
    assert not await store.request_cancel("c1")  # already final
    event = terminal_event(ended, counts)
    assert event is not None and event.type == "ERROR"
    assert (event.code, event.message) == (
        "cancelled",
        "stop (1 of 3 point(s) done, 0 failed, 2 not computed)",
    )
    timed_out = await store.create(
        "c2", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS[:1]
    )
    await store.end(timed_out.id, JobStatus.TIMED_OUT, error_code="timeout", message="stalled")
    final = await store.get("c2")
    assert final is not None
    event = terminal_event(final, await store.counts("c2"))
    assert event is not None and event.type == "TIMEOUT" and "1 not computed" in event.message


async def test_finish_points_reports_inside_its_transaction(store: BatchStore) -> None:
    await store.create("r1", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS)
    await store.claim_points("r1", None, worker="w")
    seen: list[tuple[list[int], tuple[int, int, int]]] = []

    async def report(stored: list[int], counts: Counts) -> None:
        seen.append((stored, (counts.done, counts.failed, counts.open)))

    outcomes = [PointOutcome(0, rows_for(["2020-01-01"], 3.0)), PointOutcome(2, None, "x", "y")]
    assert await store.finish_points("r1", outcomes, report=report) == [0, 2]
    assert seen == [([0, 2], (1, 1, 1))]


async def test_old_embedded_database_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the batches table and a row as the first release made
        conn.execute(
            "CREATE TABLE batches (id VARCHAR(32) PRIMARY KEY, status VARCHAR(16), start DATE,"
            ' "end" DATE, sources JSON, n_points INTEGER, region VARCHAR(100),'
            " created_at DATETIME, started_at DATETIME, finished_at DATETIME,"
            " error_code VARCHAR(64), message TEXT)"
        )
        conn.execute(
            'INSERT INTO batches (id, status, start, "end", n_points, created_at) VALUES'
            " ('old', 'succeeded', '2020-01-01', '2020-01-01', 0, '2020-01-02 00:00:00')"
        )
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        store = BatchStore(engine)
        await store.init()
        before = await store.get("old")
        assert before is not None and not before.cancel_requested
        assert before.choice.label == "fao56"
        batch = await store.create(
            "o1", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS
        )
        assert await store.request_cancel("o1")
        found = await store.get("o1")
        assert found is not None and found.cancel_requested and batch.choice.label == "fao56"
    finally:
        await engine.dispose()


async def test_a_batch_keeps_its_method_choice(store: BatchStore) -> None:
    choice = MethodChoice(method="asce", reference="tall", rso="simple")
    batch = await store.create(
        "m1", start=date(2020, 1, 1), end=date(2020, 1, 1), points=POINTS, choice=choice
    )
    assert batch.choice == choice
    found = await store.get("m1")
    assert found is not None
    assert (found.method, found.reference, found.rso) == ("asce", "tall", "simple")
    assert found.choice.label == "asce-tall-simple"
    frame = result_frame(found, await store.points("m1", with_rows=True))
    assert set(frame["method"]) == {"asce-tall-simple"}


async def test_result_table_has_a_row_per_point_and_day(store: BatchStore) -> None:
    days = ["2020-01-01", "2020-01-02", "2020-01-03"]
    batch = await store.create("b3", start=date(2020, 1, 1), end=date(2020, 1, 3), points=POINTS)
    await store.claim_points("b3", None, worker="w")
    await store.finish_points(
        "b3",
        [
            PointOutcome(0, rows_for(days, 3.5)),
            PointOutcome(1, None, "no_elevation", "elevation unknown"),
            PointOutcome(2, rows_for(days, float("nan"))),
        ],
    )
    frame = result_frame(batch, await store.points("b3", with_rows=True))
    assert len(frame) == 9
    assert frame.columns[-1] == "method" and set(frame["method"]) == {"fao56"}
    assert list(frame.columns[:7]) == [
        "point_index",
        "name",
        "lat",
        "lon",
        "elevation",
        "point_status",
        "point_error",
    ]
    failed = frame[frame.point_index == 1]
    assert list(failed["date"]) == days
    assert set(failed["point_status"]) == {"failed"}
    assert failed["eto_mm"].isna().all()
    assert failed["point_error"].iloc[0] == "no_elevation: elevation unknown"
    assert frame.loc[frame.point_index == 2, "eto_mm"].isna().all()  # NaN stored as null
    assert frame.loc[frame.point_index == 1, "elevation"].iloc[0] == 247.0
    back = pd.read_parquet(io.BytesIO(frame_bytes(frame, "parquet")))
    assert back.shape == frame.shape
    csv = pd.read_csv(io.BytesIO(frame_bytes(frame, "csv")))
    assert list(csv["eto_mm"].fillna(-1)) == list(frame["eto_mm"].astype(float).fillna(-1))
    with pytest.raises(ValueError, match="format"):
        frame_bytes(frame, "xlsx")


def om_body(lat: float, days: list[str]) -> dict[str, object]:
    return {
        "latitude": lat,
        "elevation": 200.0,
        "daily_units": {"wind_speed_10m_mean": "m/s", "shortwave_radiation_sum": "MJ/m²"},
        "daily": {
            "time": days,
            "temperature_2m_max": [30.0 + lat / 100] * len(days),
            "temperature_2m_min": [20.0] * len(days),
            "wind_speed_10m_mean": [2.0] * len(days),
            "shortwave_radiation_sum": [20.0] * len(days),
        },
    }


async def test_open_meteo_groups_several_points_in_one_request() -> None:
    days = ["2020-01-01", "2020-01-02"]
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        lats = [float(v) for v in request.url.params["latitude"].split(",")]
        body: object = [om_body(a, days) for a in lats] if len(lats) > 1 else om_body(lats[0], days)
        return httpx2.Response(200, content=json.dumps(body).encode())

    settings = Settings(upstream_url="http://fake.test", upstream_retries=0)
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    http = Upstream(settings, client=client)
    adapter = OpenMeteoArchive()
    points = [(-7.19, -48.21), (-8.44, -43.86), (-10.0, -45.0)]
    series = await adapter.fetch_many(
        http, points, date(2020, 1, 1), date(2020, 1, 2), today=date(2026, 1, 1)
    )
    assert len(seen) == 1
    assert seen[0].url.params["longitude"] == "-48.2100,-43.8600,-45.0000"
    assert [s.lat for s in series] == [-7.19, -8.44, -10.0]
    assert series[1].values["tmax_c"][0] == pytest.approx(30.0 - 0.0844)
    one = await adapter.fetch_many(
        http, points[:1], date(2020, 1, 1), date(2020, 1, 2), today=date(2026, 1, 1)
    )
    assert len(one) == 1 and one[0].lon == -48.21

    def short(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=json.dumps([om_body(-7.0, days)]).encode())

    http = Upstream(settings, client=httpx2.AsyncClient(transport=httpx2.MockTransport(short)))
    with pytest.raises(MalformedResponse, match="1 location"):
        await adapter.fetch_many(
            http, points[:2], date(2020, 1, 1), date(2020, 1, 2), today=date(2026, 1, 1)
        )
    await client.aclose()


def test_celery_app_has_batch_tasks_routes_and_beat_schedule() -> None:
    from evapo.jobs.batch_tasks import (
        BATCH_CHUNK_TASK,
        REFRESH_REGIONS_TASK,
        REFRESH_SCHEDULE_NAME,
        SWEEP_BATCHES_TASK,
        SWEEP_SCHEDULE_NAME,
        TRANSIENT,
    )
    from evapo.jobs.celery_app import RUN_JOB_TASK, make_celery

    settings = Settings(
        mode="distributed",
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/evapo_test",
        job_queue="q.test",
        region_refresh_s=900,
        batch_sweep_s=45,
    )
    app = make_celery(settings)
    try:
        assert {RUN_JOB_TASK, BATCH_CHUNK_TASK, REFRESH_REGIONS_TASK} <= set(app.tasks)
        routes = app.conf.task_routes
        assert routes[BATCH_CHUNK_TASK] == routes[RUN_JOB_TASK] == {"queue": "q.test"}
        entry = app.conf.beat_schedule[REFRESH_SCHEDULE_NAME]
        assert (entry["task"], entry["schedule"]) == (REFRESH_REGIONS_TASK, 900)
        sweep = app.conf.beat_schedule[SWEEP_SCHEDULE_NAME]
        assert (sweep["task"], sweep["schedule"]) == (SWEEP_BATCHES_TASK, 45)
        assert routes[SWEEP_BATCHES_TASK] == {"queue": "q.test"}
        assert SWEEP_BATCHES_TASK in app.tasks
        assert app.tasks[BATCH_CHUNK_TASK].autoretry_for == TRANSIENT
    finally:
        app.close()


def test_batch_stall_must_exceed_the_job_deadline() -> None:
    with pytest.raises(ValueError, match="batch_stall_s"):
        Settings(batch_stall_s=200, job_deadline_s=300)
    assert Settings(batch_stall_s=301, job_deadline_s=300).batch_stall_s == 301
