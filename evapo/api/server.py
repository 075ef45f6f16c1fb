"""Run the app with uvicorn: in the foreground (``evapo serve``) or in a thread (tests, benches)."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evapo.api.app import create_app
from evapo.config import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve API and dashboard until interrupted.

    What the app imports and builds before it serves (FastAPI, Dash, pandas, SQLAlchemy, the
    services: millions of objects) lives as long as the process, so once started it is moved
    out of the garbage collector's reach (:func:`frozen_after_startup`).
    """
    uvicorn.run(
        frozen_after_startup(create_app(settings)),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        ws_per_message_deflate=WS_COMPRESSION,
    )


WS_COMPRESSION = False
"""permessage-deflate on WebSockets. Off: messages are a few hundred bytes, so compressing each
one again for each socket spends API CPU (a fifth of the send path's own time in py-spy under
bench.load) to save almost nothing."""

GC_THRESHOLDS = (10_000, 10, 10)
"""Collector thresholds once serving: young collections every 10,000 net allocations instead of
700 (each still a few ms), so per-request objects are collected young and full collections,
which stall every socket, run about ten times less often."""


def frozen_after_startup(app: ASGIApp) -> ASGIApp:
    """``app``, with ``gc.freeze()`` and :data:`GC_THRESHOLDS` once its lifespan start-up is done.

    A full collection otherwise walks every long-lived object and held the event loop for up to
    0.4 s at a time (every socket stalled; measured by bench.load). Objects created later are
    collected as usual.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
                gc.set_threshold(*GC_THRESHOLDS)
            await send(message)

        await app(scope, receive, sending)

    return wrapped


@contextmanager
def run_in_thread(
    settings: Settings,
    *,
    dashboard: bool = False,
    host: str = "127.0.0.1",
    app: ASGIApp | None = None,
) -> Iterator[str]:
    """Start the app (or ``app``, built by the caller) in a daemon thread on a free port;
    yield its base URL; stop on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app if app is not None else create_app(settings, dashboard=dashboard),
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=WS_COMPRESSION,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="evapo-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the API did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()
