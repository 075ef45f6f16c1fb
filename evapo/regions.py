"""Regions: named sets of points whose ET0 map (today and tomorrow) is refreshed on a schedule.

A region is given as a list of points or as a bounding box plus a grid step. A refresh run is a
batch (``batches.region`` = the region's name) over today..tomorrow (UTC); the map is served from
the region's last *completed* run, so a failed run leaves the previous map in place and the map
says so. The schedule is Celery beat in distributed mode (``evapo.jobs.batch_tasks``) and
:class:`RegionScheduler`, an asyncio task in the API process, in embedded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evapo.batches import BatchCreate, BatchDispatcher, BatchPoint, create_batch
from evapo.logging import get_logger
from evapo.pipeline import today_utc
from evapo.store.batches import BatchRecord, BatchStore, RegionRecord
from evapo.store.jobs import JobStatus

if TYPE_CHECKING:
    from evapo.services import Services

log = get_logger(__name__)

REFRESH_DAYS = 2
"""Days a refresh run computes: today and tomorrow (UTC)."""
MAP_FIELDS = ("eto_mm", "eto_lo_mm", "eto_hi_mm", "precip_mm")
"""Per-day values the map serves for each point."""


class BBox(BaseModel):
    """A latitude/longitude box [deg]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat_min: float = Field(ge=-90, le=90)
    lat_max: float = Field(ge=-90, le=90)
    lon_min: float = Field(ge=-180, le=180)
    lon_max: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> BBox:
        if self.lat_min > self.lat_max:
            raise ValueError("lat_min must not exceed lat_max")
        if self.lon_min > self.lon_max:
            raise ValueError("lon_min must not exceed lon_max")
        return self


class RegionCreate(BaseModel):
    """Body of ``PUT /api/v1/regions/{name}``: points, or a box and a grid step."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bbox": {"lat_min": -10, "lat_max": -6, "lon_min": -49, "lon_max": -45},
                    "step_deg": 1.0,
                }
            ]
        },
    )

    points: list[BatchPoint] | None = Field(None, description="The region's points.")
    bbox: BBox | None = Field(None, description="Box filled with a grid of points.")
    step_deg: float | None = Field(None, gt=0, le=10, description="Grid step [deg] for bbox.")

    @model_validator(mode="after")
    def _one_kind(self) -> RegionCreate:
        if (self.points is None) == (self.bbox is None):
            raise ValueError("give either points or bbox (with step_deg), not both or neither")
        if self.bbox is not None and self.step_deg is None:
            raise ValueError("step_deg is required with bbox")
        if self.points is not None and not self.points:
            raise ValueError("points must not be empty")
        return self


def grid_points(box: BBox, step_deg: float) -> list[BatchPoint]:
    """Points every ``step_deg`` from the box's south-west corner, edges included."""
    n_lat = math.floor((box.lat_max - box.lat_min) / step_deg + 1e-9) + 1
    n_lon = math.floor((box.lon_max - box.lon_min) / step_deg + 1e-9) + 1
    points = []
    for i in range(n_lat):
        for j in range(n_lon):
            lat = round(box.lat_min + i * step_deg, 6)
            lon = round(box.lon_min + j * step_deg, 6)
            points.append(BatchPoint(name=f"{lat:.4f},{lon:.4f}", lat=lat, lon=lon))
    return points


def region_points(body: RegionCreate) -> list[BatchPoint]:
    """The region's points (the grid for a box)."""
    if body.points is not None:
        return list(body.points)
    assert body.bbox is not None and body.step_deg is not None
    return grid_points(body.bbox, body.step_deg)


def grid_size(body: RegionCreate) -> int:
    """How many points the region has, without building them."""
    if body.points is not None:
        return len(body.points)
    assert body.bbox is not None and body.step_deg is not None
    box, step = body.bbox, body.step_deg
    n_lat = math.floor((box.lat_max - box.lat_min) / step + 1e-9) + 1
    n_lon = math.floor((box.lon_max - box.lon_min) / step + 1e-9) + 1
    return n_lat * n_lon


async def put_region(services: Services, name: str, body: RegionCreate) -> RegionRecord:
    """Store (or replace) a region; raises ValueError naming the field when too big."""
    limit = services.settings.batch_max_points
    size = grid_size(body)
    if size > limit:
        field = "points" if body.points is not None else "step_deg"
        raise ValueError(f"{field}: the region has {size} points; at most {limit} are allowed")
    points = [p.model_dump() for p in region_points(body)]
    definition: dict[str, Any] = (
        {"kind": "points"}
        if body.bbox is None
        else {"kind": "bbox", "bbox": body.bbox.model_dump(), "step_deg": body.step_deg}
    )
    return await BatchStore(services.engine).put_region(name, points, definition)


async def refresh_region(
    services: Services,
    name: str,
    *,
    dispatcher: BatchDispatcher | None,
    today: date | None = None,
) -> BatchRecord:
    """Start a refresh run of the region (today and tomorrow); queue it when a dispatcher is given.

    Raises KeyError when the region is unknown.
    """
    store = BatchStore(services.engine)
    region = await store.get_region(name)
    if region is None:
        raise KeyError(name)
    first = today or today_utc()
    body = BatchCreate(
        points=[BatchPoint.model_validate(p) for p in region.points],
        start=first,
        end=first + timedelta(days=REFRESH_DAYS - 1),
    )
    run = await create_batch(services, uuid4().hex, body, region=name)
    log.info("region_refresh", region=name, batch_id=run.id, points=run.n_points)
    if dispatcher is not None:
        await dispatcher.submit(run.id, run.n_points)
    return run


