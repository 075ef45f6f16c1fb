"""Router registry: every API router, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from evapo.api.routes import batches, jobs, meta, regions, sources, ws

api_router = APIRouter()
for _module in (jobs, sources, meta, ws, batches, regions):
    api_router.include_router(_module.router)
