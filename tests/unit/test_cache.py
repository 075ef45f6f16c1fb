"""Weather cache on SQLite: round trip, grid cells, freshness rules, partial writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from evapo.schema import DailySeries, Flag
from evapo.store.cache import FORECAST_TTL_S, RECENT_TTL_S, WeatherCache, cell_of
from evapo.store.db import make_engine

GRID = (0.5, 0.625)
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
TODAY = date(1970, 1, 1) + timedelta(days=int(NOW // 86400))


def _series(first: date, n: int, *, lat: float = -8.44, lon: float = -43.86) -> DailySeries:
    dates = np.arange(np.datetime64(first, "D"), np.datetime64(first, "D") + n)
    tmax = 20.0 + np.arange(n, dtype=float)
    tmax[1] = np.nan
    flags = np.zeros(n, np.uint32)
    flags[0] = Flag.WIND_FROM_10M
    return DailySeries(
        dates=dates,
        values={"tmax_c": tmax, "rs_mj_m2": np.full(n, 18.5)},
        flags=flags,
        source="nasa_power",
        lat=lat,
        lon=lon,
        elevation_m=268.8,
        extra={"eto_provider": np.full(n, 4.2)},
    )


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[WeatherCache]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/cache.db")
    c = WeatherCache(engine)
    await c.init()
    await c.init()  # idempotent
    yield c
    await engine.dispose()


async def test_round_trip_across_months_keeps_values_nan_flags_extra(cache: WeatherCache) -> None:
    s = _series(date(2000, 1, 20), 45)
    assert await cache.store(s, grid=GRID, now=NOW) == 45
    got = await cache.load(
        "nasa_power", -8.44, -43.86, date(2000, 1, 15), date(2000, 3, 10), grid=GRID, now=NOW
    )
    assert got.present.sum() == 45
    assert not got.present[:5].any() and not got.present[-6:].any()
    sl = slice(5, 50)
    np.testing.assert_array_equal(got.series["tmax_c"][sl], s["tmax_c"])
    np.testing.assert_array_equal(got.series.extra["eto_provider"][sl], s.extra["eto_provider"])
    assert got.series.flags[5] == Flag.WIND_FROM_10M
    assert got.series.elevation_m == pytest.approx(268.8)
    assert np.isnan(got.series["tmax_c"][:5]).all()


async def test_points_in_the_same_grid_cell_share_rows(cache: WeatherCache) -> None:
    assert cell_of(-8.44, -43.86, GRID) == cell_of(-8.3, -43.9, GRID)
    await cache.store(_series(date(2000, 1, 1), 10), grid=GRID, now=NOW)
    same = await cache.load(
        "nasa_power", -8.3, -43.9, date(2000, 1, 1), date(2000, 1, 10), grid=GRID, now=NOW
    )
    other = await cache.load(
        "nasa_power", -9.0, -43.86, date(2000, 1, 1), date(2000, 1, 10), grid=GRID, now=NOW
    )
    assert same.present.all()
    assert not other.present.any()
    wrong_source = await cache.load(
        "openmeteo_archive", -8.44, -43.86, date(2000, 1, 1), date(2000, 1, 10), grid=GRID
    )
    assert not wrong_source.present.any()


async def test_archive_kept_recent_refreshed_after_a_day_forecast_after_an_hour(
    cache: WeatherCache,
) -> None:
    archive = _series(TODAY - timedelta(days=100), 5)
    recent = _series(TODAY - timedelta(days=5), 5)
    forecast = _series(TODAY, 5)
    for s in (archive, recent, forecast):
        await cache.store(s, grid=GRID, now=NOW)

    async def present_at(s: DailySeries, now: float) -> bool:
        a = s.dates[0].astype(date)
        b = s.dates[-1].astype(date)
        got = await cache.load("nasa_power", s.lat, s.lon, a, b, grid=GRID, now=now)
        return bool(got.present.all())

    later = NOW + FORECAST_TTL_S + 1
    assert await present_at(forecast, NOW + 60)
    assert not await present_at(forecast, later)
    assert await present_at(recent, later)
    assert not await present_at(recent, NOW + RECENT_TTL_S + 1)
    assert await present_at(archive, NOW + 365 * 86400)


async def test_masked_store_keeps_other_days(cache: WeatherCache) -> None:
    s = _series(date(2001, 5, 1), 10)
    await cache.store(s, grid=GRID, now=NOW)
    changed = _series(date(2001, 5, 1), 10)
    changed.values["tmax_c"][:] = 99.0
    mask = np.zeros(10, bool)
    mask[3] = True
    assert await cache.store(changed, grid=GRID, mask=mask, now=NOW) == 1
    got = await cache.load(
        "nasa_power", s.lat, s.lon, date(2001, 5, 1), date(2001, 5, 10), grid=GRID, now=NOW
    )
    assert got.series["tmax_c"][3] == 99.0
    assert got.series["tmax_c"][4] == s["tmax_c"][4]


async def test_clear_removes_rows(cache: WeatherCache) -> None:
    s = _series(date(2001, 5, 1), 3)
    await cache.store(s, grid=GRID, now=NOW)
    await cache.clear("nasa_power")
    got = await cache.load(
        "nasa_power", s.lat, s.lon, date(2001, 5, 1), date(2001, 5, 3), grid=GRID, now=NOW
    )
    assert not got.present.any()
