"""Pure planning: which source serves which days, and what nothing can serve (and why)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

from evapo.sources.coverage import COVERAGE, PRODUCT_FIRST_DAY

SOURCE_NAMES = ("nasa_power", "openmeteo_archive", "openmeteo_forecast", "met_norway", "nws")


@dataclass
class Plan:
    """Days each source will serve for one request, and the days nothing can serve."""

    lat: float
    lon: float
    start: date
    end: date
    today: date
    per_source: dict[str, tuple[date, date] | None] = field(default_factory=dict)
    """Source -> (first, last) day it serves inside the request, or None when it is out."""
    unservable: list[tuple[date, date, str]] = field(default_factory=list)
    """Runs of days (first, last, reason) no selected source can serve."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each source that is out (None in ``per_source``) is out."""

    @property
    def ok(self) -> bool:
        """True when every requested day has at least one source."""
        return not self.unservable and any(w is not None for w in self.per_source.values())

    @property
    def active(self) -> dict[str, tuple[date, date]]:
        """The sources with days to serve."""
        return {k: w for k, w in self.per_source.items() if w is not None}

    def sources_for(self, day: date) -> list[str]:
        """The sources that serve ``day``."""
        return [k for k, (a, b) in self.active.items() if a <= day <= b]

    def describe(self) -> str:
        """One human sentence per unservable run (for a 422 answer)."""
        return "; ".join(f"{a}..{b}: {why}" for a, b, why in self.unservable)


def plan_sources(
    lat: float,
    lon: float,
    start: date,
    end: date,
    *,
    sources: Sequence[str] | None = None,
    today: date | None = None,
) -> Plan:
    """Plan a request without any I/O. Raises ValueError for malformed input (names the field)."""
    _check(lat, lon, start, end)
    chosen = tuple(SOURCE_NAMES if sources is None else sources)
    unknown = [s for s in chosen if s not in SOURCE_NAMES]
    if unknown:
        raise ValueError(f"sources: unknown {unknown}, expected some of {list(SOURCE_NAMES)}")
    if not chosen:
        raise ValueError("sources: at least one source is needed")
    today = today or datetime.now(UTC).date()
    plan = Plan(lat=lat, lon=lon, start=start, end=end, today=today)
    windows = _windows(today)
    for name in chosen:
        area = COVERAGE[name].area_reason(lat, lon)
        first, last = windows[name]
        if area is not None:
            plan.per_source[name], plan.reasons[name] = None, area
        elif end < first:
            plan.per_source[name] = None
            plan.reasons[name] = f"serves days from {first} (as of {today})"
        elif start > last:
            plan.per_source[name] = None
            plan.reasons[name] = f"serves days up to {last} (as of {today})"
        else:
            plan.per_source[name] = (max(start, first), min(end, last))
    plan.unservable = _uncovered(plan, chosen)
    return plan


@functools.lru_cache(maxsize=4)
def _windows(today: date) -> Mapping[str, tuple[date, date]]:
    """Each source's (first, last) day as of ``today``, first clipped to PRODUCT_FIRST_DAY
    (read-only: shared by every plan of the day)."""
    windows = {}
    for name, cov in COVERAGE.items():
        first, last = cov.window(today)
        windows[name] = (max(first, PRODUCT_FIRST_DAY), last)
    return MappingProxyType(windows)


def _check(lat: float, lon: float, start: date, end: date) -> None:
    if not (isinstance(lat, int | float) and math.isfinite(lat) and -90 <= lat <= 90):
        raise ValueError(f"lat: must be a number in [-90, 90], got {lat!r}")
    if not (isinstance(lon, int | float) and math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"lon: must be a number in [-180, 180], got {lon!r}")
    if not isinstance(start, date) or not isinstance(end, date):
        raise ValueError("start/end: must be dates")
    if end < start:
        raise ValueError(f"end: {end} is before start {start}")


def _uncovered(plan: Plan, chosen: Sequence[str]) -> list[tuple[date, date, str]]:
    """Runs of requested days outside every active window, each with the reason."""
    windows = sorted(plan.active.values())
    gaps: list[tuple[date, date]] = []
    cursor = plan.start
    for first, last in windows:
        if first > cursor:
            gaps.append((cursor, min(first - timedelta(days=1), plan.end)))
        cursor = max(cursor, last + timedelta(days=1))
        if cursor > plan.end:
            break
    if cursor <= plan.end:
        gaps.append((cursor, plan.end))
    if not gaps:
        return []
    served = _windows(plan.today)
    horizon = max(served[s][1] for s in chosen)
    out = []
    for gap_first, b in gaps:
        a = gap_first
        if b < PRODUCT_FIRST_DAY:
            why = f"before {PRODUCT_FIRST_DAY}, the first day Evapo serves"
        elif a > horizon:
            why = f"after {horizon}, the forecast horizon of the selected sources"
        else:
            names = ", ".join(f"{s} ({plan.reasons.get(s, 'other days')})" for s in chosen)
            why = f"no selected source covers these days: {names}"
        if a < PRODUCT_FIRST_DAY <= b:
            out.append(
                (
                    a,
                    PRODUCT_FIRST_DAY - timedelta(days=1),
                    f"before {PRODUCT_FIRST_DAY}, the first day Evapo serves",
                )
            )
            a = PRODUCT_FIRST_DAY
        out.append((a, b, why))
    return out
