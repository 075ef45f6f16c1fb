"""Limits and abuse on a real server (uvicorn in a thread, fake upstream APIs, SQLite).

Submission rate limit (429 + Retry-After), body cap (413, also for a chunked body), longest date
span (422), WebSocket cap per client (1013), no URL from any input is ever fetched.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from evapo.api.limits import TOO_MANY_SOCKETS
from evapo.api.server import run_in_thread
from evapo.client import ws_url
from evapo.config import Settings
from evapo.sources.http import reset_breakers
from tests.integration.embedded_support import embedded_settings

pytestmark = pytest.mark.integration

JOB = {"lat": -7.2295, "lon": -44.5603, "start": "2019-03-01", "end": "2019-03-07"}


def _settings(tmp: Path, fake: str, **overrides: Any) -> Settings:
    limits: dict[str, Any] = {
        "ws_heartbeat_s": 0.3,
        "region_scheduler": False,
        "max_body_bytes": 4096,
        "max_span_days": 400,
        "ws_max_per_client": 2,
        "submit_burst": 1000,
    }
    return embedded_settings(tmp, fake, **(limits | overrides))


@pytest.fixture(scope="module")
def api(fake: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_in_thread(_settings(tmp_path_factory.mktemp("limits"), fake)) as url:
        yield url


@pytest.fixture
async def http(api: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=api, timeout=30) as client:
        yield client


def test_submissions_beyond_the_burst_get_429_with_retry_after(fake: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, fake, submit_burst=3, submit_rate_per_min=6)
    with run_in_thread(settings) as url, httpx2.Client(base_url=url, timeout=30) as client:
        codes = [client.post("/api/v1/jobs", json=JOB).status_code for _ in range(3)]
        assert codes == [202, 202, 202]
        refused = client.post("/api/v1/jobs", json=JOB)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        assert "at most 6 per minute" in refused.json()["detail"]
        # Reading is never rate limited.
        assert client.get("/api/v1/jobs").status_code == 200


async def test_body_over_the_cap_is_refused_with_or_without_length(
    http: httpx2.AsyncClient,
) -> None:
    big = json.dumps(JOB | {"padding": "x" * 5000}).encode()
    answer = await http.post(
        "/api/v1/jobs", content=big, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert "at most 4096 bytes" in answer.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    chunked = await http.post(
        "/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert "too large" in chunked.json()["detail"]


async def test_date_span_over_the_limit_is_422_naming_the_field(
    http: httpx2.AsyncClient,
) -> None:
    answer = await http.post("/api/v1/jobs", json=JOB | {"start": "2015-01-01"})
    assert answer.status_code == 422
    problem = answer.json()["detail"][0]
    assert problem["loc"] == ["body", "end"]
    assert "at most 400" in problem["msg"]


async def test_websockets_per_client_are_bounded(
    api: str, fake: str, http: httpx2.AsyncClient
) -> None:
    """Two sockets on a running job are served; a third is closed with 1013 and a reason."""
    async with httpx2.AsyncClient(base_url=fake) as control:
        await control.post("/_control/faults", json={"api": "*", "mode": "slow", "delay_s": 2})
        try:
            accepted = (await http.post("/api/v1/jobs", json=JOB | {"elevation": 100})).json()
            url = ws_url(api, accepted["job_id"])
            async with connect(url, proxy=None) as one, connect(url, proxy=None) as two:
                assert json.loads(await one.recv())["job_id"] == accepted["job_id"]
                assert json.loads(await two.recv())["job_id"] == accepted["job_id"]
                async with connect(url, proxy=None) as third:
                    await third.wait_closed()
                    assert third.close_code == TOO_MANY_SOCKETS
                    assert third.close_reason is not None
                    assert "at most 2" in third.close_reason
            # Once the server has released them (a few ms after the close handshake), the
            # client may connect again.
            assert await _served_again(url) == accepted["job_id"]
        finally:
            await control.delete("/_control/faults")
            reset_breakers()


async def _served_again(url: str, attempts: int = 100) -> str:
    """Job id of the first message on a socket, retrying while the cap still refuses it."""
    for _ in range(attempts):
        async with connect(url, proxy=None) as socket:
            try:
                return str(json.loads(await socket.recv())["job_id"])
            except ConnectionClosedError as closed:
                assert closed.rcvd is not None and closed.rcvd.code == TOO_MANY_SOCKETS
        await asyncio.sleep(0.02)
    raise AssertionError(f"still refused after {attempts} attempts")


class _Sentinel(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def sentinel() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server recording every request it gets (none is expected)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentinel)
    _Sentinel.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Sentinel.hits
    finally:
        server.shutdown()
        server.server_close()


async def test_no_url_from_user_input_is_ever_fetched(
    api: str, http: httpx2.AsyncClient, sentinel: tuple[str, list[str]]
) -> None:
    """URLs put in any field of a job or batch are refused (or never used); the job runs."""
    url, hits = sentinel
    attempts = [
        ("/api/v1/jobs", JOB | {"url": url}),
        ("/api/v1/jobs", JOB | {"sources": [url]}),
        ("/api/v1/jobs", JOB | {"callback": url, "upstream_url": url}),
        ("/api/v1/batches", {"points": [{"lat": 1, "lon": 2, "url": url}], **JOB}),
    ]
    for path, body in attempts:
        answer = await http.post(path, json=body)
        assert answer.status_code == 422, (path, body, answer.text)
    answer = await http.get("/api/v1/sources", params={"lat": 1, "lon": 2, "url": url})
    assert answer.status_code == 200
    accepted = await http.post("/api/v1/jobs", json=JOB)
    assert accepted.status_code == 202
    async with connect(ws_url(api, accepted.json()["job_id"]), proxy=None) as socket:
        last: dict[str, Any] = {}
        async for raw in socket:
            last = json.loads(raw)
    assert last["type"] == "SUCCESS", last
    assert hits == []
