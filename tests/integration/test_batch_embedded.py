"""Batches in embedded mode, end to end: real uvicorn (HTTP + WebSocket), SQLite, fake upstream."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pandas as pd
import pytest
from websockets.asyncio.client import connect

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis
from evapo.sources.http import reset_breakers

pytestmark = pytest.mark.integration

START, END, DAYS = "2019-03-01", "2019-03-20", 20
BAD = 17
"""Index of the point whose upstream requests all fail."""


def points(shared_data: Path, n: int) -> list[dict[str, Any]]:
    """``n`` points spread around the 12 cities of the shared data."""
    cities = pd.read_csv(shared_data / "cities.csv")
    out = []
    for i in range(n):
        city = cities.iloc[i % len(cities)]
        lat, lon = float(city["lat"]) + 0.25 * (i // len(cities)), float(city["lon"])
        out.append({"name": f"{city['city']}-{i}", "lat": round(lat, 4), "lon": round(lon, 4)})
    return out


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    with fake_apis(shared_data) as url:
        yield url


@pytest.fixture(scope="module")
def api(fake: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('batch') / 'evapo.db'}",
        upstream_url=fake,
        upstream_retries=0,
        upstream_timeout_s=20.0,
        ws_heartbeat_s=0.5,
        batch_retry_delay_s=0.1,
        region_scheduler=False,
    )
    with run_in_thread(settings) as url:
        yield url


@pytest.fixture
async def http(api: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=api, timeout=60) as client:
        yield client


@pytest.fixture
async def control(fake: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=fake) as client:
        await client.post("/_control/reset")
        yield client
        await client.delete("/_control/faults")
    reset_breakers()


def reported(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every point the batch's PROGRESS events report finished, in the order reported."""
    return [
        point
        for e in events
        if e["type"] == "PROGRESS" and e["step"] == "points"
        for point in e["data"]["points"]
    ]


async def follow(ws_url: str, after: int = 0) -> tuple[list[dict[str, Any]], int | None]:
    url = f"{ws_url}?after={after}" if after else ws_url
    out = []
    async with connect(url, proxy=None, open_timeout=10) as socket:
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] != "HEARTBEAT":
                out.append(message)
        code = socket.close_code
    return out, code


