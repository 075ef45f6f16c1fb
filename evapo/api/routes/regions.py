"""Region routes: define a region, refresh it now, read its map; and the regional map page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from evapo.api.deps import ServicesDep
from evapo.api.routes.batches import DispatcherDep, _ws_base
from evapo.batches import BatchAccepted, result_path
from evapo.regions import RegionCreate, RegionMap, put_region, refresh_region, region_map
from evapo.store.batches import BatchStore, RegionRecord

router = APIRouter(tags=["regions"])

NAME = Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="Region name.")
DAY = Query(None, alias="date", description="Day to show (default: the run's first day).")


class RegionPublic(BaseModel):
    """A region: its points and how they were given."""

    name: str
    n_points: int
    definition: dict[str, Any]
    created_at: datetime
    points: list[dict[str, Any]]


class RegionList(BaseModel):
    """Every region (points left out)."""

    regions: list[RegionPublic]


def _public(region: RegionRecord, *, points: bool = True) -> RegionPublic:
    return RegionPublic(
        name=region.name,
        n_points=len(region.points),
        definition=region.definition,
        created_at=region.created_at,
        points=region.points if points else [],
    )


@router.put("/api/v1/regions/{name}", summary="Create or replace a region")
async def put_region_route(
    body: RegionCreate, services: ServicesDep, name: str = NAME
) -> RegionPublic:
    """Points, or a box and a grid step (at most ``EVAPO_BATCH_MAX_POINTS`` points)."""
    try:
        region = await put_region(services, name, body)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": message, "type": "value_error"}]
        ) from None
    return _public(region)


@router.get("/api/v1/regions", summary="Every region")
async def list_regions(services: ServicesDep) -> RegionList:
    """Regions by name (without their points)."""
    regions = await BatchStore(services.engine).regions()
    return RegionList(regions=[_public(r, points=False) for r in regions])


@router.get("/api/v1/regions/{name}", summary="A region and its points")
async def get_region(services: ServicesDep, name: str = NAME) -> RegionPublic:
    """The region, or 404."""
    region = await BatchStore(services.engine).get_region(name)
    if region is None:
        raise HTTPException(404, f"region {name!r} not found")
    return _public(region)


@router.post(
    "/api/v1/regions/{name}/refresh", status_code=202, summary="Refresh a region's map now"
)
async def refresh_region_route(
    request: Request, services: ServicesDep, dispatcher: DispatcherDep, name: str = NAME
) -> BatchAccepted:
    """Start a run (today and tomorrow) for every point; it is a batch, followed like one."""
    try:
        run = await refresh_region(services, name, dispatcher=dispatcher)
    except KeyError:
        raise HTTPException(404, f"region {name!r} not found") from None
    base = str(request.base_url).rstrip("/")
    return BatchAccepted(
        batch_id=run.id,
        status_url=f"{base}/api/v1/batches/{run.id}",
        ws_url=f"{_ws_base(request)}/ws/batches/{run.id}",
        result_url=f"{base}{result_path(run.id)}",
    )


@router.get("/api/v1/regions/{name}/map", summary="The region's map from its last completed run")
async def get_region_map(
    services: ServicesDep,
    name: str = NAME,
    day: date | None = DAY,
) -> RegionMap:
    """ET0 and precipitation per point on one day, when it was computed, and whether stale."""
    try:
        return await region_map(services, name, day=day)
    except KeyError:
        raise HTTPException(404, f"region {name!r} not found") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/regional", include_in_schema=False, response_class=HTMLResponse)
async def regional_page() -> HTMLResponse:
    """The regional ET0 map page of the dashboard."""
    from evapo.web.regional import page_html

    return HTMLResponse(page_html())
