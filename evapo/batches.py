"""Batches: one date range over many points, fanned out and gathered into one point x day table.

Flow (both modes): :func:`create_batch` stores the batch and its points; a dispatcher queues
it (embedded: :class:`BatchRunner`, asyncio tasks in the API process; distributed:
``evapo.jobs.batch_tasks``, Celery tasks of ``Settings.batch_chunk_points`` points each). Every
worker runs :func:`run_points` on its share: Open-Meteo requests of the share are grouped
(comma-separated coordinates, one request per source for many points) into the shared weather
cache, elevations are looked up in one grouped request, then each point runs the ordinary job
pipeline (:func:`evapo.pipeline.run_pipeline`), which finds its Open-Meteo days in the cache.

Progress goes to the event log under the batch id (one PROGRESS, step ``points``, per group of
points stored together, listing them in ``data.points`` with the counts of points done and
failed; then one SUCCESS or ERROR), so ``/ws/batches/{id}`` has the same replay semantics as a
job's socket. A point is claimed before it runs and stored once
(``evapo.store.batches``): redelivered tasks skip finished points, so none is computed twice.

Cancel (``DELETE /api/v1/batches/{id}``) sets the batch's flag; every share watches it (the
embedded runner also wakes its shares at once) and stops before its next point: points not yet
computed are ``skipped``, the batch ends ``cancelled`` with ERROR code ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from evapo.events.messages import Error, Event, Progress, Success, Timeout, is_terminal
from evapo.logging import get_logger
from evapo.pipeline import JobFailure, SpecProblem, check_spec, today_utc
from evapo.science.asce import Method, MethodChoice, Reference, RsoMethod
from evapo.store.batches import (
    BatchRecord,
    BatchStore,
    Counts,
    PointOutcome,
    PointRecord,
    PointStatus,
)
from evapo.store.jobs import IsoDate, JobSpec, JobStatus, method_allows

if TYPE_CHECKING:
    from evapo.config import Settings
    from evapo.services import Services
    from evapo.sources.http import Upstream
    from evapo.store.cache import CacheSnapshot, WeatherCache

log = get_logger(__name__)
_T = TypeVar("_T")

OPEN_METEO_GROUP = 50
"""Most locations sent in one grouped Open-Meteo request."""
ELEVATION_GROUP = 100
"""Most locations sent in one grouped elevation request (the API's own limit is 100)."""
FLUSH_POINTS = 10
"""Finished points stored together in one transaction and reported in one PROGRESS event."""
POINTS_STEP = "points"
"""``step`` of the PROGRESS event reporting finished points (``data.points``, with counts)."""
CSV_COLUMNS = ("name", "lat", "lon", "elevation")
"""Columns of an uploaded points CSV (``elevation`` optional)."""


class BatchInputError(ValueError):
    """A batch or its points CSV is refused: ``field`` names where, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BatchPoint(BaseModel):
    """One point of a batch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="Label of the point.")
    lat: float = Field(ge=-90, le=90, description="Latitude [deg], south negative.")
    lon: float = Field(ge=-180, le=180, description="Longitude [deg], west negative.")
    elevation: float | None = Field(
        None, ge=-500, le=9000, description="Elevation [m]; looked up when omitted."
    )


class BatchCreate(BaseModel):
    """Body of ``POST /api/v1/batches``: points and one date range for all of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "points": [
                        {"name": "Araguaina", "lat": -7.19, "lon": -48.21},
                        {"name": "Balsas", "lat": -7.53, "lon": -46.04, "elevation": 247},
                    ],
                    "start": "2020-01-01",
                    "end": "2020-01-31",
                }
            ]
        },
    )

    points: list[BatchPoint] = Field(min_length=1, description="The points (up to the limit).")
    start: IsoDate = Field(description="First day, YYYY-MM-DD.")
    end: IsoDate = Field(description="Last day (inclusive), YYYY-MM-DD.")
    sources: list[str] | None = Field(None, description="Sources to use (default: every one).")
    method: Method = Field(
        "fao56",
        description="Reference ET equation of every point: FAO-56 Penman-Monteith or ASCE-EWRI "
        "2005 (as for a job).",
    )
    reference: Reference = Field(
        "short",
        description="Reference surface: short grass (ETo) or tall alfalfa (ETr, ASCE only).",
    )
    rso: RsoMethod | None = Field(
        None,
        description="Clear-sky radiation: simple or full (ASCE Appendix D, ASCE only); "
        "default: simple for FAO-56, full for ASCE.",
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from evapo.sources import SOURCE_NAMES

        unknown = [name for name in value if name not in SOURCE_NAMES]
        if unknown or not value:
            raise ValueError(f"unknown or no source(s) {unknown}; known: {list(SOURCE_NAMES)}")
        return list(dict.fromkeys(value))

    _method_allows = field_validator("reference", "rso")(method_allows)

    @property
    def choice(self) -> MethodChoice:
        """The reference ET method every point computes with."""
        return MethodChoice(method=self.method, reference=self.reference, rso=self.rso)


class BatchCancelAccepted(BaseModel):
    """Answer of ``DELETE /api/v1/batches/{id}`` (202): the batch will end ``cancelled``."""

    batch_id: str
    cancel_requested: bool = True


class BatchAccepted(BaseModel):
    """Answer of ``POST /api/v1/batches`` (202): where to follow and fetch the batch."""

    batch_id: str
    status_url: str
    ws_url: str
    result_url: str


class BatchProblem(BaseModel):
    """Why a batch or a point failed."""

    code: str
    message: str


class PointPublic(BaseModel):
    """One point's state in a batch status."""

    index: int
    name: str
    lat: float
    lon: float
    status: PointStatus
    attempts: int
    error: BatchProblem | None