async def test_fifty_points_one_failing(
    http: httpx2.AsyncClient, control: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = points(shared_data, 50)
    bad = pts[BAD]
    armed = await control.post(
        "/_control/faults",
        json={"api": "*", "mode": "500", "lat": bad["lat"], "lon": bad["lon"], "radius_deg": 0.01},
    )
    assert armed.status_code == 201
    answer = await http.post("/api/v1/batches", json={"points": pts, "start": START, "end": END})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert set(accepted) == {"batch_id", "status_url", "ws_url", "result_url"}

    events, code = await asyncio.wait_for(follow(accepted["ws_url"]), 120)
    assert code == 1000
    assert events[-1]["type"] == "SUCCESS"
    assert events[-1]["summary"] == {"points_total": 50, "points_done": 49, "points_failed": 1}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    groups = [e for e in events if e["type"] == "PROGRESS" and e["step"] == "points"]
    per_point = reported(events)
    assert len(per_point) == 50  # every point reported once, none twice
    assert sorted(p["index"] for p in per_point) == list(range(50))
    assert len(groups) < 50  # points stored together are reported together
    done = [e["data"]["done"] for e in groups]
    assert done == sorted(done) and done[-1] == 49
    assert [e["data"]["done"] + e["data"]["failed"] for e in groups][-1] == 50
    failed = [p for p in per_point if p["status"] == "failed"]
    assert [p["index"] for p in failed] == [BAD]
    assert failed[0]["error"].startswith("no_elevation: ")

    # Replay after a seq gives exactly the rest.
    tail, _ = await follow(accepted["ws_url"], after=5)
    assert tail == events[5:]

    status = (await http.get(accepted["status_url"], params={"points": "true"})).json()
    assert status["status"] == "succeeded"
    assert (status["points_total"], status["points_done"], status["points_failed"]) == (50, 49, 1)
    by_index = {p["index"]: p for p in status["points"]}
    assert by_index[BAD]["status"] == "failed"
    assert by_index[BAD]["error"]["code"] == "no_elevation"
    assert by_index[BAD]["attempts"] == 2  # batch_point_attempts: retried once
    assert all(p["attempts"] == 1 for i, p in by_index.items() if i != BAD)

    csv = await http.get(accepted["result_url"], params={"format": "csv"})
    assert csv.status_code == 200
    table = pd.read_csv(io.StringIO(csv.text))
    assert len(table) == 50 * DAYS
    assert table.groupby("point_index").size().eq(DAYS).all()
    assert set(table.loc[table.point_index == BAD, "point_status"]) == {"failed"}
    assert table.loc[table.point_index == BAD, "eto_mm"].isna().all()
    good = table[table.point_index != BAD]
    assert good["eto_mm"].between(0.5, 12).all()
    parquet = await http.get(accepted["result_url"], params={"format": "parquet"})
    frame = pd.read_parquet(io.BytesIO(parquet.content))
    assert frame.shape == table.shape
    assert frame["eto_mm"].round(6).equals(table["eto_mm"].round(6))


async def test_points_share_grouped_requests_and_the_cache(
    http: httpx2.AsyncClient, control: httpx2.AsyncClient, shared_data: Path
) -> None:
    # Coordinates no other test of this module asked about (elevations are remembered).
    pts = [p | {"lat": round(p["lat"] + 0.11, 4)} for p in points(shared_data, 24)]
    body = {"points": pts, "start": "2018-06-01", "end": "2018-06-10"}
    first = (await http.post("/api/v1/batches", json=body)).json()
    events, _ = await asyncio.wait_for(follow(first["ws_url"]), 120)
    assert events[-1]["type"] == "SUCCESS"
    counts = (await control.get("/_control/requests")).json()["by_api"]
    # One grouped request for the 24 points' elevation and one for Open-Meteo archive.
    assert counts["openmeteo_elevation"] == 1
    assert counts["openmeteo_archive"] == 1
    assert counts["nasa_power"] <= 24
    # The same points again: everything comes from the shared cache.
    second = (await http.post("/api/v1/batches", json=body)).json()
    events, _ = await asyncio.wait_for(follow(second["ws_url"]), 120)
    assert events[-1]["type"] == "SUCCESS"
    again = (await control.get("/_control/requests")).json()["by_api"]
    assert again["openmeteo_archive"] == 1
    assert again["nasa_power"] == counts["nasa_power"]
    assert again["openmeteo_elevation"] == 1  # elevations looked up once are remembered


async def test_csv_upload_and_refusals(http: httpx2.AsyncClient) -> None:
    text = "name,lat,lon,elevation\nA,-7.19,-48.21,227\nB,-7.53,-46.04,\n"
    files = {"file": ("points.csv", text.encode(), "text/csv")}
    answer = await http.post("/api/v1/batches", files=files, data={"start": START, "end": END})
    assert answer.status_code == 202, answer.text
    events, _ = await asyncio.wait_for(follow(answer.json()["ws_url"]), 60)
    assert events[-1]["type"] == "SUCCESS"
    table = pd.read_csv(io.StringIO((await http.get(answer.json()["result_url"])).text))
    assert list(table.drop_duplicates("name")["elevation"].fillna(-1)) == [227.0, -1]

    bad_csv = {"file": ("p.csv", b"name,lat,lon\nA,95,-48\n", "text/csv")}
    refused = await http.post("/api/v1/batches", files=bad_csv, data={"start": START, "end": END})
    assert refused.status_code == 422
    assert "line 2" in json.dumps(refused.json())
    too_many = {"points": [{"name": "x", "lat": 0, "lon": 0}] * 1001, "start": START, "end": END}
    refused = await http.post("/api/v1/batches", json=too_many)
    assert refused.status_code == 422
    assert "at most 1000" in refused.text
    backwards = {"points": [{"name": "x", "lat": -7, "lon": -48}], "start": END, "end": START}
    refused = await http.post("/api/v1/batches", json=backwards)
    assert refused.status_code == 422
    assert (await http.get("/api/v1/batches/nope")).status_code == 404


async def test_a_restarted_process_resumes_open_batches(fake: str, tmp_path: Path) -> None:
    """Points a dead process left running are claimed again; finished ones are kept."""
    from evapo.batches import BatchCreate, BatchRunner, create_batch
    from evapo.services import close_services, open_services
    from evapo.store.batches import BatchStore, PointOutcome, PointStatus
    from evapo.store.jobs import JobStatus

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'resume.db'}",
        upstream_url=fake,
        upstream_retries=0,
    )
    services = await open_services(settings, runner=False)
    try:
        store = BatchStore(services.engine)
        await store.init()
        pts = [
            {"name": f"p{i}", "lat": -7.19 - i, "lon": -48.21, "elevation": 200.0} for i in range(3)
        ]
        body = BatchCreate.model_validate({"points": pts, "start": START, "end": "2019-03-02"})
        batch = await create_batch(services, "resume1", body)
        # The "dead" process had claimed every point and finished point 0 only.
        await store.start(batch.id)
        await store.claim_points(batch.id, None, worker="dead:1")
        kept = [{"date": "2019-03-01", "eto_mm": 1.0}, {"date": "2019-03-02", "eto_mm": 1.0}]
        assert await store.finish_points(batch.id, [PointOutcome(0, kept)]) == [0]
        runner = BatchRunner(services)
        await runner.start()
        await runner.wait(batch.id)
        final = await store.get(batch.id)
        assert final is not None and final.status is JobStatus.SUCCEEDED
        points = await store.points(batch.id, with_rows=True)
        assert [(p.status, p.attempts) for p in points] == [
            (PointStatus.SUCCEEDED, 1),
            (PointStatus.SUCCEEDED, 2),
            (PointStatus.SUCCEEDED, 2),
        ]
        assert points[0].rows == kept  # not computed twice
        assert points[0].worker == "dead:1" and points[1].worker != "dead:1"
        events = await services.events.read(batch.id)
        assert events[-1].type == "SUCCESS"
        await runner.stop()
    finally:
        await close_services(services)


