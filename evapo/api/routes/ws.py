"""WebSocket ``/ws/jobs/{id}?after=SEQ``: replay after SEQ, then live events, idle HEARTBEAT."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from evapo.api import metrics
from evapo.api.deps import WsServicesDep
from evapo.events.messages import Heartbeat, is_terminal
from evapo.pipeline import ensure_terminal_event, terminal_event
from evapo.services import Services
from evapo.store.jobs import JobRecord

router = APIRouter(tags=["websocket"])

UNKNOWN_JOB = 4404
"""Close code for a job id the store does not know."""


async def _send_events(websocket: WebSocket, job_id: str, after: int, services: Services) -> None:
    idle = services.settings.ws_heartbeat_s
    async for event in services.events.follow(job_id, after, idle_timeout_s=idle):
        message = event or Heartbeat(job_id=job_id, ts=time.time())
        await websocket.send_text(message.model_dump_json())


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        continue


async def _send_outcome_only(
    websocket: WebSocket, job: JobRecord, after: int, services: Services
) -> bool:
    """For a final job with nothing left to replay after ``after``, send its outcome and close.

    Happens when the log no longer holds the job's events (bounded retention, restart): the
    client still learns how the job ended (numbered ``after + 1``). Returns False otherwise.
    """
    await ensure_terminal_event(job, services)
    pending = await services.events.read(job.id, after)
    if pending and is_terminal(pending[-1]):
        return False
    outcome = terminal_event(job)
    if outcome is None:
        return False
    with contextlib.suppress(WebSocketDisconnect):
        await websocket.send_text(outcome.model_copy(update={"seq": after + 1}).model_dump_json())
        await _close(websocket, 1000)
    return True


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close unless the client already went away (then there is nobody to tell)."""
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=code, reason=reason)


@router.websocket("/ws/jobs/{job_id}")
async def job_events(
    websocket: WebSocket, job_id: str, services: WsServicesDep, after: int = Query(0, ge=0)
) -> None:
    """Every event with ``seq > after``, live ones as they happen; closes 1000 after the last."""
    await websocket.accept()
    job = await services.store.get(job_id)
    if job is None:
        await _close(websocket, UNKNOWN_JOB, f"unknown job {job_id}")
        return
    if job.status.final and await _send_outcome_only(websocket, job, after, services):
        return
    metrics.OPEN_SOCKETS.inc()
    sender = asyncio.ensure_future(_send_events(websocket, job_id, after, services))
    receiver = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        metrics.OPEN_SOCKETS.dec()
    if sender.done() and not sender.cancelled() and sender.exception() is None:
        await _close(websocket, 1000)
