"""Adapters' response parsing and the HTTP helpers, on hand-made bodies (no network)."""

from __future__ import annotations

import math
import time
from datetime import date, datetime

import httpx2
import numpy as np
import pytest

from evapo.config import Settings
from evapo.schema import Flag
from evapo.science.fao56 import extraterrestrial_radiation_daily
from evapo.sources import met_norway, nasa_power, nws, openmeteo
from evapo.sources._convert import MalformedResponse, aggregate_hourly, rs_from_cloud
from evapo.sources.http import (
    CircuitBreaker,
    HostLimiter,
    RetryableError,
    Upstream,
    UpstreamError,
    _retry_after,
    reset_breakers,
)

D0, D2 = date(2020, 1, 1), date(2020, 1, 3)


def _power_body(units: str = "MJ/m^2/day") -> dict[str, object]:
    return {
        "geometry": {"type": "Point", "coordinates": [-43.86, -8.44, 268.8]},
        "properties": {
            "parameter": {
                "T2M_MAX": {"20200101": 30.0, "20200102": -999.0, "20200103": 31.5},
                "WS2M": {"20200101": 2.0, "20200102": 2.5, "20200103": -999.0},
                "ALLSKY_SFC_SW_DWN": {"20200101": 5.0, "20200102": 6.0, "20200103": 7.0},
            }
        },
        "header": {"fill_value": -999.0},
        "parameters": {"ALLSKY_SFC_SW_DWN": {"units": units}},
    }


def test_nasa_power_fill_value_becomes_nan_and_wind_stays_2m() -> None:
    s = nasa_power.parse(_power_body(), D0, D2, -8.44, -43.86)
    assert s.source == "nasa_power"
    assert s.elevation_m == pytest.approx(268.8)
    np.testing.assert_array_equal(s["tmax_c"], [30.0, np.nan, 31.5])
    np.testing.assert_array_equal(s["wind2m_ms"], [2.0, 2.5, np.nan])
    assert not (s.flags & Flag.WIND_FROM_10M).any()
    # Parameters the body lacks stay missing.
    assert np.isnan(s["rh_mean_pct"]).all()


def test_nasa_power_radiation_in_kwh_is_converted() -> None:
    s = nasa_power.parse(_power_body("kW-hr/m^2/day"), D0, D2, 0.0, 0.0)
    np.testing.assert_allclose(s["rs_mj_m2"], [18.0, 21.6, 25.2])


def test_nasa_power_malformed_body_is_typed() -> None:
    with pytest.raises(MalformedResponse, match="nasa_power"):
        nasa_power.parse({"type": "Feature"}, D0, D2, 0.0, 0.0)


def _om_body(wind_unit: str = "m/s", rad_unit: str = "MJ/m²") -> dict[str, object]:
    return {
        "elevation": 120.0,
        "daily_units": {"wind_speed_10m_mean": wind_unit, "shortwave_radiation_sum": rad_unit},
        "daily": {
            "time": ["2020-01-01", "2020-01-02", "2020-01-03"],
            "temperature_2m_max": [30.0, None, 31.0],
            "wind_speed_10m_mean": [4.0, 3.6, None],
            "shortwave_radiation_sum": [20.0, 21.0, 22.0],
            "et0_fao_evapotranspiration": [5.1, 4.9, None],
        },
    }


def test_openmeteo_wind_10m_converted_by_eq47_and_flagged() -> None:
    s = openmeteo.parse(_om_body(), D0, D2, 1.0, 2.0, source="openmeteo_archive")
    factor = 4.87 / math.log(67.8 * 10 - 5.42)
    assert factor == pytest.approx(0.748, abs=1e-3)
    np.testing.assert_allclose(s["wind2m_ms"], [4.0 * factor, 3.6 * factor, np.nan])
    assert list(s.flags & Flag.WIND_FROM_10M) == [Flag.WIND_FROM_10M, Flag.WIND_FROM_10M, 0]
    np.testing.assert_array_equal(s["tmax_c"], [30.0, np.nan, 31.0])
    np.testing.assert_array_equal(s.extra["eto_provider"], [5.1, 4.9, np.nan])
    assert s.elevation_m == 120.0


