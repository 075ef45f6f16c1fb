"""Which sources can serve a point and a date range (pure planning, no upstream call)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from evapo.api.models import SourcesAnswer, SourceSpan, UnservableRun
from evapo.pipeline import today_utc

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.get("", summary="Sources that can serve a point (default: last 30 days to 7 ahead)")
async def sources_for_point(
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude [deg].")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude [deg].")],
    start: Annotated[date | None, Query(description="First day (YYYY-MM-DD).")] = None,
    end: Annotated[date | None, Query(description="Last day (YYYY-MM-DD).")] = None,
) -> SourcesAnswer:
    """Each source's servable days, why others are out, and days nothing serves."""
    from evapo.sources import plan_sources

    today = today_utc()
    start = start or (end or today) - timedelta(days=30)
    end = end or max(start, today + timedelta(days=7))
    if start > end:
        raise HTTPException(422, [{"loc": ["query", "start"], "msg": "start is after end"}])
    plan = plan_sources(lat, lon, start, end, today=today)
    return SourcesAnswer(
        lat=lat,
        lon=lon,
        start=start,
        end=end,
        ok=plan.ok,
        sources={
            name: None if span is None else SourceSpan(first=span[0], last=span[1])
            for name, span in plan.per_source.items()
        },
        reasons=dict(plan.reasons),
        unservable=[UnservableRun(first=a, last=b, reason=r) for a, b, r in plan.unservable],
    )
