"""WebSocket ``/ws/jobs/{id}?after=SEQ``: replay after SEQ, then live events, idle HEARTBEAT.

Opening a socket costs one event-log read when the log already holds the job's events (the
common case: a running or finished job); the job store is asked only when the log has nothing
after ``after`` (unknown job -> 4404, queued job, or a final job whose events the log no longer
holds -> its outcome), and not for a job this process accepted lately
(:mod:`evapo.jobs.recent`). While a socket idles, every ``IDLE_CHECK_TICKS``-th HEARTBEAT also
checks the store, so a job that ended without its terminal event reaching the log (its process
died in between) still ends the socket with its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from evapo.api import metrics
from evapo.api.deps import WsServicesDep
from evapo.events.messages import Event, Heartbeat, is_terminal
from evapo.pipeline import ensure_terminal_event, terminal_event
from evapo.services import Services
from evapo.store.jobs import JobRecord

router = APIRouter(tags=["websocket"])
_T = TypeVar("_T")

UNKNOWN_JOB = 4404
"""Close code for a job id the store does not know."""
IDLE_CHECK_TICKS = 4
"""An idle socket checks its job in the store every this many HEARTBEATs (1 min by default)."""
CLOSE_ANSWER_S = 5.0
"""How long a socket closed after the terminal event waits for the client's close answer [s]."""


async def _send_events(
    websocket: WebSocket, job_id: str, replay: list[Event], after: int, services: Services
) -> None:
    """Send ``replay`` (events after ``after``), then follow the log until the terminal event."""
    for logged in replay:
        await websocket.send_text(logged.model_dump_json())
    last = replay[-1].seq if replay else after
    idle = services.settings.ws_heartbeat_s
    ticks = 0
    async for event in services.events.follow(job_id, last, idle_timeout_s=idle):
        if event is None:
            ticks += 1
            if ticks % IDLE_CHECK_TICKS == 0:
                await _log_outcome_if_final(job_id, services)
            await websocket.send_text(Heartbeat(job_id=job_id, ts=time.time()).model_dump_json())
        else:
            ticks = 0
            await websocket.send_text(event.model_dump_json())


async def _log_outcome_if_final(job_id: str, services: Services) -> None:
    """If the job is final, make sure its log ends with its terminal event (the follower's next)."""
    job = await services.store.get(job_id)
    if job is not None and job.status.final:
        await ensure_terminal_event(job, services)


_IN_FLIGHT: weakref.WeakKeyDictionary[object, dict[Hashable, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)


async def _shared(owner: object, key: Hashable, read: Callable[[], Awaitable[_T]]) -> _T:
    """``read()``, shared by the sockets that ask ``owner`` for the same ``key`` at the same time.

    Sockets of one job tend to open together (a page and its reconnects, many viewers, a load
    test): they wait for one read instead of each making the same one. Nothing is kept once the
    read is done. Used for the opening reads only, which may be a round trip old: following
    re-reads the log once it listens, and the job store is the authority on final jobs.
    """
    pending = _IN_FLIGHT.setdefault(owner, {})
    shared = pending.get(key)
    if shared is None:
        shared = asyncio.ensure_future(read())
        pending[key] = shared

        def done(future: asyncio.Future[Any]) -> None:
            pending.pop(key, None)
            if not future.cancelled():
                future.exception()  # retrieved: every waiter that is still there gets it too

        shared.add_done_callback(done)
    result: _T = await asyncio.shield(shared)
    return result


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        continue


async def _send_final(websocket: WebSocket, job: JobRecord, after: int, services: Services) -> None:
    """A final job whose log held nothing after ``after``: its events or its outcome, then close.

    The terminal event is logged if it is missing. When the log no longer holds the job's events
    (bounded retention, restart) the client still learns how the job ended: the outcome alone,
    numbered ``after + 1``.
    """
    await ensure_terminal_event(job, services)
    replay = await services.events.read(job.id, after)
    if not (replay and is_terminal(replay[-1])):
        outcome = terminal_event(job)
        replay = [] if outcome is None else [outcome.model_copy(update={"seq": after + 1})]
    await _replay_all(websocket, replay)


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close unless the client already went away (then there is nobody to tell)."""
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=code, reason=reason)


async def _replay_all(websocket: WebSocket, replay: list[Event]) -> None:
    """Send events ending with the terminal one, then close 1000."""
    with contextlib.suppress(WebSocketDisconnect):
        for event in replay:
            await websocket.send_text(event.model_dump_json())
        await _close(websocket, 1000)


@router.websocket("/ws/jobs/{job_id}")
async def job_events(
    websocket: WebSocket, job_id: str, services: WsServicesDep, after: int = Query(0, ge=0)
) -> None:
    """Every event with ``seq > after``, live ones as they happen; closes 1000 after the last."""
    await websocket.accept()
    events, store = services.events, services.store
    replay = list(await _shared(events, (job_id, after), lambda: events.read(job_id, after)))
    if replay and is_terminal(replay[-1]):
        await _replay_all(websocket, replay)
        return
    recent = services.recent_jobs
    if not replay and not (recent is not None and job_id in recent):
        job = await _shared(store, job_id, lambda: store.get(job_id))
        if job is None:
            await _close(websocket, UNKNOWN_JOB, f"unknown job {job_id}")
            return
        if job.status.final:
            await _send_final(websocket, job, after, services)
            return
    metrics.OPEN_SOCKETS.inc()
    sender = asyncio.ensure_future(_send_events(websocket, job_id, replay, after, services))
    receiver = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and not sender.cancelled() and sender.exception() is None:
            await _close(websocket, 1000)
            # The client answers the close, which ends the receiver: no task to cancel (a
            # cancelled task keeps its frames in a reference cycle until a full collection).
            await asyncio.wait({receiver}, timeout=CLOSE_ANSWER_S)
    finally:
        for task in (sender, receiver):
            if not task.done():
                task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        metrics.OPEN_SOCKETS.dec()
