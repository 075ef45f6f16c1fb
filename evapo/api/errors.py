"""The last line of defence: any exception a route lets through becomes a short JSON answer.

Nothing of the exception (message, traceback, URLs, settings) reaches the client: it gets a
status, a one-line ``detail`` and an ``error_id`` to find the full log line (structured, with the
job id when the path names one). A dependency that is down answers 503 with ``Retry-After``:

* the database (any SQLAlchemy error, or a socket error reaching it) -> 503 ``database``;
* Redis (the distributed event log) -> 503 ``event_log``;
* anything else -> 500.
"""

from __future__ import annotations

import json
import math
import re
import traceback
import uuid
from datetime import date
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evapo.config import Settings
from evapo.logging import get_logger
from evapo.pipeline import date_problems

log = get_logger(__name__)

RETRY_AFTER_S = 5
"""``Retry-After`` sent with a 503 [s]."""
_JOB_ID = re.compile(r"/(?:jobs|batches)/([0-9A-Za-z_-]{6,64})")
SUBMIT_PATH = "/api/v1/jobs"


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(status, dependency, message for the client) for an unhandled exception."""
    if isinstance(exc, SQLAlchemyError | OSError):
        return 503, "database", "the database is unavailable; retry shortly"
    if isinstance(exc, RedisError):
        return 503, "event_log", "the event log (Redis) is unavailable; retry shortly"
    return 500, "internal", "internal error"


def job_id_in(path: str) -> str | None:
    """The job (or batch) id a request path names, if any."""
    match = _JOB_ID.search(path)
    return match.group(1) if match else None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities spelt as strings (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, also when the rejected input holds NaN or Infinity
    (``{"lat": NaN}`` is accepted by Python's JSON parser, and rendering it back failed)."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if request.method == "POST" and request.url.path == SUBMIT_PATH:
        errors += _date_errors(exc.body, errors, request.app.state.settings)
    return JSONResponse({"detail": _finite(jsonable_encoder(errors))}, status_code=422)


def _date_errors(body: object, errors: list[Any], settings: Settings) -> list[dict[str, Any]]:
    """A submission's date-order and span problems, when other fields failed validation first.

    The model stops before its cross-field checks, so without these a body with a bad ``lat``
    and ``start`` after ``end`` would name only ``lat``.
    """
    if not isinstance(body, dict):
        return []
    if any(tuple(e.get("loc", ()))[:2] in (("body", "start"), ("body", "end")) for e in errors):
        return []
    try:
        start, end = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
    except (KeyError, TypeError, ValueError):
        return []
    return [
        {"type": "value_error", "loc": ("body", p.field), "msg": p.message, "input": body[p.field]}
        for p in date_problems(start, end, settings)
    ]


class ErrorShieldMiddleware:
    """Turn exceptions escaping the app into JSON 500/503 answers and structured log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            status, dependency, detail = classify(exc)
            error_id = uuid.uuid4().hex[:16]
            path = scope.get("path", "")
            log.error(
                "request_failed",
                error_id=error_id,
                status=status,
                dependency=dependency,
                method=scope.get("method", "WS"),
                path=path,
                job_id=job_id_in(path),
                error=f"{type(exc).__name__}: {exc}",
                # Plain text: cheap under any structlog renderer (rich tracebacks are slow).
                traceback="".join(traceback.format_exception(exc)),
            )
            if scope["type"] == "websocket":
                await _close_socket(send, 1011 if status == 500 else 1013, detail)
                return
            if started:
                return
            body = json.dumps({"detail": detail, "error_id": error_id}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            if status == 503:
                headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})


async def _close_socket(send: Send, code: int, reason: str) -> None:
    """Close a socket whose handler failed (the peer or the server may have closed it already)."""
    try:
        await send({"type": "websocket.close", "code": code, "reason": reason})
    except (OSError, RuntimeError):
        return
