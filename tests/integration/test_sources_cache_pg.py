"""The weather cache on the real local PostgreSQL: a repeated fetch makes zero upstream calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import httpx2
import numpy as np
import pytest

from evapo.config import Settings
from evapo.fakeapi import run_in_thread
from evapo.sources import COVERAGE, WeatherCache, fetch_sources, plan_sources, reset_breakers
from evapo.store.db import make_engine

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/evapo_test"
POINT = (-12.3608954905377, -44.9740962396215)  # Sao_Desiderio_BA
SOURCES = ("nasa_power", "openmeteo_archive")


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    with run_in_thread(shared_data) as url:
        yield url


@pytest.fixture
async def pg_cache() -> AsyncIterator[WeatherCache]:
    engine = make_engine(PG_URL)
    cache = WeatherCache(engine)
    await cache.init()
    for name in SOURCES:
        await cache.clear(name, at=POINT, grid=COVERAGE[name].grid_deg)
    yield cache
    for name in SOURCES:
        await cache.clear(name, at=POINT, grid=COVERAGE[name].grid_deg)
    await engine.dispose()


async def test_postgres_cache_serves_repeat_without_upstream(
    fake: str, pg_cache: WeatherCache
) -> None:
    reset_breakers()
    start, end = date(1995, 1, 1), date(2004, 12, 31)
    plan = plan_sources(*POINT, start, end, sources=SOURCES)
    settings = Settings(upstream_url=fake)
    with httpx2.Client(base_url=fake) as control:
        control.post("/_control/reset")
        first = await fetch_sources(
            *POINT, start, end, plan=plan, settings=settings, cache=pg_cache
        )
        assert control.get("/_control/requests").json()["total"] == 2
        second = await fetch_sources(
            *POINT, start, end, plan=plan, settings=settings, cache=pg_cache
        )
        assert control.get("/_control/requests").json()["total"] == 2
    for name in SOURCES:
        a, b = first[name].series, second[name].series
        assert a is not None and b is not None
        assert second[name].from_cache and second[name].requests == 0
        np.testing.assert_array_equal(a["rs_mj_m2"], b["rs_mj_m2"])
        np.testing.assert_array_equal(a.extra.get("eto_provider"), b.extra.get("eto_provider"))
        assert b.elevation_m == pytest.approx(a.elevation_m)
