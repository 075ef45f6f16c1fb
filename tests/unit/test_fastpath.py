"""The submission fast path: same answers as FastAPI's route, errors left to the route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from evapo.api.app import create_app
from evapo.api.fastpath import SubmitFastPath
from evapo.config import Settings
from tests.unit.test_api import INVALID, VALID

PLAIN = {"content-type": "application/json"}
ROUTE_ONLY = {"content-type": "application/vnd.evapo+json"}  # JSON to FastAPI, not fast-pathed


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fast') / 'api.db'}",
        upstream_url="http://127.0.0.1:9",  # nothing listens: the jobs themselves fail
        max_span_days=400,
        submit_rate_per_min=1_000_000,
        submit_burst=1_000_000,
    )
    with TestClient(create_app(settings, dashboard=False)) as test_client:
        yield test_client


def _job_ids(client: TestClient) -> set[str]:
    return {job["job_id"] for job in client.get("/api/v1/jobs?limit=200").json()["jobs"]}


def _post(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/api/v1/jobs", content=body, headers=headers)


def test_valid_submission_answers_as_the_route_does(client: TestClient) -> None:
    body = json.dumps(VALID).encode()
    fast, routed = _post(client, body, PLAIN), _post(client, body, ROUTE_ONLY)
    assert fast.status_code == routed.status_code == 202
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    a, b = fast.json(), routed.json()
    assert list(a) == list(b) == ["job_id", "status_url", "ws_url", "result_url"]
    assert a["job_id"] != b["job_id"]
    for answer in (a, b):
        job_id = answer["job_id"]
        assert answer["status_url"] == f"http://testserver/api/v1/jobs/{job_id}"
        assert answer["ws_url"] == f"ws://testserver/ws/jobs/{job_id}"
        assert answer["result_url"] == f"http://testserver/api/v1/jobs/{job_id}/result"
        stored = client.get(f"/api/v1/jobs/{job_id}").json()
        assert stored["spec"]["lat"] == VALID["lat"] and stored["spec"]["end"] == VALID["end"]


@pytest.mark.parametrize(("change", "field", "why"), INVALID)
def test_invalid_submission_gets_the_routes_422(
    client: TestClient, change: dict[str, object], field: str, why: str
) -> None:
    before = _job_ids(client)
    body = json.dumps(VALID | change).encode()
    fast, routed = _post(client, body, PLAIN), _post(client, body, ROUTE_ONLY)
    assert fast.status_code == routed.status_code == 422
    assert fast.json() == routed.json()
    assert any(e["loc"][-1] == field and why in e["msg"] for e in fast.json()["detail"])
    assert _job_ids(client) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"lat": NaN}', b""])
def test_bodies_that_are_not_a_job_get_the_routes_answer(client: TestClient, body: bytes) -> None:
    fast, routed = _post(client, body, PLAIN), _post(client, body, ROUTE_ONLY)
    assert fast.status_code == routed.status_code == 422
    assert fast.json() == routed.json()


def test_a_body_without_length_still_submits(client: TestClient) -> None:
    chunks = iter([json.dumps(VALID)[:20].encode(), json.dumps(VALID)[20:].encode()])
    answer = client.post("/api/v1/jobs", content=chunks, headers=PLAIN)  # chunked
    assert answer.status_code == 202, answer.text


class _Recorder:
    """A downstream ASGI app recording what reached it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, body_parts: list[bytes], *, path: str = "/api/v1/jobs") -> list[Any]:
    parts = [
        {"type": "http.request", "body": p, "more_body": i < len(body_parts) - 1}
        for i, p in enumerate(body_parts)
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    length = str(sum(len(p) for p in body_parts)).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
        "app": type("App", (), {"state": type("State", (), {"services": None})()})(),
    }
    await app(scope, receive, send)
    return sent


async def test_without_a_runner_the_request_goes_on_whole() -> None:
    downstream = _Recorder()
    sent = await _call(SubmitFastPath(downstream), [b'{"lat": 1', b', "lon": 2}'])
    assert downstream.bodies == [b'{"lat": 1, "lon": 2}']  # both chunks, replayed as one
    assert sent[0]["status"] == 299


async def test_other_paths_are_not_read() -> None:
    downstream = _Recorder()
    await _call(SubmitFastPath(downstream), [b"abc"], path="/api/v1/batches")
    assert downstream.bodies == [b"abc"]


FIRST_SUBMISSION = """
import json, sys, tempfile
from fastapi.testclient import TestClient
from evapo.api.app import create_app
from evapo.config import Settings

db = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/first.db"
app = create_app(Settings(database_url=db, upstream_url="http://127.0.0.1:9"), dashboard=False)
assert "evapo.sources" not in sys.modules
with TestClient(app) as client:
    before = set(sys.modules)
    body = {"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-01-31"}
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    print("IMPORTED", json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_first_submission_imports_nothing() -> None:
    """Start-up imports what a submission needs (it cost the first client ~0.2 s)."""
    import subprocess
    import sys

    args = [sys.executable, "-c", FIRST_SUBMISSION]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    marked = [line for line in done.stdout.splitlines() if line.startswith("IMPORTED ")]
    assert marked, done.stdout[-2000:]
    assert json.loads(marked[-1].removeprefix("IMPORTED ")) == []


NO_SPANS = """
import tempfile
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, TracerProvider

started: list[str] = []


class Recording(NoOpTracer):
    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return super().start_as_current_span(name, *args, **kwargs)


class Provider(TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return Recording()


trace.set_tracer_provider(Provider())
from fastapi import FastAPI
from fastapi.testclient import TestClient

from evapo.api.app import create_app
from evapo.config import Settings

plain = FastAPI()


@plain.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


with TestClient(plain) as client:
    client.get("/health")
print("PLAIN", len(started))
started.clear()
db = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/spans.db"
app = create_app(Settings(database_url=db, upstream_url="http://127.0.0.1:9"), dashboard=False)
with TestClient(app) as client:
    client.get("/health")
print("EVAPO", len(started))
"""


def test_fastapis_own_telemetry_is_off() -> None:
    """With an OpenTelemetry tracer set up, a bare FastAPI app traces requests; Evapo's does not
    (it looked the providers up on every request; Evapo serves Prometheus /metrics instead)."""
    import subprocess
    import sys

    args = [sys.executable, "-c", NO_SPANS]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = dict(
        line.split() for line in done.stdout.splitlines() if line.startswith(("PLAIN", "EVAPO"))
    )
    assert int(counts["PLAIN"]) > 0  # the recording tracer does see FastAPI's spans
    assert int(counts["EVAPO"]) == 0
