"""Distributed mode for real: API (uvicorn) + ``evapo worker`` processes + Redis + PostgreSQL.

Upstream weather comes from the fake APIs serving the shared Brazilian data; Redis DB 15 holds the
events, the broker uses a queue name unique to this run, PostgreSQL a fresh migrated database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
import websockets
from sqlalchemy import update

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.events.messages import Error, Progress
from evapo.fakeapi.server import run_in_thread as run_fake_apis
from evapo.jobs.celery_app import WORKER_LOST_CODE, _run_job
from evapo.jobs.distributed import BROKER_UNAVAILABLE_CODE, CeleryJobRunner
from evapo.services import Services, close_services, open_services
from evapo.store.jobs import JobRow, JobSpec, JobStatus
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import (
    TEST_REDIS_DB,
    WorkerProcess,
    arm_fault,
    settings_env,
    stored_rows,
    temp_database,
    unique,
)

pytestmark = pytest.mark.integration

EVENTS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
REDIS_BROKER = "redis://127.0.0.1:6379/14"
AMQP_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
# A point and a year the fake APIs serve from the shared data (Araguaina, TO).
JOB = {"lat": -7.19, "lon": -48.21, "start": "2019-01-01", "end": "2019-12-31"}
DAYS = 365


@dataclass
class Stack:
    settings: Settings
    api: str
    upstream: str
    worker: WorkerProcess
    log_dir: Path


def make_settings(db_url: str, upstream: str, broker: str) -> Settings:
    return Settings(
        mode="distributed",
        database_url=db_url,
        redis_url=EVENTS_URL,
        broker_url=broker,
        job_queue=unique("evapo.test."),
        upstream_url=upstream,
        job_deadline_s=120,
        ws_heartbeat_s=1.0,
        cancel_poll_s=0.2,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("distributed")
    with temp_database() as db_url, run_fake_apis(shared_data) as upstream:
        upgrade_head(db_url)
        settings = make_settings(db_url, upstream, REDIS_BROKER)
        worker = WorkerProcess("w1", settings_env(settings), log_dir)
        try:
            worker.wait_ready()
            with run_in_thread(settings) as api:
                yield Stack(settings, api, upstream, worker, log_dir)
        finally:
            worker.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=stack.api, timeout=30) as client:
        yield client


async def follow(ws_url: str, after: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every message of a job's socket until it closes; and the close code."""
    url = ws_url if after is None else f"{ws_url}?after={after}"
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url, open_timeout=10) as ws:
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        code = ws.close_code
    assert code is not None
    return [m for m in messages if m["type"] != "HEARTBEAT"], code


async def first_progress(ws_url: str) -> dict[str, Any]:
    """The job's first PROGRESS message (skipping heartbeats)."""
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] != "HEARTBEAT":
                return dict(message)


async def submit(http: httpx2.AsyncClient, **override: Any) -> dict[str, Any]:
    answer = await http.post("/api/v1/jobs", json=JOB | override)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def test_happy_path_over_http_and_websocket(stack: Stack, http: httpx2.AsyncClient) -> None:
    accepted = await submit(http)
    events, code = await follow(accepted["ws_url"])
    assert code == 1000
    assert [e["type"] for e in events][-1] == "SUCCESS", events[-3:]
    assert all(e["type"] == "PROGRESS" for e in events[:-1])
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1))
    steps = [e["step"] for e in events[:-1]]
    assert steps[0] == "validate"
    assert any(s.startswith("fetch:") for s in steps)
    assert steps.index("fusion") > max(i for i, s in enumerate(steps) if s.startswith("fetch:"))
    progress = [e["progress"] for e in events[:-1]]
    assert progress == sorted(progress)

    status = (await http.get(accepted["status_url"])).json()
    assert status["status"] == "succeeded"
    assert status["attempts"] == 1
    result = (await http.get(accepted["result_url"], params={"format": "json"})).json()
    assert len(result["rows"]) == DAYS
    assert all(r["eto_mm"] is None or 0 < r["eto_mm"] < 15 for r in result["rows"])
    csv_text = (await http.get(accepted["result_url"], params={"format": "csv"})).text
    assert len(csv_text.strip().splitlines()) == DAYS + 1
    assert await stored_rows(stack.settings.database_url, accepted["job_id"]) == (DAYS, DAYS)
    assert accepted["job_id"] in stack.worker.log_text()

    # Late connect replays the whole history; after= resumes with no gap and no duplicate.
    replay, code = await follow(accepted["ws_url"])
    assert code == 1000
    assert replay == events
    tail, _ = await follow(accepted["ws_url"], after=3)
    assert tail == events[3:]


