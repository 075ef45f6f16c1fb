"""Jobs accepted lately by an API process: sockets opening on them skip the store read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx2
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from evapo.api.app import create_app
from evapo.api.server import run_in_thread
from evapo.client import ws_url
from evapo.config import Settings
from evapo.jobs.recent import RecentJobs


def test_remembers_the_last_capacity_ids() -> None:
    recent = RecentJobs(3)
    for job_id in ("a", "b", "c", "d"):
        recent.add(job_id)
    assert "a" not in recent
    assert all(job_id in recent for job_id in ("b", "c", "d"))
    recent.add("b")  # accepted again: newest now
    recent.add("e")
    assert "c" not in recent and "b" in recent and len(recent) == 3


def test_forgets_after_max_age() -> None:
    recent = RecentJobs(10, max_age_s=0.05)
    recent.add("a")
    assert "a" in recent
    time.sleep(0.08)
    assert "a" not in recent
    assert 42 not in recent


@pytest.mark.parametrize(("capacity", "age"), [(0, 1.0), (5, 0.0)])
def test_bad_arguments_are_refused(capacity: int, age: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RecentJobs(capacity, max_age_s=age)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('recent') / 'api.db'}",
        upstream_url="http://127.0.0.1:9",
        ws_heartbeat_s=0.1,
    )
    app = create_app(settings, dashboard=False)
    with run_in_thread(settings, app=app) as base_url:
        yield base_url, app


async def test_submissions_are_remembered_and_skip_the_store_read(
    served: tuple[str, FastAPI],
) -> None:
    api, app = served
    recent: RecentJobs = app.state.services.recent_jobs
    async with httpx2.AsyncClient(base_url=api) as http:
        body = {"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-01-31"}
        job_id = (await http.post("/api/v1/jobs", json=body)).json()["job_id"]
    assert job_id in recent
    # Not in the store and nothing logged: an unknown job closes 4404 after the store read ...
    async with connect(ws_url(api, "ghost-1"), proxy=None) as socket:
        with pytest.raises(ConnectionClosedError):
            await socket.recv()
    assert socket.close_code == 4404
    # ... a remembered one is followed without that read: it idles, waiting for its events.
    recent.add("ghost-2")
    async with connect(ws_url(api, "ghost-2"), proxy=None) as socket:
        assert json.loads(await socket.recv())["type"] == "HEARTBEAT"
