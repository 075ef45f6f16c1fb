"""The job WebSocket's edge cases, in-process (TestClient, embedded services)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from evapo.api.app import create_app
from evapo.config import Settings
from evapo.events.messages import Progress
from evapo.services import Services
from evapo.store.jobs import JobSpec, JobStatus

SPEC = {"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-01-31"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}",
        upstream_url="http://127.0.0.1:9",  # nothing listens: no job is run by these tests
        ws_heartbeat_s=0.2,
    )
    with TestClient(create_app(settings, dashboard=False)) as test_client:
        yield test_client


def _call(client: TestClient, fn: Any, *args: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(fn, *args)


def test_job_that_ended_without_its_terminal_event_ends_the_open_socket(
    client: TestClient,
) -> None:
    """The job's process marked it failed but its ERROR never reached the log (it died in
    between): the socket following it still gets the outcome, at its next heartbeat tick."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    _call(client, services.store.create, "stuck", JobSpec.model_validate(SPEC))
    _call(client, services.store.claim, "stuck")
    step = Progress(job_id="stuck", progress=10, step="validate", message="checked")
    _call(client, services.events.append, step)
    with client.websocket_connect("/ws/jobs/stuck") as ws:
        assert ws.receive_json()["step"] == "validate"

        async def fail_silently() -> None:
            await services.store.finish("stuck", JobStatus.FAILED, error_code="x", message="died")

        _call(client, fail_silently)
        received = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                received.append(ws.receive_json())
    assert closed.value.code == 1000
    assert [m["type"] for m in received if m["type"] != "HEARTBEAT"] == ["ERROR"]
    assert (received[-1]["seq"], received[-1]["message"]) == (2, "died")


def test_finished_job_is_replayed_from_the_log_alone(client: TestClient) -> None:
    """A job whose log ends with its terminal event is served from the log (replay, close)."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    _call(client, services.store.create, "done", JobSpec.model_validate(SPEC))
    for n in (1, 2):
        step = Progress(job_id="done", progress=n, step=f"s{n}", message="m")
        _call(client, services.events.append, step)

    async def finish() -> None:
        from evapo.pipeline import ensure_terminal_event

        await services.store.finish("done", JobStatus.FAILED, error_code="x", message="over")
        job = await services.store.get("done")
        assert job is not None
        await ensure_terminal_event(job, services)

    _call(client, finish)
    with client.websocket_connect("/ws/jobs/done?after=1") as ws:
        got = [ws.receive_json(), ws.receive_json()]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert [(m["type"], m["seq"]) for m in got] == [("PROGRESS", 2), ("ERROR", 3)]
    assert closed.value.code == 1000