class BatchPublic(BaseModel):
    """A batch as shown by ``GET /api/v1/batches/{id}``."""

    batch_id: str
    status: JobStatus
    start: date
    end: date
    region: str | None
    eto_method: str = Field(
        "fao56", description="Reference ET method of every point (e.g. ``asce-tall-full``)."
    )
    points_total: int
    points_done: int = Field(description="Points that succeeded.")
    points_failed: int = Field(description="Points that failed after their retries.")
    points_skipped: int = Field(
        0, description="Points not computed: the batch was cancelled or timed out first."
    )
    progress: float = Field(description="Points finished (done or failed) [%].")
    cancel_requested: bool = Field(False, description="True once a cancel was asked for.")
    created_at: Any
    started_at: Any
    finished_at: Any
    error: BatchProblem | None
    result_url: str | None
    points: list[PointPublic] | None = Field(None, description="Per-point states (on request).")


def result_path(batch_id: str) -> str:
    """Path of the batch's result on the API."""
    return f"/api/v1/batches/{batch_id}/result"


def worker_name() -> str:
    """``host:pid`` of this process (recorded on each point it computes)."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --- input -------------------------------------------------------------------------------------


def parse_points_csv(text: str, *, limit: int) -> list[BatchPoint]:
    """Points of a CSV ``name,lat,lon[,elevation]`` (header required); errors name the row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    if missing:
        raise BatchInputError("file", f"the header must name {missing} (got {header})")
    points: list[BatchPoint] = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        if len(points) >= limit:
            raise BatchInputError("file", f"more than {limit} points (the batch_max_points limit)")
        try:
            points.append(
                BatchPoint(
                    name=row["name"],
                    lat=float(row["lat"]),
                    lon=float(row["lon"]),
                    elevation=float(row["elevation"]) if row.get("elevation") else None,
                )
            )
        except ValueError as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else None
            detail = (
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
                if errors
                else str(exc)
            )
            raise BatchInputError(f"file line {line}", detail) from None
    if not points:
        raise BatchInputError("file", "no point in the file")
    return points


def check_batch(
    body: BatchCreate, settings: Settings, *, today: date | None = None
) -> list[SpecProblem]:
    """Limit on points, then the job checks (dates, span, sources) of each distinct point."""
    limit = settings.batch_max_points
    if len(body.points) > limit:
        return [SpecProblem("points", f"{len(body.points)} points; at most {limit} are allowed")]
    today = today or today_utc()
    for i, point in enumerate(body.points):
        spec = JobSpec(
            lat=point.lat, lon=point.lon, start=body.start, end=body.end, sources=body.sources
        )
        problems = check_spec(spec, settings, today=today)
        if problems:
            field = "points" if problems[0].field == "sources" and body.sources is None else None
            return [
                SpecProblem(field or p.field, f"point {i} ({point.name}): {p.message}")
                for p in problems
            ]
    return []


# --- dispatch ----------------------------------------------------------------------------------


class BatchDispatcher(Protocol):
    """Gets a stored batch computed: in-process (embedded) or by Celery workers (distributed)."""

    async def submit(self, batch_id: str, n_points: int) -> None:
        """Queue every point of the batch; return at once."""
        ...

    async def cancel(self, batch_id: str) -> None:
        """Get a batch whose cancel flag is set stopped (or end it now when nothing runs it)."""
        ...


