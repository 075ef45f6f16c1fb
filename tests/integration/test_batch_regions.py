"""Regional map, embedded: the in-process scheduler refreshes a region, the map serves the newest
completed run, and a failed run keeps the previous map and says so (real uvicorn, fake upstream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis
from evapo.pipeline import today_utc
from evapo.sources.http import reset_breakers
from evapo.store.cache import WeatherCache
from evapo.store.db import make_engine
from tests.integration.test_batch_embedded import follow

pytestmark = pytest.mark.integration

BOX = {"bbox": {"lat_min": -9, "lat_max": -7, "lon_min": -48, "lon_max": -46}, "step_deg": 1}


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    with fake_apis(shared_data) as url:
        yield url


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('regions') / 'evapo.db'}"


@pytest.fixture(scope="module")
def api(fake: str, database_url: str) -> Iterator[str]:
    settings = Settings(
        database_url=database_url,
        upstream_url=fake,
        upstream_retries=0,
        upstream_timeout_s=20.0,
        ws_heartbeat_s=0.5,
        batch_point_attempts=1,
        region_refresh_s=1,
    )
    with run_in_thread(settings) as url:
        yield url


@pytest.fixture
async def http(api: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=api, timeout=60) as client:
        yield client


def ws_url(http: httpx2.AsyncClient, batch_id: str) -> str:
    """The batch's WebSocket URL on the test API."""
    return str(http.base_url).rstrip("/").replace("http", "ws", 1) + f"/ws/batches/{batch_id}"


async def next_run(http: httpx2.AsyncClient, after: str | None) -> dict[str, Any]:
    """The first run the scheduler starts after run ``after`` (polls the map, 1 s schedule)."""
    for _ in range(300):
        latest = (await http.get("/api/v1/regions/box/map")).json()["latest_run"]
        if latest is not None and latest["batch_id"] != after:
            return dict(latest)
        await asyncio.sleep(0.05)
    raise AssertionError("the scheduler started no run")


async def test_scheduler_refresh_map_and_failed_run(
    http: httpx2.AsyncClient, fake: str, database_url: str
) -> None:
    put = await http.put("/api/v1/regions/box", json=BOX)
    assert put.status_code == 200, put.text
    assert put.json()["n_points"] == 9
    assert put.json()["definition"]["kind"] == "bbox"

    run = await next_run(http, None)
    events, _ = await asyncio.wait_for(follow(ws_url(http, run["batch_id"])), 60)
    assert events[-1]["type"] == "SUCCESS", events[-2:]
    shown = (await http.get("/api/v1/regions/box/map")).json()
    assert shown["run"]["status"] == "succeeded"
    assert shown["stale"] is False
    assert shown["computed_at"] is not None
    assert "computed at" in shown["message"]
    today = today_utc()
    assert shown["dates"] == [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    assert len(shown["points"]) == 9
    assert all(0 < p["eto_mm"] < 15 for p in shown["points"])
    assert all(p["precip_mm"] is None or p["precip_mm"] >= 0 for p in shown["points"])
    tomorrow = await http.get("/api/v1/regions/box/map", params={"date": shown["dates"][1]})
    assert tomorrow.json()["date"] == shown["dates"][1]
    outside = await http.get("/api/v1/regions/box/map", params={"date": "2001-01-01"})
    assert outside.status_code == 422

    async def clear_weather_cache() -> None:
        engine = make_engine(database_url)
        try:
            await WeatherCache(engine).clear()
        finally:
            await engine.dispose()

    async with httpx2.AsyncClient(base_url=fake) as control:
        assert (await control.post("/_control/faults", json={"api": "*", "mode": "500"})).is_success
        try:
            # Every upstream API down and nothing cached (fresh forecast days would carry a run;
            # elevations once looked up are remembered). The run open when the fault was armed
            # may still succeed (and cache what it fetched before): wait for a failed one.
            await clear_weather_cache()
            failed = await next_run(http, run["batch_id"])
            for _ in range(10):
                events, _ = await asyncio.wait_for(follow(ws_url(http, failed["batch_id"])), 60)
                if events[-1]["type"] == "ERROR":
                    break
                await clear_weather_cache()
                failed = await next_run(http, failed["batch_id"])
            assert events[-1]["type"] == "ERROR"
            assert events[-1]["code"] == "all_points_failed"
            stale = (await http.get("/api/v1/regions/box/map")).json()
        finally:
            await control.delete("/_control/faults")
    reset_breakers()
    assert stale["stale"] is True
    assert stale["latest_run"]["status"] == "failed"
    assert stale["run"]["status"] == "succeeded"
    assert stale["run"]["batch_id"] != stale["latest_run"]["batch_id"]
    assert "failed" in stale["message"] and "showing the run computed at" in stale["message"]
    assert len(stale["points"]) == 9 and all(p["eto_mm"] for p in stale["points"])


async def test_region_refusals_and_page(http: httpx2.AsyncClient) -> None:
    too_big = {
        "bbox": {"lat_min": -30, "lat_max": 0, "lon_min": -60, "lon_max": -30},
        "step_deg": 0.5,
    }
    answer = await http.put("/api/v1/regions/huge", json=too_big)
    assert answer.status_code == 422
    assert "step_deg" in answer.text and "at most 1000" in answer.text
    both = {"points": [{"name": "a", "lat": 0, "lon": 0}], **BOX}
    assert (await http.put("/api/v1/regions/both", json=both)).status_code == 422
    assert (await http.get("/api/v1/regions/nope/map")).status_code == 404
    assert (await http.post("/api/v1/regions/nope/refresh")).status_code == 404
    listed = (await http.get("/api/v1/regions")).json()["regions"]
    assert [r["name"] for r in listed] == ["box"]
    page = await http.get("/regional")
    assert page.status_code == 200
    assert 'id="regional-map"' in page.text and 'id="legend"' in page.text
