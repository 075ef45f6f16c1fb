"""Typed dependencies shared by the routers (all ``async def``: FastAPI runs plain ``def``
dependencies in a thread pool, a thread hop per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket

from evapo.config import Settings
from evapo.jobs.base import JobRunner
from evapo.services import Services
from evapo.store.jobs import JobRecord, JobStore


async def get_services(request: Request) -> Services:
    """The process's services, opened in the app's lifespan."""
    services: Services = request.app.state.services
    return services


async def get_ws_services(websocket: WebSocket) -> Services:
    """Same as :func:`get_services` for WebSocket routes."""
    services: Services = websocket.app.state.services
    return services


async def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    """The settings the app was built with."""
    return services.settings


async def get_store(services: Annotated[Services, Depends(get_services)]) -> JobStore:
    """The job store."""
    return services.store


async def get_runner(services: Annotated[Services, Depends(get_services)]) -> JobRunner:
    """The job runner (always present in the API process)."""
    if services.runner is None:
        raise HTTPException(503, "no job runner in this process")
    return services.runner


async def get_job(job_id: str, store: Annotated[JobStore, Depends(get_store)]) -> JobRecord:
    """The job named in the path, or 404."""
    job = await store.get(job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id!r} not found")
    return job


ServicesDep = Annotated[Services, Depends(get_services)]
WsServicesDep = Annotated[Services, Depends(get_ws_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
JobDep = Annotated[JobRecord, Depends(get_job)]