def test_openmeteo_kmh_wind_and_watt_radiation_converted() -> None:
    s = openmeteo.parse(_om_body("km/h", "W/m2"), D0, D2, 1.0, 2.0, source="x")
    np.testing.assert_allclose(s["wind2m_ms"][:1], [4.0 / 3.6 * 0.748], rtol=1e-3)
    np.testing.assert_allclose(s["rs_mj_m2"], [1.728, 1.8144, 1.9008])


def test_openmeteo_unknown_unit_and_ragged_lists_refused() -> None:
    with pytest.raises(MalformedResponse, match="wind unit"):
        openmeteo.parse(_om_body("furlong/fortnight"), D0, D2, 1.0, 2.0, source="x")
    body = _om_body()
    body["daily"]["temperature_2m_max"] = [1.0]  # type: ignore[index]
    with pytest.raises(MalformedResponse, match="1 values for 3 days"):
        openmeteo.parse(body, D0, D2, 1.0, 2.0, source="x")


def test_rs_from_cloud_follows_angstrom() -> None:
    dates = np.array(["2020-06-21", "2020-06-21"], dtype="datetime64[D]")
    rs = rs_from_cloud(np.array([0.0, 1.0]), 40.0, dates)
    ra = float(extraterrestrial_radiation_daily(math.radians(40.0), 173.0))
    np.testing.assert_allclose(rs, [0.75 * ra, 0.25 * ra])


def test_aggregate_hourly_groups_by_local_solar_day() -> None:
    # At lon -45 (UTC-3 solar), 02:00 UTC is still the previous local day.
    times = [datetime(2020, 1, 2, h) for h in range(24)]
    vals = {"t": [float(h) for h in range(24)]}
    dates, out = aggregate_hourly(times, vals, -45.0, D0, D2, min_samples=1, min_hours=0)
    assert list(dates.astype(str)) == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert out["t"]["max"][0] == 2.0
    assert out["t"]["min"][1] == 3.0
    assert np.isnan(out["t"]["mean"][2])
    # By default a day covered for less than 20 h is left missing (Tmax/Tmin would be biased).
    _, strict = aggregate_hourly(times, vals, -45.0, D0, D2)
    assert np.isnan(strict["t"]["max"][0])  # 3 h of local 1 January
    assert strict["t"]["max"][1] == 23.0  # 21 h of local 2 January
    six_hourly = [datetime(2020, 1, 1, h) for h in (0, 6, 12, 18)]
    _, coarse = aggregate_hourly(
        six_hourly, {"t": [1.0, 2.0, 3.0, 6.0]}, 0.0, D0, D0, hours=[6] * 4
    )
    assert coarse["t"]["mean"][0] == 3.0


def _met_step(t: str, temp: float, cloud: float, hours: int = 1) -> dict[str, object]:
    period = "next_1_hours" if hours == 1 else "next_6_hours"
    return {
        "time": t,
        "data": {
            "instant": {
                "details": {
                    "air_temperature": temp,
                    "relative_humidity": 60.0,
                    "wind_speed": 5.0,
                    "cloud_area_fraction": cloud,
                }
            },
            period: {"details": {"precipitation_amount": 0.5}},
        },
    }