async def refresh_all(
    services: Services, *, dispatcher: BatchDispatcher | None, older_than_s: float = 0.0
) -> list[BatchRecord]:
    """Start a run for every region whose newest run is older than ``older_than_s`` (and closed)."""
    store = BatchStore(services.engine)
    now = datetime.now(UTC)
    runs = []
    for region in await store.regions():
        latest = await store.region_runs(region.name, limit=1)
        if latest and not latest[0].status.final:
            continue
        if latest and (now - latest[0].created_at).total_seconds() < older_than_s:
            continue
        runs.append(await refresh_region(services, region.name, dispatcher=dispatcher))
    return runs


class RegionScheduler:
    """Embedded scheduler: refreshes each region every ``interval_s`` (checked every ``tick_s``).

    A region whose newest run is younger than the interval is left alone, so a restart does not
    recompute every map at once.
    """

    def __init__(
        self,
        services: Services,
        dispatcher: BatchDispatcher,
        *,
        interval_s: float,
        tick_s: float | None = None,
    ) -> None:
        self.services = services
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self.tick_s = tick_s if tick_s is not None else min(interval_s, 60.0)
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[BatchRecord]:
        """Refresh the regions that are due; return the runs started."""
        return await refresh_all(
            self.services, dispatcher=self.dispatcher, older_than_s=self.interval_s
        )

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("region_scheduler_tick_failed")
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        """Start ticking in the background."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class MapPoint(BaseModel):
    """One point of the regional map on the chosen day."""

    name: str
    lat: float
    lon: float
    status: str
    eto_mm: float | None
    eto_lo_mm: float | None
    eto_hi_mm: float | None
    precip_mm: float | None


class RunInfo(BaseModel):
    """A refresh run as the map reports it."""

    batch_id: str
    status: JobStatus
    created_at: datetime
    finished_at: datetime | None
    error: str | None


class RegionMap(BaseModel):
    """``GET /api/v1/regions/{name}/map``: the last completed run's values on one day."""

    region: str
    n_points: int
    computed_at: datetime | None = Field(description="When the served run finished (UTC).")
    run: RunInfo | None = Field(description="The run served (last completed).")
    latest_run: RunInfo | None = Field(description="The newest run, whatever its state.")
    stale: bool = Field(description="True when a newer run failed and an older map is served.")
    message: str
    dates: list[date]
    date: date | None
    points: list[MapPoint]


def _info(run: BatchRecord) -> RunInfo:
    error = None
    if run.status.final and run.status is not JobStatus.SUCCEEDED:
        error = f"{run.error_code}: {run.message}"
    return RunInfo(
        batch_id=run.id,
        status=run.status,
        created_at=run.created_at,
        finished_at=run.finished_at,
        error=error,
    )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


async def region_map(services: Services, name: str, *, day: date | None = None) -> RegionMap:
    """The map of the region's last completed run on ``day`` (default: its first day).

    Raises KeyError when the region is unknown, ValueError when ``day`` is not in the run.
    """
    store = BatchStore(services.engine)
    region = await store.get_region(name)
    if region is None:
        raise KeyError(name)
    latest_runs = await store.region_runs(name, limit=1)
    latest = latest_runs[0] if latest_runs else None
    served = await store.last_completed_run(name)
    stale = bool(
        latest is not None
        and latest.status.final
        and latest.status is not JobStatus.SUCCEEDED
        and served is not None
    )
    if served is None:
        message = (
            "no completed run yet"
            if latest is None or not latest.status.final
            else "no completed run yet; the last run failed "
            f"({latest.error_code}: {latest.message})"
        )
        return RegionMap(
            region=name,
            n_points=len(region.points),
            computed_at=None,
            run=None,
            latest_run=None if latest is None else _info(latest),
            stale=False,
            message=message,
            dates=[],
            date=None,
            points=[],
        )
    assert served.finished_at is not None
    dates = [served.start + timedelta(days=i) for i in range((served.end - served.start).days + 1)]
    chosen = day or dates[0]
    if chosen not in dates:
        raise ValueError(f"date: {chosen} is not in the served run ({dates[0]}..{dates[-1]})")
    key = chosen.isoformat()
    points = []
    for p in await store.points(served.id, with_rows=True):
        row = next((r for r in p.rows or [] if r.get("date") == key), {})
        values = {f: _num(row.get(f)) for f in MAP_FIELDS}
        points.append(MapPoint(name=p.name, lat=p.lat, lon=p.lon, status=p.status.value, **values))
    computed = served.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    if stale:
        assert latest is not None
        message = (
            f"the latest refresh ({latest.created_at:%Y-%m-%d %H:%M} UTC) failed "
            f"({latest.error_code}: {latest.message}); showing the run computed at {computed}"
        )
    elif latest is not None and not latest.status.final:
        message = f"computed at {computed}; a refresh is running"
    else:
        message = f"computed at {computed}"
    return RegionMap(
        region=name,
        n_points=len(region.points),
        computed_at=served.finished_at,
        run=_info(served),
        latest_run=None if latest is None else _info(latest),
        stale=stale,
        message=message,
        dates=dates,
        date=chosen,
        points=points,
    )