async def cancel_after_first_point(
    http: httpx2.AsyncClient, accepted: dict[str, Any]
) -> tuple[list[dict[str, Any]], int | None, httpx2.Response]:
    """Follow the batch socket; DELETE the batch once its first point is reported."""
    events: list[dict[str, Any]] = []
    answer: httpx2.Response | None = None
    async with connect(accepted["ws_url"], proxy=None, open_timeout=10) as socket:
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "HEARTBEAT":
                continue
            events.append(message)
            if answer is None and message.get("step") == "points":
                answer = await http.delete(accepted["status_url"])
        code = socket.close_code
    assert answer is not None, events
    return events, code, answer


def assert_cancelled_honestly(
    events: list[dict[str, Any]], status: dict[str, Any], n_points: int
) -> None:
    """The log ends with one ERROR 'cancelled'; the counts match the point events."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events].count("ERROR") == 1
    last = events[-1]
    assert (last["type"], last["code"]) == ("ERROR", "cancelled")
    assert status["status"] == "cancelled" and status["error"]["code"] == "cancelled"
    assert status["cancel_requested"] is True
    done, failed, skipped = (
        status["points_done"],
        status["points_failed"],
        status["points_skipped"],
    )
    assert done + failed + skipped == n_points
    assert skipped > 0, status
    assert (
        f"{done} of {n_points} point(s) done, {failed} failed, {skipped} not computed"
        in (last["message"])
    )
    per_point = reported(events)
    assert len(per_point) == done + failed  # every computed point reported once, no other
    indices = {p["index"] for p in per_point}
    by_status = {p["index"]: p["status"] for p in status["points"]}
    assert {i for i, s in by_status.items() if s in ("succeeded", "failed")} == indices
    assert {i for i, s in by_status.items() if s == "skipped"} == set(range(n_points)) - indices


async def test_cancel_a_running_batch(
    http: httpx2.AsyncClient, control: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = points(shared_data, 30)
    # Every NASA POWER answer takes a second: the batch is still running when it is cancelled.
    slow = {"api": "nasa_power", "mode": "slow", "delay_s": 1}
    assert (await control.post("/_control/faults", json=slow)).status_code == 201
    body = {"points": pts, "start": "2016-04-01", "end": "2016-04-10"}
    accepted = (await http.post("/api/v1/batches", json=body)).json()
    events, code, answer = await asyncio.wait_for(cancel_after_first_point(http, accepted), 120)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"batch_id": accepted["batch_id"], "cancel_requested": True}
    assert code == 1000
    status = (await http.get(accepted["status_url"], params={"points": "true"})).json()
    assert_cancelled_honestly(events, status, len(pts))
    # A late socket replays the same log; a final batch cannot be cancelled again; no table.
    replay, _ = await asyncio.wait_for(follow(accepted["ws_url"]), 30)
    assert replay == events
    again = await http.delete(accepted["status_url"])
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    assert (await http.get(accepted["result_url"])).status_code == 409
    unknown = await http.delete("/api/v1/batches/nope")
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]


async def test_method_fields_apply_to_every_point_and_are_recorded(
    http: httpx2.AsyncClient, shared_data: Path
) -> None:
    pts = [p | {"elevation": 250.0} for p in points(shared_data, 4)]
    days = {"start": "2017-09-01", "end": "2017-09-07"}
    tall = {"method": "asce", "reference": "tall"}
    grass = (await http.post("/api/v1/batches", json={"points": pts} | days)).json()
    alfalfa = (await http.post("/api/v1/batches", json={"points": pts} | days | tall)).json()
    for accepted in (grass, alfalfa):
        events, _ = await asyncio.wait_for(follow(accepted["ws_url"]), 120)
        assert events[-1]["type"] == "SUCCESS", events[-2:]
    status = (await http.get(alfalfa["status_url"])).json()
    assert status["eto_method"] == "asce-tall-full"
    assert (await http.get(grass["status_url"])).json()["eto_method"] == "fao56"

    tables = {}
    for name, accepted in (("grass", grass), ("tall", alfalfa)):
        text = (await http.get(accepted["result_url"], params={"format": "csv"})).text
        tables[name] = pd.read_csv(io.StringIO(text))
    assert set(tables["tall"]["method"]) == {"asce-tall-full"}
    assert set(tables["grass"]["method"]) == {"fao56"}
    assert tables["tall"].columns[-1] == "method"
    # Tall alfalfa (ETr) exceeds grass (ETo) at every point and day, and is uncalibrated.
    assert (tables["tall"]["eto_mm"] > tables["grass"]["eto_mm"]).all()
    assert tables["tall"]["flags"].str.contains("uncalibrated").all()
    # Each point of the batch equals a job for that point with the same method.
    job = await http.post(
        "/api/v1/jobs",
        json={"lat": pts[2]["lat"], "lon": pts[2]["lon"], "elevation": 250.0} | days | tall,
    )
    job_ws = job.json()["ws_url"]
    events, _ = await asyncio.wait_for(follow(job_ws), 120)
    assert events[-1]["type"] == "SUCCESS"
    job_rows = (await http.get(job.json()["result_url"])).json()["rows"]
    batch_rows = tables["tall"][tables["tall"].point_index == 2]
    assert list(batch_rows["eto_mm"].round(9)) == [round(r["eto_mm"], 9) for r in job_rows]


async def test_method_fields_of_a_csv_upload_and_their_refusals(http: httpx2.AsyncClient) -> None:
    text = b"name,lat,lon,elevation\nA,-7.19,-48.21,227\n"
    files = {"file": ("points.csv", text, "text/csv")}
    form = {"start": START, "end": "2019-03-03", "method": "asce", "rso": "simple"}
    answer = await http.post("/api/v1/batches", files=files, data=form)
    assert answer.status_code == 202, answer.text
    events, _ = await asyncio.wait_for(follow(answer.json()["ws_url"]), 60)
    assert events[-1]["type"] == "SUCCESS"
    table = pd.read_csv(io.StringIO((await http.get(answer.json()["result_url"])).text))
    assert set(table["method"]) == {"asce-short-simple"}

    pts = [{"name": "x", "lat": -7.19, "lon": -48.21}]
    refused = await http.post(
        "/api/v1/batches",
        json={"points": pts, "start": START, "end": END, "reference": "tall"},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "reference"]
    assert "FAO-56" in refused.json()["detail"][0]["msg"]
    bad_form = form | {"method": "penman"}
    refused = await http.post("/api/v1/batches", files=files, data=bad_form)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "method"]