CANCELLED_CODE = "cancelled"
"""Error code of a batch cancelled on request (as for jobs)."""
CANCELLED_MESSAGE = "cancelled on request"


async def end_batch(
    batch_id: str,
    services: Services,
    status: JobStatus,
    code: str,
    message: str,
    *,
    only_if_idle: bool = False,
    stalled_since: datetime | None = None,
) -> bool:
    """End an open batch (its open points skipped) and append its terminal event, once.

    Returns True for the one caller that ended it (see :meth:`BatchStore.end` for the guards).
    """
    final = await BatchStore(services.engine).end(
        batch_id,
        status,
        error_code=code,
        message=message,
        only_if_idle=only_if_idle,
        stalled_since=stalled_since,
    )
    if final is None:
        return False
    log.info("batch_ended", batch_id=batch_id, status=status.value, code=code)
    await ensure_batch_terminal(final, services)
    return True


async def cancel_now(batch_id: str, services: Services, *, only_if_idle: bool = False) -> bool:
    """End a batch as cancelled (True when this call ended it)."""
    return await end_batch(
        batch_id,
        services,
        JobStatus.CANCELLED,
        CANCELLED_CODE,
        CANCELLED_MESSAGE,
        only_if_idle=only_if_idle,
    )


async def create_batch(
    services: Services,
    batch_id: str,
    body: BatchCreate,
    *,
    region: str | None = None,
) -> BatchRecord:
    """Store a queued batch and its points."""
    store = BatchStore(services.engine)
    return await store.create(
        batch_id,
        start=body.start,
        end=body.end,
        points=[p.model_dump() for p in body.points],
        sources=body.sources,
        region=region,
        choice=body.choice,
    )


