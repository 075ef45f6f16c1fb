"""Liveness, readiness, metrics and the WebSocket message schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from evapo.api import metrics
from evapo.api.deps import ServicesDep
from evapo.api.models import Health
from evapo.events.messages import messages_json_schema

router = APIRouter(tags=["meta"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Health:
    """Always ok while the process runs."""
    return Health(status="ok")


@router.get("/ready", summary="Readiness: store, runner and event log reachable")
async def ready(services: ServicesDep, response: Response) -> Health:
    """503 when any dependency is down."""
    runner_ok = services.runner is not None and await services.runner.ping()
    checks = {
        "store": await services.store.ping(),
        "runner": runner_ok,
        "events": await services.events.ping(),
    }
    ok = all(checks.values())
    response.status_code = 200 if ok else 503
    return Health(status="ok" if ok else "degraded", checks=checks, mode=services.settings.mode)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(services: ServicesDep) -> Response:
    """Jobs by status, step durations, upstream calls, cache hits, open sockets."""
    body, content_type = metrics.render(await services.store.count_by_status())
    return Response(body, media_type=content_type)


@router.get("/api/v1/schema/messages", summary="JSON Schema of the WebSocket messages")
async def message_schema() -> dict[str, Any]:
    """A discriminated union on ``type``: PROGRESS, SUCCESS, ERROR, TIMEOUT, HEARTBEAT."""
    return messages_json_schema()
