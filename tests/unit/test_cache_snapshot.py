"""Weather-cache snapshot of a share of batch points (real SQLite): one query, same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event

from evapo.store.cache import WeatherCache, cell_of
from evapo.store.db import make_engine
from tests.unit.test_cache import GRID, NOW, _series

FIRST, LAST = date(2000, 1, 15), date(2000, 3, 10)
A = (-8.44, -43.86)
B = (-10.1, -45.3)
EMPTY = (-12.0, -47.0)


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[WeatherCache]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/cache.db")
    c = WeatherCache(engine)
    await c.init()
    yield c
    await engine.dispose()


def statements(cache: WeatherCache) -> list[str]:
    """The SQL statements the cache's engine runs from now on."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(cache.engine.sync_engine, "before_cursor_execute", record)
    return seen


def same(one: Any, other: Any) -> None:
    np.testing.assert_array_equal(one.present, other.present)
    np.testing.assert_array_equal(one.series.flags, other.series.flags)
    for column in ("tmax_c", "rs_mj_m2"):
        np.testing.assert_array_equal(one.series[column], other.series[column])
    np.testing.assert_equal(one.series.elevation_m, other.series.elevation_m)


async def test_snapshot_answers_like_the_database_from_one_query(cache: WeatherCache) -> None:
    await cache.store(_series(date(2000, 1, 20), 45, lat=A[0], lon=A[1]), grid=GRID, now=NOW)
    await cache.store(_series(date(2000, 2, 1), 10, lat=B[0], lon=B[1]), grid=GRID, now=NOW)
    keys = [("nasa_power", cell_of(*p, GRID)) for p in (A, B, EMPTY)]
    seen = statements(cache)
    snapshot = await cache.snapshot(keys, FIRST, LAST)
    assert len(seen) == 1  # every key, every month: one query
    for lat, lon in (A, B, EMPTY):
        from_memory = await snapshot.load("nasa_power", lat, lon, FIRST, LAST, grid=GRID, now=NOW)
        direct = await cache.load("nasa_power", lat, lon, FIRST, LAST, grid=GRID, now=NOW)
        same(from_memory, direct)
    assert len(seen) == 1 + 3  # only the direct loads went to the database
    assert snapshot.covers("nasa_power", cell_of(*EMPTY, GRID))
    # A day range inside the snapshot's months is answered from memory too.
    inner = await snapshot.load(
        "nasa_power", *A, date(2000, 2, 1), date(2000, 2, 5), grid=GRID, now=NOW
    )
    assert inner.present.all() and len(seen) == 4


async def test_snapshot_falls_back_to_the_database_outside_it_and_after_a_write(
    cache: WeatherCache,
) -> None:
    snapshot = await cache.snapshot([("nasa_power", cell_of(*A, GRID))], FIRST, LAST)
    before = await snapshot.load("nasa_power", *A, FIRST, LAST, grid=GRID, now=NOW)
    assert not before.present.any()
    # Another worker stores the days meanwhile: the snapshot does not know...
    await cache.store(_series(date(2000, 1, 20), 45, lat=A[0], lon=A[1]), grid=GRID, now=NOW)
    stale = await snapshot.load("nasa_power", *A, FIRST, LAST, grid=GRID, now=NOW)
    assert not stale.present.any()
    # ...but a write through it drops the key, so the next load reads the database.
    await snapshot.store(_series(date(2000, 3, 6), 5, lat=A[0], lon=A[1]), grid=GRID, now=NOW)
    assert not snapshot.covers("nasa_power", cell_of(*A, GRID))
    after = await snapshot.load("nasa_power", *A, FIRST, LAST, grid=GRID, now=NOW)
    assert after.present.sum() == 45 + 5
    # Keys and months it was not asked for come from the database.
    seen = statements(cache)
    wider = await snapshot.load("nasa_power", *A, date(1999, 12, 1), LAST, grid=GRID, now=NOW)
    other = await snapshot.load("openmeteo_archive", *A, FIRST, LAST, grid=GRID, now=NOW)
    assert len(seen) == 2
    assert wider.present.sum() == 50 and not other.present.any()