class BatchRunner:
    """Embedded dispatcher: each batch is an asyncio task; points run ``batch_concurrency`` at a
    time, failed points are tried again after ``batch_retry_delay_s``.

    ``start()`` resumes batches a previous process left open (finished points are kept);
    ``cancel()`` wakes the batch's task, which stops before its next point.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._signals: dict[str, asyncio.Event] = {}
        self._limit: asyncio.Semaphore | None = None

    async def start(self) -> None:
        """Resume the batches left open."""
        for batch_id in await BatchStore(self.services.engine).open_batches():
            log.info("batch_resumed", batch_id=batch_id)
            self._spawn(batch_id)

    async def submit(self, batch_id: str, n_points: int) -> None:
        """Start the batch's task and return at once."""
        self._spawn(batch_id)

    async def cancel(self, batch_id: str) -> None:
        """Wake the batch's task (it ends the batch cancelled); without one, end it now."""
        signal = self._signals.get(batch_id)
        if signal is not None and batch_id in self._tasks:
            signal.set()
            return
        await cancel_now(batch_id, self.services)

    def _spawn(self, batch_id: str) -> None:
        if batch_id in self._tasks:
            return
        self._signals[batch_id] = asyncio.Event()
        task = asyncio.ensure_future(self._run(batch_id))
        self._tasks[batch_id] = task

        def forget(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(batch_id, None)
            self._signals.pop(batch_id, None)

        task.add_done_callback(forget)

    async def _run(self, batch_id: str) -> None:
        settings = self.services.settings
        signal = self._signals[batch_id]
        indices: list[int] | None = None
        # One limit for every batch of this process, made on the running loop.
        self._limit = self._limit or asyncio.Semaphore(settings.batch_concurrency)
        try:
            while True:
                retry = await run_points(
                    batch_id, indices, self.services, limit=self._limit, cancel=signal
                )
                if not retry:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), settings.batch_retry_delay_s)
                indices = retry
        except Exception as exc:
            log.exception("batch_crashed", batch_id=batch_id)
            await fail_batch(batch_id, self.services, "internal", f"internal error: {exc!r}")

    async def wait(self, batch_id: str) -> None:
        """Wait until the batch's task ends (tests, CLI)."""
        task = self._tasks.get(batch_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the running batches (they resume on the next start)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._signals.clear()


# --- work --------------------------------------------------------------------------------------


@dataclass
class Prefetched:
    """What the grouped requests of a share gave: elevations per point, requests sent, and the
    share's cached weather read in one query (the points' pipelines load from it)."""

    elevations: dict[int, float]
    requests: int
    cache: CacheSnapshot


async def _noop_emit(
    progress: float, step: str, message: str, data: dict[str, Any] | None = None
) -> None:
    return None


async def prefetch(
    points: Sequence[PointRecord],
    batch: BatchRecord,
    services: Services,
    http: Upstream,
    *,
    today: date,
) -> Prefetched:
    """Group the share's Open-Meteo and elevation requests; fill the shared cache.

    The cached rows of every source the share's points plan are read in one query
    (:meth:`WeatherCache.snapshot`) before the grouped requests; a failing grouped request is
    only logged: its points then fetch on their own, so one bad point cannot fail its
    neighbours.
    """
    from evapo.sources import UpstreamError, plan_sources
    from evapo.sources.fetch import adapters
    from evapo.sources.openmeteo import OpenMeteoArchive, OpenMeteoForecast
    from evapo.store.cache import cell_of

    before = sum(http.requests.values())
    elevations: dict[int, float] = {}

    async def elevation_group(part: list[PointRecord]) -> None:
        params = {
            "latitude": ",".join(f"{p.lat:.4f}" for p in part),
            "longitude": ",".join(f"{p.lon:.4f}" for p in part),
        }
        try:
            body = await http.get_json("openmeteo_elevation", "/v1/elevation", params)
            values = [float(v) for v in body["elevation"]]
        except (UpstreamError, KeyError, TypeError, ValueError) as exc:
            log.warning("batch_group_failed", batch_id=batch.id, source="elevation", error=str(exc))
            await _bisect(part, elevation_group)
            return
        for p, value in zip(part, values, strict=False):
            if math.isfinite(value):
                elevations[p.idx] = value
                _remember_elevation(p.lat, p.lon, value)

    lookup = []
    for p in points:
        if p.elevation is not None:
            continue
        known = _KNOWN_ELEVATIONS.get(_elevation_key(p.lat, p.lon))
        if known is None:
            lookup.append(p)
        else:
            elevations[p.idx] = known
    for i in range(0, len(lookup), ELEVATION_GROUP):
        await elevation_group(lookup[i : i + ELEVATION_GROUP])

    registry = adapters()
    plans = {
        p.idx: plan_sources(
            p.lat, p.lon, batch.start, batch.end, sources=batch.sources, today=today
        )
        for p in points
    }
    keys = {
        (name, cell_of(p.lat, p.lon, registry[name].coverage.grid_deg))
        for p in points
        for name in plans[p.idx].active
        if name in registry
    }
    snapshot = await services.cache.snapshot(keys, batch.start, batch.end)

    grouped: dict[str, OpenMeteoArchive | OpenMeteoForecast] = {
        "openmeteo_archive": OpenMeteoArchive(),
        "openmeteo_forecast": OpenMeteoForecast(),
    }
    groups: dict[tuple[str, date, date], dict[tuple[int, int], PointRecord]] = {}
    for p in points:
        for name, (first, last) in plans[p.idx].active.items():
            if name in grouped:
                grid = grouped[name].coverage.grid_deg
                groups.setdefault((name, first, last), {})[cell_of(p.lat, p.lon, grid)] = p
    for (name, first, last), cells in groups.items():
        adapter = grouped[name]
        grid = adapter.coverage.grid_deg

        async def weather_group(
            part: list[PointRecord],
            adapter: OpenMeteoArchive | OpenMeteoForecast = adapter,
            window: tuple[date, date] = (first, last),
            grid: tuple[float, float] = grid,
        ) -> None:
            try:
                series = await adapter.fetch_many(
                    http, [(p.lat, p.lon) for p in part], *window, today=today
                )
            except UpstreamError as exc:
                log.warning(
                    "batch_group_failed", batch_id=batch.id, source=adapter.name, error=exc.reason
                )
                await _bisect(part, weather_group)
                return
            for one in series:
                await snapshot.store(one, grid=grid)

        wanted = []
        for p in cells.values():
            cached = await snapshot.load(name, p.lat, p.lon, first, last, grid=grid)
            if not bool(cached.present.all()):
                wanted.append(p)
        for i in range(0, len(wanted), OPEN_METEO_GROUP):
            await weather_group(wanted[i : i + OPEN_METEO_GROUP])
    return Prefetched(elevations, sum(http.requests.values()) - before, snapshot)


_KNOWN_ELEVATIONS: dict[tuple[float, float], float] = {}
"""Elevations this process looked up, by coordinates as sent (a terrain model: they never
change); a warm batch makes no elevation request."""
KNOWN_ELEVATIONS_MAX = 100_000
"""Most elevations kept (the oldest are forgotten first)."""


def _elevation_key(lat: float, lon: float) -> tuple[float, float]:
    """The coordinates as the elevation request sends them (4 decimals)."""
    return round(lat, 4), round(lon, 4)


def _remember_elevation(lat: float, lon: float, value: float) -> None:
    if len(_KNOWN_ELEVATIONS) >= KNOWN_ELEVATIONS_MAX:
        del _KNOWN_ELEVATIONS[next(iter(_KNOWN_ELEVATIONS))]
    _KNOWN_ELEVATIONS[_elevation_key(lat, lon)] = value


async def _bisect(
    part: list[PointRecord], again: Callable[[list[PointRecord]], Awaitable[None]]
) -> None:
    """After a grouped request failed, try each half on its own (a lone point is left to fetch
    by itself): one bad point costs about log2(n) extra requests, not n."""
    if len(part) > 1:
        half = len(part) // 2
        await again(part[:half])
        await again(part[half:])


async def _compute(
    point: PointRecord,
    batch: BatchRecord,
    elevation: float | None,
    services: Services,
    cache: WeatherCache | None = None,
) -> list[dict[str, Any]]:
    """The point's daily rows (its pipeline reads the weather cache through ``cache``)."""
    from evapo.pipeline import run_pipeline

    spec = JobSpec(
        lat=point.lat,
        lon=point.lon,
        start=batch.start,
        end=batch.end,
        sources=batch.sources,
        elevation=point.elevation if point.elevation is not None else elevation,
        method=batch.method,
        reference=batch.reference,
        rso=batch.rso,
    )
    if cache is not None:
        services.job_upstream()  # the shared HTTP pool exists before the copy shares it
        services = dataclasses.replace(services, cache=cache)
    async with asyncio.timeout(services.settings.job_deadline_s):
        fused = await run_pipeline(spec, emit=_noop_emit, services=services)
    return await asyncio.to_thread(fused.to_rows)


class _Stopped(Exception):
    """The batch was asked to stop while a share waited on some work."""


async def _unless_stopped(work: Awaitable[_T], stop: asyncio.Event) -> _T:
    """``await work`` unless ``stop`` is set first: then ``work`` is cancelled, _Stopped raised."""
    if stop.is_set():
        if asyncio.iscoroutine(work):
            work.close()
        raise _Stopped
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise _Stopped
    finally:
        for pending in (task, waiter):
            pending.cancel()
        await asyncio.gather(task, waiter, return_exceptions=True)


async def _watch_stop(batch_id: str, store: BatchStore, stop: asyncio.Event, poll_s: float) -> None:
    """Set ``stop`` once the batch's cancel flag is set or it became final (polled)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if stop.is_set():
            return
        try:
            if await store.stop_requested(batch_id):
                stop.set()
        except (OSError, SQLAlchemyError) as exc:  # the database is away: look again later
            log.warning("batch_cancel_poll_failed", batch_id=batch_id, error=str(exc))


async def run_points(
    batch_id: str,
    indices: list[int] | None,
    services: Services,
    *,
    worker: str | None = None,
    limit: asyncio.Semaphore | None = None,
    cancel: asyncio.Event | None = None,
) -> list[int]:
    """Compute the batch's open points among ``indices`` (all when None); return those to retry.

    ``limit`` bounds the points computed at once (default: ``batch_concurrency`` for this call).
    ``cancel``, when set, stops the share at once (embedded); the batch's cancel flag is also
    polled every ``cancel_poll_s``. A stopped share computes no further point, drops the ones in
    flight and ends the batch ``cancelled`` (the first share to stop wins; points not stored are
    ``skipped``).

    A point that fails is re-queued while it has attempts left (``batch_point_attempts``) and
    its index returned; otherwise it is stored failed. Once no point is open the batch gets its
    final status and terminal event (only one caller wins that).
    """
    store = BatchStore(services.engine)
    settings = services.settings
    batch = await store.get(batch_id)
    if batch is None:
        log.error("batch_unknown", batch_id=batch_id)
        return []
    if batch.status.final:
        await ensure_batch_terminal(batch, services)
        return []
    if batch.cancel_requested:
        await cancel_now(batch_id, services)
        return []
    if await store.start(batch_id):
        await services.events.append(
            Progress(
                job_id=batch_id,
                progress=0,
                step="start",
                message=f"{batch.n_points} point(s), {batch.start}..{batch.end}",
                data={"done": 0, "failed": 0, "total": batch.n_points},
            )
        )
    me = worker or worker_name()
    claimed = await store.claim_points(batch_id, indices, worker=me)
    if not claimed:
        await finish_if_done(batch_id, services)
        return []
    stop = cancel if cancel is not None else asyncio.Event()
    watcher = asyncio.ensure_future(_watch_stop(batch_id, store, stop, settings.cancel_poll_s))
    try:
        retry = await _run_share(batch, claimed, services, stop=stop, limit=limit, worker=me)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    if stop.is_set():
        if await cancel_now(batch_id, services):
            log.info("batch_cancelled", batch_id=batch_id, worker=me)
        return []
    await finish_if_done(batch_id, services)
    return retry


async def _run_share(
    batch: BatchRecord,
    claimed: list[PointRecord],
    services: Services,
    *,
    stop: asyncio.Event,
    limit: asyncio.Semaphore | None,
    worker: str,
) -> list[int]:
    """Prefetch and compute the claimed points; store them a few at a time; return retries.

    Stops early (no further point computed, none in flight kept) once ``stop`` is set.
    """
    store = BatchStore(services.engine)
    settings = services.settings
    batch_id = batch.id
    today = today_utc()
    t0 = time.perf_counter()
    try:
        fetched = await _unless_stopped(
            prefetch(claimed, batch, services, services.job_upstream(), today=today), stop
        )
    except _Stopped:
        return []
    log.info(
        "batch_prefetched",
        batch_id=batch_id,
        points=len(claimed),
        requests=fetched.requests,
        seconds=round(time.perf_counter() - t0, 3),
    )
    limit = limit or asyncio.Semaphore(settings.batch_concurrency)
    # Finished points are stored and reported a few at a time (one transaction, one count),
    # under a lock so that this share's counts only ever grow.
    report = asyncio.Lock()
    ended: list[tuple[PointRecord, PointOutcome]] = []
    retry: list[int] = []
    # Points being computed: cancelled (dropped) when the share is stopped.
    inflight: set[asyncio.Task[list[dict[str, Any]]]] = set()

    async def flush() -> None:
        async with report:
            if not ended:
                return
            group = ended[:]
            ended.clear()
            by_index = {outcome.idx: (point, outcome) for point, outcome in group}

            async def events(stored: list[int], counts: Counts) -> None:
                await _points_event(batch_id, [by_index[i] for i in stored], counts, services)

            await store.finish_points(batch_id, [o for _, o in group], report=events)

    async def attempt(point: PointRecord) -> PointOutcome | None:
        """Compute one point under the concurrency limit (None: stopped, or re-queued)."""
        async with limit:
            if stop.is_set():
                return None
            elevation = fetched.elevations.get(point.idx)
            task = asyncio.ensure_future(_compute(point, batch, elevation, services, fetched.cache))
            inflight.add(task)
            try:
                rows = await task
            except asyncio.CancelledError:
                if stop.is_set() and task.cancelled():  # dropped by the stop, not by our caller
                    return None
                raise
            except JobFailure as failure:
                code, message = failure.code, failure.message
            except TimeoutError:
                code = "timeout"
                message = f"no result within {settings.job_deadline_s:g} s"
            except Exception as exc:
                log.exception("batch_point_crashed", batch_id=batch_id, index=point.idx)
                code, message = "internal", f"internal error: {type(exc).__name__}: {exc}"
            else:
                return PointOutcome(point.idx, rows)
            finally:
                inflight.discard(task)
        if point.attempts < settings.batch_point_attempts:
            await store.requeue_point(batch_id, point.idx, error_code=code, message=message)
            retry.append(point.idx)
            log.warning(
                "batch_point_retry", batch_id=batch_id, index=point.idx, code=code, reason=message
            )
            return None
        return PointOutcome(point.idx, None, code, message)

    async def one(point: PointRecord) -> None:
        outcome = await attempt(point)
        if outcome is None:
            return
        ended.append((point, outcome))
        # Stored outside the limit: the next point computes while these are written.
        if outcome.rows is None or len(ended) >= FLUSH_POINTS:
            await flush()

    async def drop_inflight_on_stop() -> None:
        await stop.wait()
        for task in list(inflight):
            task.cancel()

    dropper = asyncio.ensure_future(drop_inflight_on_stop())
    try:
        await asyncio.gather(*(one(p) for p in claimed))
    finally:
        dropper.cancel()
        await asyncio.gather(dropper, return_exceptions=True)
    await flush()
    log.info(
        "batch_share_done",
        batch_id=batch_id,
        points=len(claimed),
        retry=len(retry),
        stopped=stop.is_set(),
        worker=worker,
        seconds=round(time.perf_counter() - t0, 3),
    )
    return [] if stop.is_set() else sorted(retry)


async def _points_event(
    batch_id: str,
    finished: list[tuple[PointRecord, PointOutcome]],
    counts: Counts,
    services: Services,
) -> None:
    """One PROGRESS for points stored together: each point's index, name, status (and error),
    and the batch's counts after them."""
    reports: list[dict[str, Any]] = []
    for point, outcome in finished:
        report: dict[str, Any] = {"index": point.idx, "name": point.name}
        if outcome.rows is not None:
            report["status"] = "succeeded"
        else:
            report |= {"status": "failed", "error": f"{outcome.error_code}: {outcome.message}"}
        reports.append(report)
    failed = [r for r in reports if r["status"] == "failed"]
    message = f"{len(reports)} point(s) finished ({counts.finished} of {counts.total})" + (
        "; failed: " + "; ".join(f"{r['index']} ({r['name']}) {r['error']}" for r in failed)
        if failed
        else ""
    )
    await services.events.append(
        Progress(
            job_id=batch_id,
            progress=min(100.0 * counts.finished / max(counts.total, 1), 99.9),
            step=POINTS_STEP,
            message=message,
            data={
                "points": reports,
                "done": counts.done,
                "failed": counts.failed,
                "total": counts.total,
            },
        )
    )


def terminal_event(batch: BatchRecord, counts: Counts) -> Event | None:
    """The terminal event of a final batch (None while it is open).

    A cancelled or timed-out batch's message says how many points were done, failed and not
    computed.
    """
    summary = {
        "points_total": counts.total,
        "points_done": counts.done,
        "points_failed": counts.failed,
    }
    if batch.status is JobStatus.SUCCEEDED:
        return Success(job_id=batch.id, summary=summary, result_url=result_path(batch.id))
    if not batch.status.final:
        return None
    message = batch.message or ""
    if batch.status in (JobStatus.CANCELLED, JobStatus.TIMED_OUT):
        message += (
            f" ({counts.done} of {counts.total} point(s) done, {counts.failed} failed, "
            f"{counts.skipped} not computed)"
        )
    if batch.status is JobStatus.TIMED_OUT:
        return Timeout(job_id=batch.id, message=message)
    return Error(job_id=batch.id, code=batch.error_code or batch.status.value, message=message)


async def ensure_batch_terminal(batch: BatchRecord, services: Services) -> None:
    """Append the final batch's terminal event unless its log already ends with one."""
    counts = await BatchStore(services.engine).counts(batch.id)
    event = terminal_event(batch, counts)
    if event is None:
        return
    logged = await services.events.read(batch.id)
    if not logged or not is_terminal(logged[-1]):
        await services.events.append(event)


async def finish_if_done(batch_id: str, services: Services) -> None:
    """Close the batch when no point is open (the winner writes the terminal event)."""
    final = await BatchStore(services.engine).complete_if_done(batch_id)
    if final is not None:
        log.info("batch_done", batch_id=batch_id, status=final.status.value)
        await ensure_batch_terminal(final, services)


async def fail_batch(batch_id: str, services: Services, code: str, message: str) -> None:
    """End an open batch as failed, with its ERROR event."""
    await end_batch(batch_id, services, JobStatus.FAILED, code, message)


# --- stuck batches (distributed) ------------------------------------------------------------


TIMEOUT_CODE = "timeout"
"""Error code of a batch the sweeper ended because none of its points progressed."""


@dataclass
class SweepReport:
    """What one sweep did: batches completed, cancelled and timed out (their ids)."""

    completed: list[str]
    cancelled: list[str]
    timed_out: list[str]


async def sweep_batches(services: Services, *, now: datetime | None = None) -> SweepReport:
    """Close the batches whose closing step was lost (worker killed, broker restarted).

    For every queued or running batch: no open point left -> its final status and terminal
    event (the finisher was lost); cancel asked and no point running -> ``cancelled``; nothing
    changed for ``batch_stall_s`` -> ``timed_out`` with a TIMEOUT event (``cancelled`` when a
    cancel was asked), its open points skipped. Every end is one guarded UPDATE, so sweeps in
    several processes, and workers still alive, never end a batch twice.
    """
    settings = services.settings
    store = BatchStore(services.engine)
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=settings.batch_stall_s)
    report = SweepReport([], [], [])
    for state in await store.open_batch_states():
        if state.open_points == 0:
            final = await store.complete_if_done(state.id)
            if final is not None:
                log.warning("batch_sweep_completed", batch_id=state.id, status=final.status.value)
                await ensure_batch_terminal(final, services)
                report.completed.append(state.id)
            continue
        if state.cancel_requested and not state.running_points:
            if await cancel_now(state.id, services, only_if_idle=True):
                log.warning("batch_sweep_cancelled", batch_id=state.id)
                report.cancelled.append(state.id)
            continue
        if state.last_change >= cutoff:
            continue
        idle_s = round((now - state.last_change).total_seconds())
        if state.cancel_requested:
            ended = await end_batch(
                state.id,
                services,
                JobStatus.CANCELLED,
                CANCELLED_CODE,
                CANCELLED_MESSAGE,
                stalled_since=cutoff,
            )
            if ended:
                report.cancelled.append(state.id)
            continue
        message = (
            f"no point progressed for {idle_s} s (more than batch_stall_s = "
            f"{settings.batch_stall_s:g} s): the workers computing it were lost"
        )
        if await end_batch(
            state.id,
            services,
            JobStatus.TIMED_OUT,
            TIMEOUT_CODE,
            message,
            stalled_since=cutoff,
        ):
            log.error("batch_sweep_timed_out", batch_id=state.id, idle_s=idle_s)
            report.timed_out.append(state.id)
    return report


