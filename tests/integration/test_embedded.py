"""Embedded mode end to end: real uvicorn (HTTP + WebSocket) in a thread, fake upstream APIs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from evapo.api.server import run_in_thread
from evapo.client import EvapoClient, ws_url
from evapo.config import Settings
from evapo.sources.http import reset_breakers
from tests.integration.embedded_support import embedded_settings

pytestmark = pytest.mark.integration

URUCUI = {"lat": -7.2295, "lon": -44.5603}
BALSAS = {"lat": -7.5312, "lon": -46.0390}
YEAR_2019 = {"start": "2019-01-01", "end": "2019-12-31"}


def _settings(tmp: Path, fake: str, **overrides: Any) -> Settings:
    return embedded_settings(
        tmp, fake, **({"ws_heartbeat_s": 0.5, "cancel_poll_s": 0.2} | overrides)
    )


@pytest.fixture(scope="module")
def api(fake: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_in_thread(_settings(tmp_path_factory.mktemp("api"), fake)) as url:
        yield url


@pytest.fixture
async def faults(fake: str) -> AsyncIterator[httpx2.AsyncClient]:
    """Control of the fake's faults; every fault (and every open breaker) is cleared after."""
    async with httpx2.AsyncClient(base_url=fake) as control:
        yield control
        await control.delete("/_control/faults")
    reset_breakers()


async def _messages(socket: ClientConnection, limit: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for raw in socket:
        message = json.loads(raw)
        if message["type"] != "HEARTBEAT":
            out.append(message)
        if limit is not None and len(out) >= limit:
            break
    return out


@asynccontextmanager
async def _socket(api: str, job_id: str, after: int = 0) -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(api, job_id, after), proxy=None) as socket:
        yield socket


async def _submit(client: EvapoClient, **spec: Any) -> str:
    return (await client.submit(**(URUCUI | YEAR_2019 | spec))).job_id


async def test_happy_path_progress_then_success_and_results(api: str) -> None:
    async with EvapoClient(api) as client:
        job_id = await _submit(client)
        async with _socket(api, job_id) as socket:
            messages = await _messages(socket)
            assert socket.close_code is None or socket.close_code == 1000
        status = await client.status(job_id)
        result = await client.result(job_id)
        csv_text = await client.result(job_id, "csv")
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    steps = [m["step"] for m in messages if m["type"] == "PROGRESS"]
    assert steps[:3] == ["validate", "plan", "elevation"]
    assert sorted(steps[3:5]) == ["fetch:nasa_power", "fetch:openmeteo_archive"]
    assert steps[5:] == ["quality", "fusion", "store"]
    progress = [m["progress"] for m in messages if m["type"] == "PROGRESS"]
    assert progress == sorted(progress) and progress[-1] < 100
    final = messages[-1]
    assert final["type"] == "SUCCESS" and final["result_url"].endswith(f"/{job_id}/result")
    assert final["summary"]["n_days"] == 365 and final["summary"]["eto_mean_mm"] > 2
    assert status["status"] == "succeeded" and status["progress"] == 100
    rows = result["rows"]
    assert len(rows) == 365 and rows[0]["date"] == "2019-01-01"
    assert all(r["eto_lo_mm"] <= r["eto_mm"] <= r["eto_hi_mm"] for r in rows)
    assert {"eto_nasa_power_mm", "eto_openmeteo_archive_mm", "flags"} <= set(rows[0])
    lines = csv_text.strip().split("\n")
    assert len(lines) == 366 and lines[0].startswith("date,eto_mm,eto_lo_mm,eto_hi_mm")
    assert lines[1].startswith("2019-01-01,")
    async with httpx2.AsyncClient(base_url=api) as http:
        metrics = (await http.get("/metrics")).text
    assert 'evapo_job_step_seconds_count{step="fetch"}' in metrics
    assert 'evapo_source_fetches_total{outcome="ok",source="nasa_power"}' in metrics
    assert "evapo_upstream_calls_total" in metrics
    assert 'evapo_jobs{status="succeeded"}' in metrics


async def test_late_connect_replays_all_and_after_resumes_exactly(api: str) -> None:
    async with EvapoClient(api) as client:
        job_id = await _submit(client, start="2018-01-01", end="2018-03-31")
        await client.follow(job_id)
    async with _socket(api, job_id) as socket:
        history = await _messages(socket)
    assert history[-1]["type"] == "SUCCESS"
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    async with _socket(api, job_id, after=4) as socket:
        tail = await _messages(socket)
    assert tail == history[4:]


