"""The long-lived resources of a process (API or worker), opened once and closed once.

Embedded mode: SQLite store, :class:`~evapo.events.memory.MemoryEventLog`,
:class:`~evapo.jobs.embedded.EmbeddedJobRunner` (jobs on their own loop thread, with their own
engine, store and cache there, sharing the event log). Distributed mode: PostgreSQL store (tables
made by the Alembic migrations, not here), ``evapo.events.redis_streams.RedisStreamEventLog`` and
``evapo.jobs.distributed.CeleryJobRunner`` (imported lazily). A Celery worker calls
``open_services(settings, runner=False)`` once per process and then
``evapo.pipeline.execute_job(job_id, services)`` per task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from evapo.config import Settings
from evapo.events.base import EventLog
from evapo.jobs.base import JobRunner
from evapo.jobs.recent import RecentJobs
from evapo.logging import get_logger
from evapo.store.db import make_engine
from evapo.store.jobs import JobStore

if TYPE_CHECKING:
    from evapo.calibration import Calibration
    from evapo.jobs.embedded import Execute
    from evapo.jobs.foreground import Foreground
    from evapo.sources.http import Upstream
    from evapo.store.cache import WeatherCache

log = get_logger(__name__)

COMPUTE_THREADS = 2
"""Threads for job computations: more would only contend for the GIL on a small machine and
delay the event loop (submissions, WebSocket messages)."""


@dataclass
class Services:
    """Everything a job or a request needs; one instance per process."""

    settings: Settings
    engine: AsyncEngine
    store: JobStore
    events: EventLog
    cache: WeatherCache
    calibration: Calibration | None
    runner: JobRunner | None = None
    upstream: Upstream | None = None
    """Process-wide upstream HTTP client (connection pool); jobs wrap it in their own Upstream."""
    foreground: Foreground | None = None
    """Embedded mode: requests and deliveries in flight, API loop lag; job work pauses for them."""
    recent_jobs: RecentJobs | None = None
    """API processes: the jobs accepted here lately (their sockets skip a store read)."""
    compute: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(COMPUTE_THREADS, thread_name_prefix="evapo-cpu")
    )
    """Threads for the jobs' CPU work (quality, fusion, rows), off the event loop."""

    def job_upstream(self) -> Upstream:
        """A per-job Upstream (its own request counts) on the shared connection pool."""
        from evapo.sources.http import Upstream

        if self.upstream is None:
            self.upstream = Upstream(self.settings)
        return Upstream(self.settings, client=self.upstream.client)


def _event_log(settings: Settings, foreground: Foreground | None) -> EventLog:
    if settings.mode == "distributed":
        from evapo.events.redis_streams import RedisStreamEventLog

        return RedisStreamEventLog(settings.redis_url)
    from evapo.events.memory import MemoryEventLog

    return MemoryEventLog(max_jobs=settings.event_retention_jobs, busy=foreground)


def _runner(settings: Settings, services: Services) -> JobRunner:
    if settings.mode == "distributed":
        from evapo.jobs.distributed import CeleryJobRunner

        return CeleryJobRunner(settings, engine=services.engine, events=services.events)
    from evapo.jobs.embedded import EmbeddedJobRunner

    return EmbeddedJobRunner(
        partial(_job_loop_services, services),
        store=services.store,
        events=services.events,
        max_concurrent=settings.max_concurrent_jobs,
        foreground=services.foreground,
    )


@asynccontextmanager
async def _job_loop_services(parent: Services) -> AsyncIterator[Execute]:
    """Entered on the embedded runner's loop: that loop's own engine, store, cache and HTTP pool.

    Database connections and HTTP pools belong to the loop that opened them; the event log,
    calibration, settings and runner are shared with the API's services.
    """
    from evapo.pipeline import execute_job
    from evapo.store.cache import WeatherCache

    engine = make_engine(parent.settings.database_url)
    services = Services(
        settings=parent.settings,
        engine=engine,
        store=JobStore(engine),
        events=parent.events,
        cache=WeatherCache(engine),
        calibration=parent.calibration,
        runner=parent.runner,
        foreground=parent.foreground,
    )

    async def execute(job_id: str) -> None:
        await execute_job(job_id, services)

    try:
        yield execute
    finally:
        await _release(services)


def _calibration(settings: Settings) -> Calibration | None:
    """The configured artefact (errors if it is broken); without one, the packaged default.

    With ``anchors_path``, the anchors are attached (errors if they were made with another
    artefact). When no packaged default is installed, fusion runs with its documented default
    priors and flags every day UNCALIBRATED; a warning says so.
    """
    from evapo.calibration import (
        Anchors,
        CalibrationError,
        attach_anchors,
        default_calibration_path,
        load_calibration,
    )

    if settings.calibration_path is None and not default_calibration_path().is_file():
        if settings.anchors_path is not None:
            raise CalibrationError("anchors_path: no calibration artefact to anchor")
        log.warning("calibration_missing", path=str(default_calibration_path()))
        return None
    try:
        calibration = load_calibration(settings.calibration_path)
    except CalibrationError as exc:
        raise CalibrationError(f"calibration_path: {exc}") from exc
    if settings.anchors_path is not None:
        try:
            attach_anchors(calibration, Anchors.load(settings.anchors_path))
        except CalibrationError as exc:
            raise CalibrationError(f"anchors_path: {exc}") from exc
        log.info("anchors_loaded", path=str(settings.anchors_path), calibration=calibration.id)
    return calibration


async def open_services(settings: Settings, *, runner: bool = True) -> Services:
    """Open the store, weather cache, calibration and event log (and start a runner if asked)."""
    from evapo.store.cache import WeatherCache

    engine = make_engine(settings.database_url)
    store = JobStore(engine)
    await store.init(create_tables=settings.mode == "embedded")
    cache = WeatherCache(engine)
    if settings.mode == "embedded":
        await cache.init()
    foreground = None
    if runner and settings.mode == "embedded":
        from evapo.jobs.foreground import Foreground

        foreground = Foreground()
    services = Services(
        settings=settings,
        engine=engine,
        store=store,
        events=_event_log(settings, foreground),
        cache=cache,
        calibration=_calibration(settings),
        foreground=foreground,
    )
    if runner:
        # Fewer than the in-memory log keeps, so a job remembered here still has its events.
        services.recent_jobs = RecentJobs(min(4096, max(1, settings.event_retention_jobs // 2)))
        services.runner = _runner(settings, services)
        await services.runner.start()
    log.info("services_open", mode=settings.mode, runner=runner)
    return services


async def close_services(services: Services) -> None:
    """Stop the runner, close the event log and dispose of the engine."""
    if services.runner is not None:
        await services.runner.stop()
    await services.events.close()
    await _release(services)
    log.info("services_closed")


async def _release(services: Services) -> None:
    """Close the HTTP pool, store, compute threads and engine (not the event log)."""
    if services.upstream is not None:
        await services.upstream.aclose()
    await services.store.close()
    services.compute.shutdown(wait=False, cancel_futures=True)
    await services.engine.dispose()
