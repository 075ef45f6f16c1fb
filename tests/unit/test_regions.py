"""Regions: grids from a box, validation, map from the last completed run (real SQLite), colours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError

from evapo.regions import (
    BBox,
    RegionCreate,
    grid_points,
    grid_size,
    refresh_all,
    refresh_region,
    region_map,
)
from evapo.services import Services
from evapo.store.batches import BatchStore, PointOutcome
from evapo.store.db import make_engine
from evapo.web.regional import ETO_CLASSES, NO_DATA_COLOUR, eto_colour, legend_labels, page_html

TODAY = date(2026, 3, 10)


def test_grid_points_include_both_edges() -> None:
    box = BBox(lat_min=-10, lat_max=-8, lon_min=-48, lon_max=-47)
    points = grid_points(box, 0.5)
    assert len(points) == 5 * 3
    assert (points[0].lat, points[0].lon) == (-10, -48)
    assert (points[-1].lat, points[-1].lon) == (-8, -47)
    assert points[1].name == "-10.0000,-47.5000"
    body = RegionCreate(bbox=box, step_deg=0.5)
    assert grid_size(body) == len(points)
    assert grid_size(RegionCreate(bbox=box, step_deg=0.3)) == len(grid_points(box, 0.3)) == 7 * 4


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "points": [{"name": "a", "lat": 0, "lon": 0}],
            "bbox": {"lat_min": 0, "lat_max": 1, "lon_min": 0, "lon_max": 1},
            "step_deg": 1,
        },
        {"bbox": {"lat_min": 0, "lat_max": 1, "lon_min": 0, "lon_max": 1}},
        {"bbox": {"lat_min": 2, "lat_max": 1, "lon_min": 0, "lon_max": 1}, "step_deg": 1},
        {"points": []},
    ],
)
def test_bad_region_bodies_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RegionCreate.model_validate(body)


def test_colours_and_legend() -> None:
    assert eto_colour(None) == NO_DATA_COLOUR
    assert eto_colour(0.3) == ETO_CLASSES[0][1]
    assert eto_colour(4.0) == ETO_CLASSES[3][1]  # bounds are exclusive upper limits
    assert eto_colour(11.0) == ETO_CLASSES[-1][1]
    assert legend_labels() == ["0–2", "2–3", "3–4", "4–5", "5–6", "≥ 6"]
    html = page_html()
    for needed in ('id="regional-map"', 'id="legend"', 'id="date-switch"', 'id="computed-at"'):
        assert needed in html


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await BatchStore(engine).init()
    yield cast(Services, SimpleNamespace(engine=engine))
    await engine.dispose()


async def finish_run(store: BatchStore, run_id: str, *, eto: float | None) -> None:
    """Complete a run: every point succeeds with ``eto`` on both days, or fails when None."""
    points = await store.claim_points(run_id, None, worker="test")
    days = [TODAY.isoformat(), (TODAY + timedelta(days=1)).isoformat()]
    outcomes = [
        PointOutcome(
            p.idx,
            None
            if eto is None
            else [{"date": d, "eto_mm": eto + i, "precip_mm": 1.0} for i, d in enumerate(days)],
            None if eto is not None else "no_source",
            None if eto is not None else "every source failed",
        )
        for p in points
    ]
    await store.finish_points(run_id, outcomes)
    await store.complete_if_done(run_id)


async def test_map_serves_last_completed_run_and_flags_a_failed_one(services: Services) -> None:
    store = BatchStore(services.engine)
    points = [{"name": "a", "lat": -7.2, "lon": -48.2}, {"name": "b", "lat": -8.4, "lon": -43.9}]
    await store.put_region("r", points, {"kind": "points"})
    empty = await region_map(services, "r")
    assert (empty.run, empty.points, empty.message) == (None, [], "no completed run yet")

    first = await refresh_region(services, "r", dispatcher=None, today=TODAY)
    assert (first.region, first.start, first.end, first.n_points) == (
        "r",
        TODAY,
        TODAY + timedelta(days=1),
        2,
    )
    await finish_run(store, first.id, eto=4.5)
    shown = await region_map(services, "r")
    assert shown.run is not None and shown.run.batch_id == first.id
    assert shown.dates == [TODAY, TODAY + timedelta(days=1)]
    assert [p.eto_mm for p in shown.points] == [4.5, 4.5]
    assert [
        p.eto_mm for p in (await region_map(services, "r", day=TODAY + timedelta(days=1))).points
    ] == [5.5, 5.5]
    with pytest.raises(ValueError, match="date"):
        await region_map(services, "r", day=TODAY - timedelta(days=1))
    assert shown.stale is False and shown.message.startswith("computed at")

    second = await refresh_region(services, "r", dispatcher=None, today=TODAY)
    running = await region_map(services, "r")
    assert running.run is not None and running.run.batch_id == first.id
    assert "a refresh is running" in running.message
    assert await refresh_all(services, dispatcher=None) == []  # an open run is not doubled
    await finish_run(store, second.id, eto=None)
    stale = await region_map(services, "r")
    assert stale.stale is True
    assert stale.run is not None and stale.run.batch_id == first.id
    assert stale.latest_run is not None and stale.latest_run.batch_id == second.id
    assert "failed" in stale.message and "showing the run computed at" in stale.message
    assert [p.eto_mm for p in stale.points] == [4.5, 4.5]

    third = (await refresh_all(services, dispatcher=None))[0]
    await finish_run(store, third.id, eto=6.0)
    fresh = await region_map(services, "r")
    assert fresh.stale is False and fresh.run is not None and fresh.run.batch_id == third.id
    assert await refresh_all(services, dispatcher=None, older_than_s=3600) == []
    with pytest.raises(KeyError):
        await region_map(services, "unknown")
