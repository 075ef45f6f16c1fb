"""The fake upstream APIs over real loopback HTTP: formats, replay, faults, counters, CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pandas as pd
import pytest

from evapo.fakeapi import free_port, run_in_thread

CITY = ("Balsas_MA", -7.53116999024552, -46.0389926733405, 255.910533)
POWER = "/power.larc.nasa.gov/api/temporal/daily/point"
ARCHIVE = "/archive-api.open-meteo.com/v1/archive"
FORECAST = "/api.open-meteo.com/v1/forecast"
MET = "/api.met.no/weatherapi/locationforecast/2.0/compact"
UA = {"User-Agent": "evapo-tests/1.0 (+https://example.org/evapo)"}


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    with run_in_thread(shared_data) as url:
        yield url


@pytest.fixture
def client(fake: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=fake, timeout=10.0) as c:
        c.post("/_control/reset")
        yield c


def _power(client: httpx2.Client, start: str, end: str, **extra: str) -> httpx2.Response:
    params = {
        "parameters": "T2M_MAX,WS2M,ALLSKY_SFC_SW_DWN",
        "community": "AG",
        "latitude": "-7.5",
        "longitude": "-46.0",
        "start": start,
        "end": end,
        "format": "JSON",
        **extra,
    }
    return client.get(POWER, params=params)


def test_nasa_power_format_and_values_of_nearest_city(
    client: httpx2.Client, shared_data: Path
) -> None:
    r = _power(client, "20000101", "20000110")
    assert r.status_code == 200
    body = r.json()
    assert body["header"]["fill_value"] == -999.0
    lon, lat, elev = body["geometry"]["coordinates"]
    assert (lat, lon) == (-7.5, -46.0)
    assert elev == pytest.approx(CITY[3], abs=0.01)
    csv = pd.read_csv(shared_data / "nasa_power" / f"{CITY[0]}.csv", index_col="date")
    tmax = body["properties"]["parameter"]["T2M_MAX"]
    assert list(tmax) == [f"200001{d:02d}" for d in range(1, 11)]
    assert tmax["20000105"] == pytest.approx(csv.loc["2000-01-05", "T2M_MAX"])
    assert body["parameters"]["ALLSKY_SFC_SW_DWN"]["units"] == "MJ/m^2/day"


def test_days_beyond_the_data_replay_the_latest_year(client: httpx2.Client) -> None:
    later = _power(client, "20240310", "20240310").json()["properties"]["parameter"]
    data = _power(client, "20200310", "20200310").json()["properties"]["parameter"]
    assert later["T2M_MAX"]["20240310"] == data["T2M_MAX"]["20200310"]
    # 29 February of a common year replays the 28th.
    leap = _power(client, "20230228", "20230228").json()["properties"]["parameter"]
    feb28 = _power(client, "20200228", "20200228").json()["properties"]["parameter"]
    assert leap["WS2M"]["20230228"] == feb28["WS2M"]["20200228"]


def test_nasa_power_refuses_unknown_parameter(client: httpx2.Client) -> None:
    r = _power(client, "20000101", "20000102", parameters="NOPE")
    assert r.status_code == 422
    assert "NOPE" in r.json()["messages"][0]


def test_openmeteo_archive_format_units_and_errors(
    client: httpx2.Client, shared_data: Path
) -> None:
    params = {
        "latitude": str(CITY[1]),
        "longitude": str(CITY[2]),
        "start_date": "2010-06-01",
        "end_date": "2010-06-03",
        "daily": "temperature_2m_max,wind_speed_10m_mean,et0_fao_evapotranspiration",
    }
    body = client.get(ARCHIVE, params=params).json()  # default wind unit: km/h
    csv = pd.read_csv(shared_data / "open_meteo" / f"{CITY[0]}.csv", index_col="date")
    assert body["daily"]["time"] == ["2010-06-01", "2010-06-02", "2010-06-03"]
    assert body["daily_units"]["wind_speed_10m_mean"] == "km/h"
    assert body["daily"]["wind_speed_10m_mean"][0] == pytest.approx(
        csv.loc["2010-06-01", "WS10M"] * 3.6, abs=0.01
    )
    assert body["elevation"] == pytest.approx(CITY[3], abs=0.1)
    ms = client.get(ARCHIVE, params={**params, "wind_speed_unit": "ms"}).json()
    assert ms["daily"]["wind_speed_10m_mean"][0] == pytest.approx(csv.loc["2010-06-01", "WS10M"])
    bad = client.get(ARCHIVE, params={**params, "daily": "snowfall_banana"})
    assert bad.status_code == 400
    assert bad.json()["error"] is True


def test_openmeteo_forecast_window(client: httpx2.Client) -> None:
    today = datetime.now(UTC).date()
    body = client.get(
        FORECAST,
        params={
            "latitude": "-7.5",
            "longitude": "-46",
            "past_days": "2",
            "forecast_days": "3",
            "daily": "temperature_2m_max",
        },
    ).json()
    assert body["daily"]["time"][0] == str(today - timedelta(days=2))
    assert len(body["daily"]["time"]) == 5
    too_far = client.get(
        FORECAST,
        params={
            "latitude": "-7.5",
            "longitude": "-46",
            "daily": "temperature_2m_max",
            "start_date": str(today),
            "end_date": str(today + timedelta(days=30)),
        },
    )
    assert too_far.status_code == 400
    assert "out of allowed range" in too_far.json()["reason"]


def test_elevation_api(client: httpx2.Client) -> None:
    body = client.get(
        "/api.open-meteo.com/v1/elevation", params={"latitude": "-7.5", "longitude": "-46"}
    ).json()
    assert body == {"elevation": [pytest.approx(CITY[3])]}


def test_met_norway_needs_identifying_user_agent(client: httpx2.Client) -> None:
    params = {"lat": "-7.5", "lon": "-46.0"}
    assert client.get(MET, params=params).status_code == 403  # httpx2's generic agent
    r = client.get(MET, params=params, headers=UA)
    assert r.status_code == 200
    series = r.json()["properties"]["timeseries"]
    t0 = datetime.fromisoformat(series[0]["time"].replace("Z", "+00:00"))
    t1 = datetime.fromisoformat(series[1]["time"].replace("Z", "+00:00"))
    assert t1 - t0 == timedelta(hours=1)
    assert "next_1_hours" in series[0]["data"]
    last = datetime.fromisoformat(series[-1]["time"].replace("Z", "+00:00"))
    before = datetime.fromisoformat(series[-2]["time"].replace("Z", "+00:00"))
    assert last - before == timedelta(hours=6)
    assert "next_1_hours" not in series[-1]["data"]
    details = series[0]["data"]["instant"]["details"]
    assert 0 <= details["cloud_area_fraction"] <= 100


def test_nws_points_usa_only_then_gridpoint(client: httpx2.Client) -> None:
    outside = client.get("/api.weather.gov/points/-7.5,-46.0")
    assert outside.status_code == 404
    assert outside.json()["title"] == "Data Unavailable For Requested Point"
    grid_url = client.get("/api.weather.gov/points/39.0,-95.0").json()["properties"][
        "forecastGridData"
    ]
    assert grid_url.startswith("https://api.weather.gov/gridpoints/")
    path = grid_url.removeprefix("https://")
    props = client.get(f"/{path}").json()["properties"]
    assert props["windSpeed"]["uom"] == "wmoUnit:km_h-1"
    assert props["skyCover"]["values"][0]["validTime"].endswith("/PT3H")
    assert len(props["temperature"]["values"]) == 7 * 24


def test_control_endpoint_faults_are_consumed_and_counted(client: httpx2.Client) -> None:
    r = client.post("/_control/faults", json={"api": "nasa_power", "mode": "500", "count": 2})
    assert r.status_code == 201
    assert [_power(client, "20000101", "20000101").status_code for _ in range(3)] == [
        500,
        500,
        200,
    ]
    assert client.get("/_control/requests").json() == {"total": 3, "by_api": {"nasa_power": 3}}
    bad = client.post("/_control/faults", json={"api": "nasa_power", "mode": "explode"})
    assert bad.status_code == 400


def test_fault_modes_per_request(client: httpx2.Client) -> None:
    r = _power(client, "20000101", "20000101", fault="429")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    r = client.get(
        POWER,
        params={
            "parameters": "T2M_MAX",
            "community": "AG",
            "latitude": "0",
            "longitude": "0",
            "start": "20000101",
            "end": "20000105",
        },
        headers={"X-Fake-Fault": "malformed"},
    )
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    missing = _power(client, "20000101", "20000102", fault="missing").json()
    assert "ALLSKY_SFC_SW_DWN" not in missing["properties"]["parameter"]
    filled = _power(client, "20000101", "20000106", fault="fill").json()
    values = list(filled["properties"]["parameter"]["T2M_MAX"].values())
    assert values[0] == -999.0 and values[3] == -999.0 and values[1] != -999.0


def test_slow_fault_answers_only_after_the_delay(client: httpx2.Client) -> None:
    client.post(
        "/_control/faults", json={"api": "nasa_power", "mode": "slow", "count": 1, "delay_s": 0.5}
    )
    t0 = time.perf_counter()
    assert _power(client, "20000101", "20000101").status_code == 200
    assert time.perf_counter() - t0 >= 0.5
    with pytest.raises(httpx2.TimeoutException):
        client.get(POWER, params={"fault": "slow"}, timeout=0.3)


def test_cli_serves_the_fake(shared_data: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evapo",
            "fake-apis",
            "--data",
            str(shared_data),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx2.get(f"http://127.0.0.1:{port}/_control/requests", timeout=1.0)
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                assert time.monotonic() < deadline, "fake-apis did not start"
                time.sleep(0.1)
        assert r.json() == {"total": 0, "by_api": {}}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
