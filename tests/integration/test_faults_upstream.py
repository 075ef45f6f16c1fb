"""Each fault mode of the fake upstream during a full job: a partial result says which source
failed for which days; when nothing can serve, the job ends ERROR saying so.

The pipeline is the same code in both modes; these run embedded (real uvicorn + SQLite) so each
test starts with closed circuit breakers. The distributed variant of "nothing can serve" is in
``test_faults.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import connect

from evapo.api.server import run_in_thread
from evapo.client import ws_url
from evapo.sources.http import reset_breakers
from tests.integration.distributed_support import arm_fault
from tests.integration.embedded_support import embedded_settings

pytestmark = pytest.mark.integration

# Balsas (MA), May and June (60 days) of a year: served by NASA POWER and the Open-Meteo archive.
JOB = {"lat": -7.5312, "lon": -46.0390, "elevation": 247}
DAYS = 60

FaultyJob = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(scope="module")
def api(fake: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("faults-upstream")
    settings = embedded_settings(
        tmp,
        fake,
        upstream_retries=1,
        upstream_timeout_s=1.0,
        region_scheduler=False,
        ws_heartbeat_s=0.5,
    )
    with run_in_thread(settings) as url:
        yield url


@pytest.fixture
async def http(api: str, fake: str) -> AsyncIterator[httpx2.AsyncClient]:
    """API client; every fault and breaker is cleared after the test (and the cache bypassed)."""
    reset_breakers()
    async with httpx2.AsyncClient(base_url=api, timeout=60) as client:
        yield client
    async with httpx2.AsyncClient(base_url=fake) as control:
        await control.delete("/_control/faults")
    reset_breakers()


async def run_job(api: str, http: httpx2.AsyncClient, year: int) -> dict[str, Any]:
    """Submit JOB's days of ``year``, follow to the end; the last message, the status and (on
    success) the result."""
    spec = JOB | {"start": f"{year}-05-01", "end": f"{year}-06-29"}
    accepted = await http.post("/api/v1/jobs", json=spec)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    last: dict[str, Any] = {}
    async with connect(ws_url(api, job_id), proxy=None) as socket:
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] != "HEARTBEAT":
                last = message
    status = (await http.get(f"/api/v1/jobs/{job_id}")).json()
    out: dict[str, Any] = {"last": last, "status": status}
    if status["status"] == "succeeded":
        out["result"] = (await http.get(f"/api/v1/jobs/{job_id}/result")).json()
    return out


@pytest.fixture
def faulty_job(api: str, fake: str, http: httpx2.AsyncClient) -> FaultyJob:
    """``await faulty_job(year, **fault)``: arm ``fault`` on the fake APIs, then
    :func:`run_job` for ``year`` (a fresh year per test, so no cached day hides the fault)."""

    async def run(year: int, **fault: Any) -> dict[str, Any]:
        await arm_fault(fake, **fault)
        return await run_job(api, http, year)

    return run


@pytest.mark.parametrize(
    ("mode", "extra", "kinds"),
    [
        ("500", {}, {"http", "circuit_open"}),
        ("429", {"retry_after": 0.1}, {"http", "circuit_open"}),
        ("slow", {"delay_s": 3.0}, {"timeout", "circuit_open"}),
        ("malformed", {}, {"malformed", "circuit_open"}),
    ],
)
async def test_one_source_down_gives_a_flagged_partial_result(
    faulty_job: FaultyJob, mode: str, extra: dict[str, Any], kinds: set[str]
) -> None:
    # A fresh year per mode so no cached day hides the fault.
    year = {"500": 2011, "429": 2012, "slow": 2013, "malformed": 2014}[mode]
    out = await faulty_job(year, api="nasa_power", mode=mode, **extra)
    assert out["last"]["type"] == "SUCCESS", out["last"]
    summary = out["result"]["summary"]
    failed = summary["source_failures"]
    assert set(failed) == {"nasa_power"}, failed
    assert (failed["nasa_power"]["first"], failed["nasa_power"]["last"]) == (
        f"{year}-05-01",
        f"{year}-06-29",
    )
    assert failed["nasa_power"]["kind"] in kinds, failed
    assert failed["nasa_power"]["reason"]
    assert summary["sources"] == ["openmeteo_archive"]
    rows = out["result"]["rows"]
    assert len(rows) == DAYS
    assert all(row.get("eto_nasa_power_mm") is None for row in rows)
    assert all(row["eto_mm"] is not None for row in rows)


async def test_fill_values_leave_those_days_of_that_source_empty(faulty_job: FaultyJob) -> None:
    out = await faulty_job(2015, api="nasa_power", mode="fill")
    assert out["last"]["type"] == "SUCCESS", out["last"]
    assert out["result"]["summary"]["source_failures"] == {}
    rows = out["result"]["rows"]
    holes = [i for i, row in enumerate(rows) if row["eto_nasa_power_mm"] is None]
    assert holes and holes == list(range(0, DAYS, 3)), holes
    assert all(rows[i]["eto_mm"] is not None for i in holes), "the other source covers them"
    assert all(row["eto_openmeteo_archive_mm"] is not None for row in rows)


async def test_missing_radiation_everywhere_is_flagged_on_every_day(faulty_job: FaultyJob) -> None:
    out = await faulty_job(2016, api="*", mode="missing")
    assert out["last"]["type"] == "SUCCESS", out["last"]
    rows = out["result"]["rows"]
    assert all("rs:hargreaves" in row["flags"].split(";") for row in rows), [
        r["flags"] for r in rows
    ][:5]
    assert all(row["rs_mj_m2"] is None for row in rows), "no source measured it"
    assert all(row["eto_mm"] is not None for row in rows)


async def test_nothing_can_serve_ends_error_saying_so(faulty_job: FaultyJob) -> None:
    out = await faulty_job(2017, api="*", mode="500")
    last = out["last"]
    assert (last["type"], last["code"]) == ("ERROR", "no_source"), last
    assert "nasa_power failed" in last["message"]
    assert "openmeteo_archive failed" in last["message"]
    assert out["status"]["status"] == "failed"
    assert out["status"]["error"]["code"] == "no_source"