async def test_unknown_job_socket_closes_4404(stack: Stack) -> None:
    ws_base = stack.api.replace("http://", "ws://")
    events, code = await follow(f"{ws_base}/ws/jobs/{unique('nope')}")
    assert (events, code) == ([], 4404)


async def test_two_parallel_jobs_never_see_each_others_events(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    first, second = await asyncio.gather(
        submit(http, lat=-8.44, lon=-43.86), submit(http, lat=-7.19, lon=-48.21)
    )
    (a_events, _), (b_events, _) = await asyncio.gather(
        follow(first["ws_url"]), follow(second["ws_url"])
    )
    assert {e["job_id"] for e in a_events} == {first["job_id"]}
    assert {e["job_id"] for e in b_events} == {second["job_id"]}
    assert a_events[-1]["type"] == b_events[-1]["type"] == "SUCCESS"


async def test_cancel_a_running_job(stack: Stack, http: httpx2.AsyncClient) -> None:
    await arm_fault(stack.upstream, api="*", mode="slow", count=4, delay_s=5)
    accepted = await submit(http, start="2018-01-01", end="2018-12-31")
    async with websockets.connect(accepted["ws_url"]) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        while first["type"] == "HEARTBEAT":
            first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert first["type"] == "PROGRESS"
        assert (await http.delete(accepted["status_url"])).status_code < 300
        rest = [json.loads(m) async for m in ws]
    last = rest[-1]
    assert (last["type"], last["code"]) == ("ERROR", "cancelled")
    status = (await http.get(accepted["status_url"])).json()
    assert status["status"] == "cancelled"
    async with httpx2.AsyncClient(base_url=stack.upstream) as client:
        await client.delete("/_control/faults")


async def test_invalid_input_is_refused_and_creates_no_job(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    before = (await http.get("/api/v1/jobs", params={"limit": 200})).json()["jobs"]
    answer = await http.post("/api/v1/jobs", json=JOB | {"lat": 95, "start": "2019-12-31"})
    assert answer.status_code == 422
    fields = {tuple(d["loc"])[-1] for d in answer.json()["detail"]}
    assert "lat" in fields
    after = (await http.get("/api/v1/jobs", params={"limit": 200})).json()["jobs"]
    assert len(after) == len(before)


async def test_all_sources_failing_ends_with_a_clear_error(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    await arm_fault(stack.upstream, api="*", mode="500")
    try:
        accepted = await submit(http, start="2015-01-01", end="2015-03-31", elevation=235)
        events, code = await follow(accepted["ws_url"])
    finally:
        async with httpx2.AsyncClient(base_url=stack.upstream) as client:
            await client.delete("/_control/faults")
    assert code == 1000
    assert (events[-1]["type"], events[-1]["code"]) == ("ERROR", "no_source")
    assert "failed" in events[-1]["message"]
    status = (await http.get(accepted["status_url"])).json()
    assert status["status"] == "failed"


async def test_pool_process_killed_mid_job_is_redelivered_and_completes(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    await arm_fault(stack.upstream, api="nasa_power", mode="slow", count=1, delay_s=4)
    accepted = await submit(http, start="2017-01-01", end="2017-12-31")
    first = await first_progress(accepted["ws_url"])
    assert first["type"] == "PROGRESS"
    pids = stack.worker.pool_pids()
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)

    events, code = await follow(accepted["ws_url"])
    assert code == 1000
    assert events[-1]["type"] == "SUCCESS", events[-3:]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    retries = [e for e in events if e["type"] == "PROGRESS" and e["step"] == "retry"]
    assert len(retries) == 1
    assert retries[0]["data"] == {"attempt": 2, "max_attempts": 3}
    steps_after_retry = [e.get("step") for e in events[events.index(retries[0]) :]]
    assert "validate" in steps_after_retry
    status = (await http.get(accepted["status_url"])).json()
    assert (status["status"], status["attempts"]) == ("succeeded", 2)
    assert await stored_rows(stack.settings.database_url, accepted["job_id"]) == (DAYS, DAYS)


@pytest.fixture
async def services(stack: Stack) -> AsyncIterator[Services]:
    opened = await open_services(stack.settings, runner=False)
    yield opened
    await close_services(opened)


async def test_job_whose_workers_keep_dying_ends_failed(services: Services) -> None:
    job_id = unique("dying")
    spec = JobSpec.model_validate(JOB)
    await services.store.create(job_id, spec)
    for _ in range(services.settings.job_max_attempts):
        assert await services.store.claim(job_id) is not None
    await services.events.append(Progress(job_id=job_id, progress=5, step="plan", message="p"))
    await _run_job(job_id, services, redelivered=True)
    job = await services.store.get(job_id)
    assert job is not None
    assert (job.status, job.error_code) == (JobStatus.FAILED, WORKER_LOST_CODE)
    events = await services.events.read(job_id)
    assert isinstance(events[-1], Error)
    assert events[-1].code == WORKER_LOST_CODE
    # A further redelivery changes nothing and adds no second terminal event.
    await _run_job(job_id, services, redelivered=True)
    assert await services.events.read(job_id) == events


async def test_sweeper_fails_jobs_running_past_deadline(services: Services) -> None:
    settings = services.settings
    stale, fresh = unique("stale"), unique("fresh")
    for job_id in (stale, fresh):
        await services.store.create(job_id, JobSpec.model_validate(JOB))
        await services.store.claim(job_id)
    long_ago = datetime.now(UTC) - timedelta(
        seconds=settings.job_deadline_s + settings.stale_job_grace_s + 5
    )
    async with services.engine.begin() as conn:
        await conn.execute(update(JobRow).where(JobRow.id == stale).values(started_at=long_ago))
    runner = CeleryJobRunner(
        settings, engine=services.engine, events=services.events, sweep_every_s=3600
    )
    await runner.start()
    try:
        assert stale in await runner.sweep_stale()
        assert stale not in await runner.sweep_stale()
        assert await runner.ping() is True
    finally:
        await runner.stop()
    job = await services.store.get(stale)
    assert job is not None
    assert (job.status, job.error_code) == (JobStatus.FAILED, WORKER_LOST_CODE)
    events = await services.events.read(stale)
    assert [e.type for e in events] == ["ERROR"]
    still = await services.store.get(fresh)
    assert still is not None
    assert still.status is JobStatus.RUNNING


async def test_broker_down_ping_false_and_submitted_job_fails_at_once(
    services: Services,
) -> None:
    settings = services.settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    runner = CeleryJobRunner(
        settings, engine=services.engine, events=services.events, sweep_every_s=3600
    )
    await runner.start()
    job_id = unique("nobroker")
    try:
        assert await runner.ping() is False
        await services.store.create(job_id, JobSpec.model_validate(JOB))
        await runner.submit(job_id)
    finally:
        await runner.stop()
    job = await services.store.get(job_id)
    assert job is not None
    assert (job.status, job.error_code) == (JobStatus.FAILED, BROKER_UNAVAILABLE_CODE)
    events = await services.events.read(job_id)
    assert [(e.type, getattr(e, "code", None)) for e in events] == [
        ("ERROR", BROKER_UNAVAILABLE_CODE)
    ]


def test_whole_worker_killed_with_rabbitmq_job_moves_to_the_other_worker(
    tmp_path: Path, shared_data: Path
) -> None:
    """SIGKILL of a whole worker (process group): RabbitMQ redelivers to the other worker."""
    with temp_database() as db_url, run_fake_apis(shared_data) as upstream:
        upgrade_head(db_url)
        settings = make_settings(db_url, upstream, AMQP_BROKER)
        env = settings_env(settings)
        workers = [WorkerProcess(n, env, tmp_path, new_session=True) for n in ("ra", "rb")]
        try:
            for worker in workers:
                worker.wait_ready()
            with run_in_thread(settings) as api:
                asyncio.run(_kill_whole_worker(api, upstream, workers, settings))
        finally:
            for worker in workers:
                worker.stop()


async def _kill_whole_worker(
    api: str, upstream: str, workers: list[WorkerProcess], settings: Settings
) -> None:
    await arm_fault(upstream, api="nasa_power", mode="slow", count=1, delay_s=7)
    async with httpx2.AsyncClient(base_url=api, timeout=30) as http:
        accepted = await submit(http)
        job_id = accepted["job_id"]
        assert (await first_progress(accepted["ws_url"]))["type"] == "PROGRESS"
        running = await _worker_running(settings, job_id)
        victim = next(w for w in workers if w.name == running)
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        events, code = await follow(accepted["ws_url"])
        assert code == 1000
        assert events[-1]["type"] == "SUCCESS", events[-3:]
        status = (await http.get(accepted["status_url"])).json()
        assert (status["status"], status["attempts"]) == ("succeeded", 2)
    survivor = next(w for w in workers if w is not victim)
    assert job_id in survivor.log_text()
    assert await stored_rows(settings.database_url, job_id) == (DAYS, DAYS)


async def _worker_running(settings: Settings, job_id: str) -> str:
    """Name of the worker whose pool is executing ``job_id`` (Celery remote control)."""
    from evapo.jobs.celery_app import make_celery

    app = make_celery(settings)
    try:
        active = await asyncio.to_thread(lambda: app.control.inspect(timeout=1.5).active() or {})
    finally:
        app.close()
    names = [name for name, tasks in active.items() if any(t["id"] == job_id for t in tasks)]
    assert len(names) == 1, active
    return names[0].split("@", 1)[0]


def _worker_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``evapo worker ARGS`` with only ``env`` of the EVAPO_ settings; its outcome."""
    return subprocess.run(
        [sys.executable, "-m", "evapo", "worker", *args],
        env={k: v for k, v in os.environ.items() if not k.startswith("EVAPO_")} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_worker_refuses_the_embedded_mode() -> None:
    done = _worker_cli(EVAPO_MODE="embedded")
    assert done.returncode == 2
    assert "EVAPO_MODE" in done.stderr


def _nice(pid: int) -> int:
    """A process's niceness (field 19 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


def test_worker_and_its_pool_run_at_lower_cpu_priority(stack: Stack) -> None:
    """Jobs yield the CPU to API processes on the same machine (``evapo worker --nice``)."""
    pool = stack.worker.pool_pids()
    assert pool
    assert [_nice(pid) for pid in [stack.worker.proc.pid, *pool]] == [10] * (len(pool) + 1)


def test_worker_refuses_a_niceness_out_of_range() -> None:
    done = _worker_cli(
        "--nice", "20", EVAPO_MODE="distributed", EVAPO_DATABASE_URL="postgresql+psycopg://u@h/d"
    )
    assert done.returncode == 2
    assert "--nice must be between 0 and 19, got 20" in done.stderr
