"""The FastAPI application: services opened in the lifespan, API routes, then the dashboard."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from evapo import __version__
from evapo.api.errors import ErrorShieldMiddleware, validation_failed
from evapo.api.fastpath import SubmitFastPath
from evapo.api.limits import LimitsMiddleware, client_limits
from evapo.api.routes import api_router
from evapo.api.warm import warm_connections
from evapo.config import Settings, get_settings
from evapo.services import close_services, open_services

API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ForegroundMiddleware:
    """Counts the HTTP requests being answered, so embedded jobs yield to them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope.get("app"), "state", None)
        foreground = getattr(getattr(state, "services", None), "foreground", None)
        if scope["type"] != "http" or foreground is None:
            await self.app(scope, receive, send)
            return
        foreground.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            foreground.leave()


def preload_modules() -> None:
    """Import now what the first submission and the first job would import.

    That is ``evapo.sources`` and the HTTP client stack, about 0.2 s: no request pays it, and
    the collector freeze at start-up (:func:`evapo.api.server.frozen_after_startup`) covers it.
    """
    import httpx2

    import evapo.sources.fetch  # noqa: F401

    httpx2.AsyncHTTPTransport()  # its first construction imports httpcore2, h11, truststore


TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's built-in OpenTelemetry, off: Evapo serves Prometheus ``/metrics`` and JSON logs.
On, it looked up the global OpenTelemetry providers on every request and socket (about 6 % of
a submission's API CPU under cProfile) to find none configured."""


def _without_telemetry() -> dict[str, Any]:
    """``FastAPI(...)`` keyword arguments that turn its telemetry off (FastAPI versions that
    have it take a ``telemetry`` argument; older ones have none to turn off)."""
    if "telemetry" in inspect.signature(FastAPI).parameters:
        return {"telemetry": TELEMETRY_OFF}
    return {}


def create_app(settings: Settings | None = None, *, dashboard: bool = True) -> FastAPI:
    """Build the app; services open when it starts and close when it stops."""
    settings = settings or get_settings()
    limits = client_limits(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        preload_modules()
        app.state.services = await open_services(settings, runner=True)
        if settings.mode == "distributed":
            await warm_connections(app.state.services, limits)
        try:
            yield
        finally:
            await limits.aclose()
            await close_services(app.state.services)

    app = FastAPI(title="Evapo", version=__version__, lifespan=lifespan, **_without_telemetry())
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.state.settings = settings
    # Outermost last: CORS headers also on limit and error answers (evapo.api.limits, .errors).
    app.add_middleware(SubmitFastPath)
    app.add_middleware(ForegroundMiddleware)
    app.add_middleware(ErrorShieldMiddleware)
    app.add_middleware(LimitsMiddleware, settings=settings, limits=limits)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
        )
    app.include_router(api_router)

    @app.api_route("/api/{path:path}", methods=API_METHODS, include_in_schema=False)
    async def unknown_api_path(request: Request, path: str) -> JSONResponse:
        return JSONResponse({"detail": f"no API route {request.url.path}"}, status_code=404)

    if dashboard:
        from evapo.web import mount_dashboard

        mount_dashboard(app, settings)
    return app
