"""Weather sources: five upstream APIs harmonised to the canonical daily schema, cached, planned.

Contracts other layers use::

    SOURCE_NAMES = ("nasa_power", "openmeteo_archive", "openmeteo_forecast", "met_norway", "nws")

    plan_sources(lat, lon, start, end, *, sources=None, today=None) -> Plan
        Pure, no I/O. Plan.per_source: {name: (first, last) | None}; Plan.unservable:
        [(first, last, reason)]; Plan.ok; Plan.reasons: {name: why it is out}; Plan.active;
        Plan.sources_for(day); Plan.describe(). Raises ValueError naming the bad field.

    await fetch_sources(lat, lon, start, end, *, plan, settings, cache, on_done=None,
                        upstream=None) -> dict[str, SourceResult]
        Concurrent; on_done(result) awaited as each source finishes. A failing source gives a
        SourceResult with error=SourceError(source, days, reason, kind=...) and series=None.
        SourceResult: source, series (DailySeries, canonical units), error, from_cache,
        requests, elapsed_s. Open-Meteo's own ET0 is in series.extra["eto_provider"].

    await resolve_elevation(lat, lon, *, user_elevation, settings, client=None)
        -> (elevation_m, origin) with origin "user" | "openmeteo_elevation" | "nasa_power".

    WeatherCache(engine); await cache.init()   (table ``weather_cache``, SQLite or PostgreSQL)

HTTP goes through :class:`evapo.sources.http.Upstream` (httpx2, tenacity retries, per-host rate
limits and concurrency caps, circuit breakers). Base URLs come only from settings.
"""

from evapo.sources.base import SourceError, SourceResult
from evapo.sources.coverage import COVERAGE, PRODUCT_FIRST_DAY, Coverage, in_usa
from evapo.sources.elevation import resolve_elevation
from evapo.sources.fetch import fetch_sources
from evapo.sources.http import Upstream, UpstreamError, reset_breakers
from evapo.sources.planner import SOURCE_NAMES, Plan, plan_sources
from evapo.store.cache import WeatherCache

__all__ = [
    "COVERAGE",
    "PRODUCT_FIRST_DAY",
    "SOURCE_NAMES",
    "Coverage",
    "Plan",
    "SourceError",
    "SourceResult",
    "Upstream",
    "UpstreamError",
    "WeatherCache",
    "fetch_sources",
    "in_usa",
    "plan_sources",
    "reset_breakers",
    "resolve_elevation",
]