def test_met_norway_daily_from_steps() -> None:
    steps = [_met_step(f"2020-01-01T{h:02d}:00:00Z", 10.0 + h, 50.0) for h in range(0, 24)]
    body = {"geometry": {"coordinates": [0.0, 0.0, 12.0]}, "properties": {"timeseries": steps}}
    s = met_norway.parse(body, D0, D0, 0.0, 0.0)
    assert s["tmax_c"][0] == 33.0
    assert s["tmin_c"][0] == 10.0
    assert s["precip_mm"][0] == pytest.approx(12.0)
    assert s["wind2m_ms"][0] == pytest.approx(5.0 * 0.748, rel=1e-3)
    assert s.flags[0] & Flag.RS_FROM_CLOUD and s.flags[0] & Flag.WIND_FROM_10M
    assert s.elevation_m == 12.0


def test_nws_durations_expand_and_accumulations_spread() -> None:
    layer = {
        "values": [
            {"validTime": "2020-01-01T00:00:00+00:00/PT3H", "value": 9.0},
            {"validTime": "2020-01-01T03:00:00-01:00/P1DT1H", "value": None},
        ]
    }
    hours = nws.expand(layer, accumulate=True)
    assert hours[datetime(2020, 1, 1, 0)] == 3.0
    assert hours[datetime(2020, 1, 1, 2)] == 3.0
    assert math.isnan(hours[datetime(2020, 1, 1, 4)])
    assert len(hours) == 3 + 25


def test_nws_grid_url_must_stay_on_the_nws_host() -> None:
    ok = {"properties": {"forecastGridData": "https://api.weather.gov/gridpoints/TOP/31,80"}}
    assert nws.grid_path(ok) == "/gridpoints/TOP/31,80"
    evil = {"properties": {"forecastGridData": "https://evil.example/gridpoints/TOP/31,80"}}
    with pytest.raises(MalformedResponse, match="unexpected gridpoint URL"):
        nws.grid_path(evil)


def test_retry_after_header_forms() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    in_2s = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    assert 0.0 <= (_retry_after(in_2s) or -1) <= 2.5


def test_circuit_breaker_opens_then_half_opens() -> None:
    br = CircuitBreaker(threshold=2, cooldown_s=0.05)
    br.failure()
    assert br.state == "closed" and br.allow()
    br.failure()
    assert br.state == "open" and not br.allow()
    time.sleep(0.06)
    assert br.state == "half_open"
    assert br.allow()  # one trial
    assert not br.allow()
    br.failure()  # failed trial: open again
    assert br.state == "open"
    time.sleep(0.06)
    assert br.allow()
    br.success()
    assert br.state == "closed"
    assert br.failures == 0


async def test_upstream_retries_5xx_then_succeeds_with_mock_transport() -> None:
    reset_breakers()
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.headers["user-agent"])
        if len(calls) < 3:
            return httpx2.Response(503)
        return httpx2.Response(200, json={"ok": True})

    settings = Settings(upstream_url="http://upstream.test", upstream_retries=3)
    client = httpx2.AsyncClient(
        transport=httpx2.MockTransport(handler), headers={"User-Agent": settings.user_agent}
    )
    async with Upstream(settings, client=client) as up:
        assert await up.get_json("nasa_power", "/x") == {"ok": True}
        assert up.requests["nasa_power"] == 3
    assert calls[0] == settings.user_agent
    await client.aclose()


async def test_upstream_does_not_retry_404_and_types_errors() -> None:
    reset_breakers()
    n = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal n
        n += 1
        return httpx2.Response(404)

    settings = Settings(upstream_url="http://upstream.test", upstream_retries=3)
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    async with Upstream(settings, client=client) as up:
        with pytest.raises(UpstreamError) as err:
            await up.get_json("nws", "/points/0,0")
    assert err.value.kind == "not_found"
    assert not isinstance(err.value, RetryableError)
    assert n == 1
    await client.aclose()


async def test_host_limiter_paces_requests_past_the_burst() -> None:
    limiter = HostLimiter(rate=20.0, burst=2, concurrency=1)
    t0 = time.perf_counter()
    for _ in range(6):
        await limiter.pace()
    # Two go at once, the next four are spaced 50 ms apart.
    assert time.perf_counter() - t0 >= 0.19