async def test_reconnect_mid_job_has_no_gap_and_no_duplicate(
    api: str, faults: httpx2.AsyncClient
) -> None:
    await faults.post(
        "/_control/faults", json={"api": "nasa_power", "mode": "slow", "delay_s": 1.5, "count": 1}
    )
    async with EvapoClient(api) as client:
        job_id = await _submit(client, **BALSAS, start="2017-01-01", end="2017-06-30")
        async with _socket(api, job_id) as socket:
            first = await _messages(socket, limit=3)  # validate, plan, elevation
        assert (await client.status(job_id))["status"] == "running"
        async with _socket(api, job_id, after=first[-1]["seq"]) as socket:
            rest = await _messages(socket)
    seqs = [m["seq"] for m in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["type"] == "SUCCESS"


async def test_unknown_job_closes_4404(api: str) -> None:
    async with _socket(api, "no-such-job") as socket:
        with pytest.raises(ConnectionClosedError):
            await socket.recv()
    assert socket.close_code == 4404


async def test_sockets_are_not_compressed_even_when_the_client_offers_it(api: str) -> None:
    async with EvapoClient(api) as client:
        job_id = await _submit(client)
    async with connect(ws_url(api, job_id), proxy=None, compression="deflate") as socket:
        assert socket.protocol.extensions == []  # the offer (websockets' default) is declined
        assert [m["type"] for m in await _messages(socket)][-1] == "SUCCESS"


async def test_parallel_jobs_never_see_each_others_events(api: str) -> None:
    async with EvapoClient(api) as client:
        a = await _submit(client, start="2016-01-01", end="2016-12-31")
        b = await _submit(client, **BALSAS, start="2016-01-01", end="2016-12-31")

        async def follow(job_id: str) -> list[dict[str, Any]]:
            async with _socket(api, job_id) as socket:
                return await _messages(socket)

        got_a, got_b = await asyncio.gather(follow(a), follow(b))
    assert {m["job_id"] for m in got_a} == {a} and {m["job_id"] for m in got_b} == {b}
    assert got_a[-1]["type"] == got_b[-1]["type"] == "SUCCESS"


async def test_invalid_input_creates_no_job(api: str) -> None:
    async with httpx2.AsyncClient(base_url=api) as http:
        before = len((await http.get("/api/v1/jobs", params={"limit": 200})).json()["jobs"])
        bad = await http.post("/api/v1/jobs", json=URUCUI | YEAR_2019 | {"lat": 150})
        after = len((await http.get("/api/v1/jobs", params={"limit": 200})).json()["jobs"])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "lat"]
    assert before == after


async def test_cancel_ends_with_error_cancelled(api: str, faults: httpx2.AsyncClient) -> None:
    await faults.post("/_control/faults", json={"api": "*", "mode": "slow", "delay_s": 20})
    async with EvapoClient(api) as client:
        job_id = await _submit(client, start="2015-01-01", end="2015-01-31", elevation=200)
        async with _socket(api, job_id) as socket:
            await _messages(socket, limit=3)
            heartbeat = json.loads(await socket.recv())  # fetching hangs: the socket idles
            assert heartbeat["type"] == "HEARTBEAT" and heartbeat["job_id"] == job_id
            t0 = time.perf_counter()
            async with httpx2.AsyncClient(base_url=api) as http:
                assert (await http.delete(f"/api/v1/jobs/{job_id}")).status_code == 202
            rest = await _messages(socket)
        elapsed = time.perf_counter() - t0
        status = await client.status(job_id)
    assert rest[-1]["type"] == "ERROR" and rest[-1]["code"] == "cancelled"
    assert elapsed < 5
    assert status["status"] == "cancelled" and status["error"]["code"] == "cancelled"


async def test_all_sources_failing_is_a_clear_error(api: str, faults: httpx2.AsyncClient) -> None:
    for source in ("nasa_power", "openmeteo_archive"):
        await faults.post("/_control/faults", json={"api": source, "mode": "500"})
    async with EvapoClient(api) as client:
        job_id = await _submit(client, start="2014-01-01", end="2014-01-31", elevation=200)
        final = await client.follow(job_id)
        status = await client.status(job_id)
    assert final.type == "ERROR" and final.code == "no_source"
    assert "every source failed" in final.message
    assert "nasa_power" in final.message and "openmeteo_archive" in final.message
    assert status["status"] == "failed"


async def test_deadline_ends_with_timeout(
    fake: str, tmp_path: Path, faults: httpx2.AsyncClient
) -> None:
    await faults.post("/_control/faults", json={"api": "*", "mode": "slow", "delay_s": 20})
    settings = _settings(tmp_path, fake, job_deadline_s=1.0)
    with run_in_thread(settings) as url:
        async with EvapoClient(url) as client:
            job_id = await _submit(client, start="2013-01-01", end="2013-01-31", elevation=200)
            final = await client.follow(job_id)
            status = await client.status(job_id)
    assert final.type == "TIMEOUT" and "deadline of 1 s" in final.message
    assert status["status"] == "timed_out"


async def test_restart_fails_jobs_left_running(fake: str, tmp_path: Path) -> None:
    from evapo.store.db import make_engine
    from evapo.store.jobs import JobSpec, JobStore

    settings = _settings(tmp_path, fake)
    engine = make_engine(settings.database_url)
    store = JobStore(engine)
    await store.init()
    spec = JobSpec.model_validate(URUCUI | YEAR_2019)
    await store.create("was-running", spec)
    await store.claim("was-running")
    await store.create("was-queued", spec)
    await engine.dispose()
    with run_in_thread(settings) as url:
        async with EvapoClient(url) as client:
            for job_id in ("was-running", "was-queued"):
                final = await client.follow(job_id)
                assert final.type == "ERROR" and final.code == "interrupted"
                assert (await client.status(job_id))["status"] == "failed"
