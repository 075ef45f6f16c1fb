"""Valid submissions answered without FastAPI's router: the hot path of ``POST /api/v1/jobs``.

Under bench.service, FastAPI's routing, dependency solving and response validation took about
three quarters of a submission's CPU in the API (py-spy). A valid submission is answered here,
inside every middleware (limits, error shield, CORS, foreground), by the functions the route
itself uses (:func:`evapo.api.routes.jobs.accept_job`, :func:`~evapo.api.routes.jobs.accepted`).
Anything else (no ``Content-Length``, a body that is not a JSON object, a field or date problem,
no job runner) goes on to FastAPI with its body replayed, so every error answer is the route's.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evapo.api.models import JobCreate
from evapo.api.routes.jobs import accept_job, accepted
from evapo.pipeline import check_spec
from evapo.services import Services

SUBMIT_PATH = "/api/v1/jobs"
_JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
_MAX_BASES = 64


class SubmitFastPath:
    """ASGI middleware: answers valid ``POST /api/v1/jobs`` itself, passes on everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._bases: dict[tuple[Any, ...], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != SUBMIT_PATH
            or not _plain_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        payload = await self._answer(scope, body)
        if payload is None:
            await self.app(scope, _replay(body, receive), send)
            return
        headers = [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, body: bytes) -> bytes | None:
        """The 202 body for a valid submission (job stored and queued), else None."""
        services: Services | None = getattr(scope["app"].state, "services", None)
        if services is None or services.runner is None:
            return None
        try:
            spec = JobCreate.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return None
        if check_spec(spec, services.settings):
            return None
        base = self._base(scope)
        client = scope.get("client")
        job_id = await accept_job(services, spec, client[0] if client else None)
        return accepted(base, job_id).model_dump_json().encode()

    def _base(self, scope: Scope) -> str:
        """The request's base URL as Starlette computes it (remembered per host and scheme)."""
        key = (
            scope.get("scheme"),
            tuple(scope.get("server") or ()),
            scope.get("root_path"),
            scope.get("app_root_path"),
            next((v for k, v in scope["headers"] if k == b"host"), None),
        )
        base = self._bases.get(key)
        if base is None:
            base = str(Request(scope).base_url).rstrip("/")
            if len(self._bases) >= _MAX_BASES:
                self._bases.clear()
            self._bases[key] = base
        return base


def _plain_json(scope: Scope) -> bool:
    """A JSON body with a declared length (other requests are left to FastAPI)."""
    length = content_type = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"content-type":
            content_type = value.lower()
    return length is not None and length.isdigit() and content_type in _JSON_TYPES


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then defers to the real one (disconnects)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
