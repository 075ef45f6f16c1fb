"""Batches in distributed mode for real: API + two ``evapo worker`` processes, RabbitMQ broker,
Redis Streams events, a fresh migrated PostgreSQL database and the fake upstream APIs."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as run_fake_apis
from evapo.store.db import make_engine
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import (
    TEST_REDIS_DB,
    WorkerProcess,
    settings_env,
    temp_database,
    unique,
)
from tests.integration.test_batch_embedded import (
    BAD,
    assert_cancelled_honestly,
    cancel_after_first_point,
    follow,
    points,
    reported,
)

pytestmark = pytest.mark.integration

AMQP_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
START, END, DAYS = "2019-05-01", "2019-05-15", 15


@dataclass
class Stack:
    settings: Settings
    api: str
    upstream: str
    workers: list[WorkerProcess]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("batch-distributed")
    with temp_database() as db_url, run_fake_apis(shared_data) as upstream:
        upgrade_head(db_url)
        settings = Settings(
            mode="distributed",
            database_url=db_url,
            redis_url=f"redis://127.0.0.1:6379/{TEST_REDIS_DB}",
            broker_url=AMQP_BROKER,
            job_queue=unique("evapo.batch."),
            upstream_url=upstream,
            job_deadline_s=120,
            ws_heartbeat_s=1.0,
        )
        env = settings_env(settings) | {
            "EVAPO_BATCH_CHUNK_POINTS": "5",
            "EVAPO_BATCH_RETRY_DELAY_S": "0.2",
            "EVAPO_UPSTREAM_RETRIES": "0",
        }
        workers = [WorkerProcess(n, env, log_dir, new_session=True) for n in ("ba", "bb")]
        try:
            for worker in workers:
                worker.wait_ready()
            with run_in_thread(settings.model_copy(update={"batch_chunk_points": 5})) as api:
                yield Stack(settings, api, upstream, workers)
        finally:
            for worker in workers:
                worker.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=stack.api, timeout=60) as client:
        yield client


async def point_workers(settings: Settings, batch_id: str) -> dict[int, str | None]:
    """Which process (host:pid) computed each point."""
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT idx, worker FROM batch_points WHERE batch_id = :b"), {"b": batch_id}
            )
            return {int(i): w for i, w in found.all()}
    finally:
        await engine.dispose()


async def test_fifty_points_on_two_workers_one_failing(
    stack: Stack, http: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = points(shared_data, 50)
    async with httpx2.AsyncClient(base_url=stack.upstream) as control:
        fault = {"api": "*", "mode": "500", "lat": pts[BAD]["lat"], "lon": pts[BAD]["lon"]}
        assert (
            await control.post("/_control/faults", json=fault | {"radius_deg": 0.01})
        ).is_success
        try:
            answer = await http.post(
                "/api/v1/batches", json={"points": pts, "start": START, "end": END}
            )
            assert answer.status_code == 202, answer.text
            accepted = answer.json()
            events, code = await asyncio.wait_for(follow(accepted["ws_url"]), 240)
        finally:
            await control.delete("/_control/faults")
    assert code == 1000
    assert events[-1]["type"] == "SUCCESS", events[-3:]
    assert events[-1]["summary"] == {"points_total": 50, "points_done": 49, "points_failed": 1}
    per_point = reported(events)
    assert sorted(p["index"] for p in per_point) == list(range(50))  # each once
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    status = (await http.get(accepted["status_url"], params={"points": "true"})).json()
    assert (status["status"], status["points_done"], status["points_failed"]) == (
        "succeeded",
        49,
        1,
    )
    failed = [p for p in status["points"] if p["status"] == "failed"]
    assert [p["index"] for p in failed] == [BAD]
    assert all(p["attempts"] == 1 for p in status["points"] if p["index"] != BAD)

    pids = {
        w.split(":")[-1]
        for w in (await point_workers(stack.settings, accepted["batch_id"])).values()
        if w
    }
    pool = {str(pid) for worker in stack.workers for pid in worker.pool_pids()}
    assert len(pids) == 2 and pids <= pool, (pids, pool)  # both workers computed points

    csv = (await http.get(accepted["result_url"], params={"format": "csv"})).text
    assert len(csv.strip().splitlines()) == 50 * DAYS + 1


async def test_beat_refresh_task_runs_a_region_on_the_workers(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    from celery import Celery

    from evapo.jobs.batch_tasks import REFRESH_REGIONS_TASK

    region = {"bbox": {"lat_min": -9, "lat_max": -8, "lon_min": -47, "lon_max": -46}, "step_deg": 1}
    assert (await http.put("/api/v1/regions/dist", json=region)).status_code == 200
    # What Celery beat sends every region_refresh_s.
    sender = Celery("beat-like", broker=stack.settings.broker_url, set_as_current=False)
    try:
        sender.send_task(REFRESH_REGIONS_TASK, queue=stack.settings.job_queue)
    finally:
        sender.close()
    latest = None
    for _ in range(400):
        latest = (await http.get("/api/v1/regions/dist/map")).json()["latest_run"]
        if latest is not None:
            break
        await asyncio.sleep(0.05)
    assert latest is not None, "the refresh task started no run"
    ws = stack.api.replace("http://", "ws://") + f"/ws/batches/{latest['batch_id']}"
    events, _ = await asyncio.wait_for(follow(ws), 120)
    assert events[-1]["type"] == "SUCCESS", events[-2:]
    shown = (await http.get("/api/v1/regions/dist/map")).json()
    assert shown["run"]["batch_id"] == latest["batch_id"]
    assert len(shown["points"]) == 4
    assert all(p["eto_mm"] is not None and 0 < p["eto_mm"] < 15 for p in shown["points"])


async def test_killing_a_worker_mid_batch_still_completes(
    stack: Stack, http: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = points(shared_data, 40)
    async with httpx2.AsyncClient(base_url=stack.upstream) as control:
        # Slow NASA POWER answers keep the batch running long enough to kill a worker in it.
        slow = {"api": "nasa_power", "mode": "slow", "count": 6, "delay_s": 2}
        assert (await control.post("/_control/faults", json=slow)).is_success
        answer = await http.post(
            "/api/v1/batches", json={"points": pts, "start": "2017-02-01", "end": "2017-02-20"}
        )
        accepted = answer.json()
        batch_id = accepted["batch_id"]
        victim = None
        for _ in range(200):
            busy = {w for w in (await point_workers(stack.settings, batch_id)).values() if w}
            owners = [
                worker
                for worker in stack.workers
                if any(w.endswith(f":{pid}") for w in busy for pid in worker.pool_pids())
            ]
            if owners:
                victim = owners[0]
                break
            await asyncio.sleep(0.05)
        assert victim is not None, "no worker claimed a point"
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        events, code = await asyncio.wait_for(follow(accepted["ws_url"]), 240)
        await control.delete("/_control/faults")
    assert code == 1000
    assert events[-1]["type"] == "SUCCESS", events[-3:]
    assert events[-1]["summary"]["points_done"] == 40
    status = (await http.get(accepted["status_url"])).json()
    assert (status["status"], status["points_done"]) == ("succeeded", 40)
    survivor = next(w for w in stack.workers if w is not victim)
    assert batch_id in survivor.log_text()


async def test_cancel_a_running_batch_on_the_workers(
    stack: Stack, http: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = points(shared_data, 30)
    async with httpx2.AsyncClient(base_url=stack.upstream) as control:
        # Every NASA POWER answer takes a second: the batch is still running when cancelled.
        slow = {"api": "nasa_power", "mode": "slow", "delay_s": 1}
        assert (await control.post("/_control/faults", json=slow)).is_success
        try:
            body = {"points": pts, "start": "2016-05-01", "end": "2016-05-10"}
            accepted = (await http.post("/api/v1/batches", json=body)).json()
            events, code, answer = await asyncio.wait_for(
                cancel_after_first_point(http, accepted), 240
            )
        finally:
            await control.delete("/_control/faults")
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"batch_id": accepted["batch_id"], "cancel_requested": True}
    assert code == 1000
    status = (await http.get(accepted["status_url"], params={"points": "true"})).json()
    assert_cancelled_honestly(events, status, len(pts))
    # Nothing is left running on the workers' side, and nothing was stored for skipped points.
    engine = make_engine(stack.settings.database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT status, count(*), count(rows) FROM batch_points WHERE batch_id = :b"
                    " GROUP BY status"
                ),
                {"b": accepted["batch_id"]},
            )
            by_status = {s: (int(n), int(with_rows)) for s, n, with_rows in found.all()}
    finally:
        await engine.dispose()
    assert set(by_status) <= {"succeeded", "failed", "skipped"}
    assert by_status["skipped"][1] == 0
    again = await http.delete(accepted["status_url"])
    assert again.status_code == 409


async def test_a_batch_no_worker_started_is_cancelled_by_the_api_at_once(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    from evapo.batches import BatchCreate, create_batch
    from evapo.services import close_services, open_services

    # Stored but never sent to the workers: as if its tasks were still waiting in the queue.
    services = await open_services(stack.settings, runner=False)
    try:
        body = BatchCreate.model_validate(
            {"points": [{"name": "a", "lat": -7.19, "lon": -48.21}], "start": START, "end": END}
        )
        batch = await create_batch(services, unique("q"), body)
    finally:
        await close_services(services)
    answer = await http.delete(f"/api/v1/batches/{batch.id}")
    assert answer.status_code == 202, answer.text
    status = (await http.get(f"/api/v1/batches/{batch.id}")).json()
    assert (status["status"], status["points_skipped"], status["points_done"]) == (
        "cancelled",
        1,
        0,
    )
    ws = stack.api.replace("http://", "ws://") + f"/ws/batches/{batch.id}"
    events, code = await asyncio.wait_for(follow(ws), 30)
    assert code == 1000
    assert [(e["type"], e.get("code")) for e in events] == [("ERROR", "cancelled")]


async def test_the_sweep_task_runs_on_the_workers_at_start_and_when_beat_sends_it(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    import time

    from celery import Celery

    from evapo.batches import BatchCreate, create_batch
    from evapo.jobs.batch_tasks import SWEEP_BATCHES_TASK
    from evapo.services import close_services, open_services
    from evapo.store.batches import BatchStore, PointOutcome

    # Each worker queued one sweep when it became ready; one of them ran it.
    deadline = time.monotonic() + 60
    while not any('"batch_sweep_done"' in w.log_text() for w in stack.workers):
        assert time.monotonic() < deadline, "no worker ran the start-up sweep"
        await asyncio.sleep(0.1)
    # A batch whose closing step was lost: every point stored, the batch still running.
    services = await open_services(stack.settings, runner=False)
    try:
        body = BatchCreate.model_validate(
            {"points": [{"name": "a", "lat": -7.19, "lon": -48.21}], "start": START, "end": END}
        )
        batch = await create_batch(services, unique("lost"), body)
        store = BatchStore(services.engine)
        await store.start(batch.id)
        await store.claim_points(batch.id, None, worker="gone:9")
        day = {"date": START, "eto_mm": 4.0, "flags": ""}
        assert await store.finish_points(batch.id, [PointOutcome(0, [day])]) == [0]
    finally:
        await close_services(services)
    # What Celery beat sends every batch_sweep_s.
    sender = Celery("beat-like", broker=stack.settings.broker_url, set_as_current=False)
    try:
        sender.send_task(SWEEP_BATCHES_TASK, queue=stack.settings.job_queue)
    finally:
        sender.close()
    ws = stack.api.replace("http://", "ws://") + f"/ws/batches/{batch.id}"
    events, code = await asyncio.wait_for(follow(ws), 60)
    assert code == 1000
    assert [e["type"] for e in events] == ["SUCCESS"]
    status = (await http.get(f"/api/v1/batches/{batch.id}")).json()
    assert (status["status"], status["points_done"]) == ("succeeded", 1)


async def test_method_fields_reach_the_workers_and_the_table(
    stack: Stack, http: httpx2.AsyncClient, shared_data: Path
) -> None:
    import io

    import pandas as pd

    pts = [p | {"elevation": 180.0} for p in points(shared_data, 6)]
    days = {"start": "2017-10-01", "end": "2017-10-05"}
    tall = {"method": "asce", "reference": "tall"}
    accepted = (await http.post("/api/v1/batches", json={"points": pts} | days | tall)).json()
    events, _ = await asyncio.wait_for(follow(accepted["ws_url"]), 120)
    assert events[-1]["type"] == "SUCCESS", events[-2:]
    assert (await http.get(accepted["status_url"])).json()["eto_method"] == "asce-tall-full"
    text = (await http.get(accepted["result_url"], params={"format": "csv"})).text
    table = pd.read_csv(io.StringIO(text))
    assert set(table["method"]) == {"asce-tall-full"} and len(table) == 6 * 5
    # The workers computed each point with the batch's method: a job with it gives the same.
    job = (
        await http.post(
            "/api/v1/jobs",
            json={"lat": pts[4]["lat"], "lon": pts[4]["lon"], "elevation": 180.0} | days | tall,
        )
    ).json()
    events, _ = await asyncio.wait_for(follow(job["ws_url"]), 120)
    assert events[-1]["type"] == "SUCCESS"
    job_rows = (await http.get(job["result_url"])).json()["rows"]
    mine = table[table.point_index == 4]
    assert list(mine["eto_mm"].round(9)) == [round(r["eto_mm"], 9) for r in job_rows]
