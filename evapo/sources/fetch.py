"""Fetch every planned source concurrently, through the cache, each within its own deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.exc import SQLAlchemyError

from evapo.config import Settings
from evapo.logging import get_logger
from evapo.schema import COLUMNS, DailySeries
from evapo.sources.base import Adapter, SourceError, SourceResult
from evapo.sources.http import Upstream, UpstreamError
from evapo.sources.planner import Plan
from evapo.store.cache import EXTRA_COLUMNS, CachedDays, WeatherCache

log = get_logger(__name__)

#: Missing-day runs closer than this are fetched in one request [days].
MERGE_GAP_DAYS = 31


def adapters() -> dict[str, Adapter]:
    """One adapter per source name."""
    from evapo.sources.met_norway import MetNorway
    from evapo.sources.nasa_power import NasaPower
    from evapo.sources.nws import Nws
    from evapo.sources.openmeteo import OpenMeteoArchive, OpenMeteoForecast

    return {
        "nasa_power": NasaPower(),
        "openmeteo_archive": OpenMeteoArchive(),
        "openmeteo_forecast": OpenMeteoForecast(),
        "met_norway": MetNorway(),
        "nws": Nws(),
    }


def source_deadline_s(settings: Settings) -> float:
    """Upper bound of one source's whole fetch (every attempt and backoff) [s]."""
    attempts = settings.upstream_retries + 1
    return min(settings.job_deadline_s, settings.upstream_timeout_s * attempts + 2.0 * attempts)


async def fetch_sources(
    lat: float,
    lon: float,
    start: date,
    end: date,
    *,
    plan: Plan,
    settings: Settings,
    cache: WeatherCache | None,
    on_done: Callable[[SourceResult], Awaitable[None]] | None = None,
    upstream: Upstream | None = None,
) -> dict[str, SourceResult]:
    """Fetch the plan's sources concurrently; ``on_done`` is awaited as each one finishes.

    A failing source yields a result with ``error`` set (never an exception); the others go on.
    """
    registry = adapters()
    http = upstream or Upstream(settings)
    try:
        tasks = [
            asyncio.create_task(
                _one(
                    registry[name],
                    lat=lat,
                    lon=lon,
                    window=window,
                    today=plan.today,
                    http=http,
                    cache=cache,
                    settings=settings,
                ),
                name=f"fetch-{name}",
            )
            for name, window in plan.active.items()
        ]
        results: dict[str, SourceResult] = {}
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                results[result.source] = result
                if on_done is not None:
                    await on_done(result)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return {name: results[name] for name in plan.active if name in results}
    finally:
        if upstream is None:
            await http.aclose()


async def _one(
    adapter: Adapter,
    *,
    lat: float,
    lon: float,
    window: tuple[date, date],
    today: date,
    http: Upstream,
    cache: WeatherCache | None,
    settings: Settings,
) -> SourceResult:
    name = adapter.name
    grid = adapter.coverage.grid_deg
    t0 = time.perf_counter()
    before = http.requests[name]
    first, last = window
    try:
        async with asyncio.timeout(source_deadline_s(settings)):
            cached = await _cache_load(cache, name, lat=lat, lon=lon, window=window, grid=grid)
            if cached is not None:
                present = cached.present
                merged = cached.series
            else:
                present = np.zeros((last - first).days + 1, bool)
                merged = DailySeries.empty(
                    np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1),
                    source=name,
                    lat=lat,
                    lon=lon,
                )
            for a, b in _missing_spans(present, first):
                fetched = await adapter.fetch(http, lat, lon, a, b, today=today)
                _overlay(merged, fetched, (a - first).days)
                await _cache_store(cache, fetched, grid)
            series = merged
    except TimeoutError:
        error = SourceError(
            name,
            window,
            f"no complete answer within {source_deadline_s(settings):g} s",
            kind="timeout",
        )
        return _failed(name, error, http.requests[name] - before, t0)
    except UpstreamError as exc:
        error = SourceError(name, window, exc.reason, kind=exc.kind)
        return _failed(name, error, http.requests[name] - before, t0)
    sent = http.requests[name] - before
    elapsed = time.perf_counter() - t0
    log.info("source_fetched", source=name, days=len(series), requests=sent, elapsed_s=elapsed)
    return SourceResult(
        source=name,
        series=series,
        error=None,
        from_cache=sent == 0,
        requests=sent,
        elapsed_s=elapsed,
    )


async def _cache_load(
    cache: WeatherCache | None,
    name: str,
    *,
    lat: float,
    lon: float,
    window: tuple[date, date],
    grid: tuple[float, float],
) -> CachedDays | None:
    """Cached days, or None without a cache or when the database fails (logged, not fatal)."""
    if cache is None:
        return None
    try:
        return await cache.load(name, lat, lon, *window, grid=grid)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("cache_unavailable", source=name, op="load", error=str(exc))
        return None


async def _cache_store(
    cache: WeatherCache | None, series: DailySeries, grid: tuple[float, float]
) -> None:
    """Store fetched days; a database failure is logged and the fetch goes on."""
    if cache is None:
        return
    try:
        await cache.store(series, grid=grid)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("cache_unavailable", source=series.source, op="store", error=str(exc))


def _failed(name: str, error: SourceError, sent: int, t0: float) -> SourceResult:
    log.warning("source_failed", source=name, kind=error.kind, reason=error.reason, requests=sent)
    return SourceResult(
        source=name,
        series=None,
        error=error,
        from_cache=False,
        requests=sent,
        elapsed_s=time.perf_counter() - t0,
    )


def _missing_spans(present: NDArray[np.bool_], first: date) -> list[tuple[date, date]]:
    """Runs of absent days, runs closer than :data:`MERGE_GAP_DAYS` merged."""
    missing = np.flatnonzero(~present)
    if len(missing) == 0:
        return []
    breaks = np.flatnonzero(np.diff(missing) > MERGE_GAP_DAYS)
    starts = [int(missing[0]), *(int(missing[i + 1]) for i in breaks)]
    ends = [*(int(missing[i]) for i in breaks), int(missing[-1])]
    return [
        (first + timedelta(days=a), first + timedelta(days=b))
        for a, b in zip(starts, ends, strict=True)
    ]


def _overlay(target: DailySeries, part: DailySeries, offset: int) -> None:
    """Copy ``part`` into ``target`` starting at row ``offset``."""
    sl = slice(offset, offset + len(part))
    for c in COLUMNS:
        target.values[c][sl] = part.values[c]
    for c in EXTRA_COLUMNS:
        if c in part.extra:
            target.extra.setdefault(c, np.full(len(target), np.nan))[sl] = part.extra[c]
    target.flags[sl] = part.flags
    if not np.isnan(part.elevation_m):
        target.elevation_m = part.elevation_m
