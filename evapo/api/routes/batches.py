"""Batch routes: submit (JSON or CSV upload), status with point counts, cancel, table result,
WebSocket.

The router's lifespan makes the process's batch dispatcher (embedded: ``BatchRunner``, which
resumes open batches; distributed: Celery groups, plus one stuck-batch sweep at start) and,
embedded, the region scheduler.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from evapo.api.deps import ServicesDep, WsServicesDep
from evapo.batches import (
    BatchAccepted,
    BatchCancelAccepted,
    BatchCreate,
    BatchDispatcher,
    BatchInputError,
    BatchPublic,
    batch_table,
    check_batch,
    create_batch,
    ensure_batch_terminal,
    frame_bytes,
    parse_points_csv,
    public,
    result_path,
)
from evapo.events.messages import Heartbeat
from evapo.logging import get_logger
from evapo.services import Services
from evapo.store.batches import BatchRecord, BatchStore
from evapo.store.jobs import JobStatus

log = get_logger(__name__)

UNKNOWN_BATCH = 4404
"""WebSocket close code for a batch id the store does not know."""
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
METHOD_FIELDS = ("method", "reference", "rso")
"""Optional form fields of a CSV upload choosing the reference ET method (as in the JSON)."""


@asynccontextmanager
async def batch_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Make the batch tables (embedded), the dispatcher and the embedded region scheduler."""
    from evapo.regions import RegionScheduler

    services: Services = app.state.services
    settings = services.settings
    await BatchStore(services.engine).init(create_tables=settings.mode == "embedded")
    scheduler: RegionScheduler | None = None
    sweep: asyncio.Future[Any] | None = None
    if settings.mode == "distributed":
        from evapo.batches import sweep_once
        from evapo.jobs.batch_tasks import CeleryBatchDispatcher

        dispatcher: Any = CeleryBatchDispatcher(settings, services=services)
        # Batches a lost worker or broker left open are closed now, not at the next beat.
        sweep = asyncio.ensure_future(sweep_once(services))
    else:
        from evapo.batches import BatchRunner

        dispatcher = BatchRunner(services)
        await dispatcher.start()
        if settings.region_scheduler:
            scheduler = RegionScheduler(services, dispatcher, interval_s=settings.region_refresh_s)
            scheduler.start()
    app.state.batch_dispatcher = dispatcher
    app.state.region_scheduler = scheduler
    try:
        yield
    finally:
        if sweep is not None:
            sweep.cancel()
            await asyncio.gather(sweep, return_exceptions=True)
        if scheduler is not None:
            await scheduler.stop()
        await dispatcher.stop()


router = APIRouter(tags=["batches"], lifespan=batch_lifespan)


def get_dispatcher(request: Request) -> BatchDispatcher:
    """The process's batch dispatcher (made in the router's lifespan)."""
    dispatcher: BatchDispatcher | None = getattr(request.app.state, "batch_dispatcher", None)
    if dispatcher is None:
        raise HTTPException(503, "no batch dispatcher in this process")
    return dispatcher


DispatcherDep = Annotated[BatchDispatcher, Depends(get_dispatcher)]


async def get_batch(batch_id: str, services: ServicesDep) -> BatchRecord:
    """The batch named in the path, or 404."""
    batch = await BatchStore(services.engine).get(batch_id)
    if batch is None:
        raise HTTPException(404, f"batch {batch_id!r} not found")
    return batch


BatchDep = Annotated[BatchRecord, Depends(get_batch)]


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


async def _read_body(request: Request, limit: int) -> BatchCreate:
    """A JSON body, or a multipart form with ``file`` (CSV), ``start``, ``end``, ``sources`` and
    the optional ``method``, ``reference``, ``rso``."""
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise _invalid("file", "upload the points as a CSV file field named 'file'")
            raw = await upload.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _invalid("file", "the CSV must be UTF-8 text") from None
            points = parse_points_csv(text, limit=limit)
            sources = form.get("sources")
            # The method fields, when given and not empty, as in the JSON body.
            choice = {k: form.get(k) for k in METHOD_FIELDS if form.get(k) not in (None, "")}
            return BatchCreate.model_validate(
                {
                    "points": [p.model_dump() for p in points],
                    "start": form.get("start"),
                    "end": form.get("end"),
                    "sources": str(sources).split(",") if sources else None,
                }
                | choice
            )
        try:
            data = json.loads(await request.body())
        except json.JSONDecodeError as exc:
            raise _invalid("body", f"not valid JSON: {exc}") from None
        except UnicodeDecodeError:
            raise _invalid("body", "not valid JSON: the body is not UTF-8 text") from None
        given = data.get("points") if isinstance(data, dict) else None
        if isinstance(given, list) and len(given) > limit:
            raise _invalid("points", f"{len(given)} points; at most {limit} are allowed")
        return BatchCreate.model_validate(data)
    except BatchInputError as exc:
        raise _invalid(exc.field, exc.message) from None
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