async def sweep_once(services: Services) -> SweepReport | None:
    """:func:`sweep_batches`, logging instead of raising when the database or Redis is away."""
    try:
        report = await sweep_batches(services)
    except (OSError, SQLAlchemyError, RedisError) as exc:
        log.warning("batch_sweep_failed", error=repr(exc))
        return None
    log.info(
        "batch_sweep_done",
        completed=len(report.completed),
        cancelled=len(report.cancelled),
        timed_out=len(report.timed_out),
    )
    return report


# --- results -----------------------------------------------------------------------------------


def result_frame(batch: BatchRecord, points: list[PointRecord]) -> pd.DataFrame:
    """One row per point and day: point columns, per-point status, then the day's values, and
    last the reference ET ``method`` that made them (e.g. ``asce-tall-full``, as for a job).

    Failed or unfinished points keep one row per day with empty values and their status.
    """
    days = pd.date_range(batch.start, batch.end, freq="D").strftime("%Y-%m-%d").tolist()
    records: list[dict[str, Any]] = []
    for p in points:
        head = {
            "point_index": p.idx,
            "name": p.name,
            "lat": p.lat,
            "lon": p.lon,
            "elevation": p.elevation,
            "point_status": p.status.value,
            "point_error": None if p.error_code is None else f"{p.error_code}: {p.message}",
        }
        if p.rows:
            records.extend(head | row for row in p.rows)
        else:
            records.extend(head | {"date": day} for day in days)
    frame = pd.DataFrame.from_records(records)
    frame["method"] = batch.choice.label
    return frame


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The table as CSV (UTF-8) or Parquet bytes."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "parquet":
        out = io.BytesIO()
        frame.to_parquet(out, index=False)
        return out.getvalue()
    raise ValueError(f"format: expected csv or parquet, got {fmt!r}")


async def batch_table(batch: BatchRecord, services: Services) -> pd.DataFrame:
    """The batch's point x day table (see :func:`result_frame`)."""
    points = await BatchStore(services.engine).points(batch.id, with_rows=True)
    return await asyncio.to_thread(result_frame, batch, points)


async def public(
    batch: BatchRecord, services: Services, *, with_points: bool = False
) -> BatchPublic:
    """The batch's status as the API shows it."""
    store = BatchStore(services.engine)
    counts = await store.counts(batch.id)
    error = None
    if batch.status.final and batch.status is not JobStatus.SUCCEEDED:
        error = BatchProblem(
            code=batch.error_code or batch.status.value, message=batch.message or ""
        )
    points = None
    if with_points:
        points = [
            PointPublic(
                index=p.idx,
                name=p.name,
                lat=p.lat,
                lon=p.lon,
                status=p.status,
                attempts=p.attempts,
                error=None
                if p.error_code is None or p.status not in (PointStatus.FAILED, PointStatus.SKIPPED)
                else BatchProblem(code=p.error_code, message=p.message or ""),
            )
            for p in await store.points(batch.id)
        ]
    return BatchPublic(
        batch_id=batch.id,
        status=batch.status,
        start=batch.start,
        end=batch.end,
        region=batch.region,
        eto_method=batch.choice.label,
        points_total=counts.total,
        points_done=counts.done,
        points_failed=counts.failed,
        points_skipped=counts.skipped,
        progress=round(100.0 * counts.finished / max(counts.total, 1), 2),
        cancel_requested=batch.cancel_requested,
        created_at=batch.created_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        error=error,
        result_url=result_path(batch.id) if batch.status is JobStatus.SUCCEEDED else None,
        points=points,
    )


@contextlib.asynccontextmanager
async def embedded_runner(services: Services) -> Any:
    """A started :class:`BatchRunner` for the block (stopped after)."""
    runner = BatchRunner(services)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