def _ws_base(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    return "ws" + base[4:] if base.startswith("http") else base


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": BatchCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "start", "end"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV with header name,lat,lon[,elevation]",
                        },
                        "start": {"type": "string", "format": "date"},
                        "end": {"type": "string", "format": "date"},
                        "sources": {"type": "string", "description": "comma-separated"},
                        "method": {"type": "string", "enum": ["fao56", "asce"]},
                        "reference": {"type": "string", "enum": ["short", "tall"]},
                        "rso": {"type": "string", "enum": ["simple", "full"]},
                    },
                }
            },
        },
    }
}


@router.post(
    "/api/v1/batches",
    status_code=202,
    summary="Submit a batch of points (JSON, or a CSV upload); answers at once",
    openapi_extra=_BODY_DOC,
)
async def submit_batch(
    request: Request, services: ServicesDep, dispatcher: DispatcherDep
) -> BatchAccepted:
    """Validate, store and queue the points; follow the batch on ``ws_url``.

    At most ``EVAPO_BATCH_MAX_POINTS`` points (default 1000) per batch.
    """
    body = await _read_body(request, services.settings.batch_max_points)
    problems = await asyncio.to_thread(check_batch, body, services.settings)
    if problems:
        raise RequestValidationError(
            [{"loc": ("body", p.field), "msg": p.message, "type": "value_error"} for p in problems]
        )
    batch = await create_batch(services, uuid4().hex, body)
    await dispatcher.submit(batch.id, batch.n_points)
    base = str(request.base_url).rstrip("/")
    return BatchAccepted(
        batch_id=batch.id,
        status_url=f"{base}/api/v1/batches/{batch.id}",
        ws_url=f"{_ws_base(request)}/ws/batches/{batch.id}",
        result_url=f"{base}{result_path(batch.id)}",
    )


@router.get("/api/v1/batches/{batch_id}", summary="A batch's status with point counts")
async def get_batch_status(
    batch: BatchDep, services: ServicesDep, points: bool = Query(False)
) -> BatchPublic:
    """Status, points done and failed; per-point states with ``?points=true``."""
    return await public(batch, services, with_points=points)


@router.delete(
    "/api/v1/batches/{batch_id}",
    status_code=202,
    summary="Cancel a queued or running batch",
    responses={409: {"description": "The batch is already final."}},
)
async def cancel_batch(
    batch: BatchDep, services: ServicesDep, dispatcher: DispatcherDep
) -> BatchCancelAccepted:
    """Set the batch's cancel flag: no further point is computed, points not computed are
    ``skipped``, and its log ends with ERROR code 'cancelled'."""
    if batch.status.final or not await BatchStore(services.engine).request_cancel(batch.id):
        latest = await BatchStore(services.engine).get(batch.id)
        status = (latest or batch).status.value
        raise HTTPException(409, f"batch {batch.id} is already {status}")
    log.info("batch_cancel_requested", batch_id=batch.id)
    await dispatcher.cancel(batch.id)
    return BatchCancelAccepted(batch_id=batch.id)


@router.get(
    "/api/v1/batches/{batch_id}/result",
    summary="A finished batch's point x day table as CSV or Parquet",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
        409: {"description": "The batch has not succeeded (no table)."},
    },
)
async def get_batch_result(
    batch: BatchDep, services: ServicesDep, format: Literal["csv", "parquet"] = "csv"
) -> Response:
    """One row per point and day, with each point's status (failed points have empty values)."""
    if batch.status is not JobStatus.SUCCEEDED:
        raise HTTPException(409, f"batch {batch.id} has no result: it is {batch.status.value}")
    frame = await batch_table(batch, services)
    data = await asyncio.to_thread(frame_bytes, frame, format)
    headers = {"Content-Disposition": f'attachment; filename="evapo-batch-{batch.id}.{format}"'}
    return Response(data, media_type=MEDIA[format], headers=headers)


@router.websocket("/ws/batches/{batch_id}")
async def batch_events(
    websocket: WebSocket, batch_id: str, services: WsServicesDep, after: int = Query(0, ge=0)
) -> None:
    """Every event with ``seq > after`` then live ones (point counts); closes 1000 after the end."""
    await websocket.accept()
    batch = await BatchStore(services.engine).get(batch_id)
    if batch is None:
        await websocket.close(code=UNKNOWN_BATCH, reason=f"unknown batch {batch_id}")
        return
    await ensure_batch_terminal(batch, services)

    async def send() -> None:
        idle = services.settings.ws_heartbeat_s
        async for event in services.events.follow(batch_id, after, idle_timeout_s=idle):
            message = event or Heartbeat(job_id=batch_id, ts=time.time())
            await websocket.send_text(message.model_dump_json())

    async def until_disconnect() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            continue

    sender = asyncio.ensure_future(send())
    receiver = asyncio.ensure_future(until_disconnect())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    if sender.done() and not sender.cancelled() and sender.exception() is None:
        await websocket.close(code=1000)
