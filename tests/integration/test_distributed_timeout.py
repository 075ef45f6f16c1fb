"""Distributed deadline: a job stuck on a slow upstream ends with TIMEOUT on a real worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import websockets

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as run_fake_apis
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import (
    TEST_REDIS_DB,
    WorkerProcess,
    settings_env,
    temp_database,
    unique,
)

pytestmark = pytest.mark.integration

DEADLINE_S = 3.0
JOB = {"lat": -7.19, "lon": -48.21, "start": "2016-01-01", "end": "2016-12-31"}


async def test_deadline_ends_a_stuck_job_with_timeout(tmp_path: Path, shared_data: Path) -> None:
    with temp_database() as db_url, run_fake_apis(shared_data) as upstream:
        upgrade_head(db_url)
        settings = Settings(
            mode="distributed",
            database_url=db_url,
            redis_url=f"redis://127.0.0.1:6379/{TEST_REDIS_DB}",
            broker_url="redis://127.0.0.1:6379/14",
            job_queue=unique("evapo.test.deadline."),
            upstream_url=upstream,
            job_deadline_s=DEADLINE_S,
            ws_heartbeat_s=1.0,
        )
        worker = WorkerProcess("deadline", settings_env(settings), tmp_path)
        try:
            worker.wait_ready()
            with run_in_thread(settings) as api:
                async with httpx2.AsyncClient(base_url=upstream) as control:
                    armed = await control.post(
                        "/_control/faults", json={"api": "*", "mode": "slow", "delay_s": 30}
                    )
                    assert armed.status_code < 300, armed.text
                async with httpx2.AsyncClient(base_url=api, timeout=30) as http:
                    accepted = (await http.post("/api/v1/jobs", json=JOB)).json()
                    messages: list[dict[str, Any]] = []
                    async with websockets.connect(accepted["ws_url"], open_timeout=10) as ws:
                        async for raw in ws:
                            message = json.loads(raw)
                            if message["type"] != "HEARTBEAT":
                                messages.append(message)
                        code = ws.close_code
                    status = (await http.get(accepted["status_url"])).json()
        finally:
            worker.stop()
    assert code == 1000
    last = messages[-1]
    assert last["type"] == "TIMEOUT"
    assert f"{DEADLINE_S:g} s" in last["message"]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert status["status"] == "timed_out"
    assert status["error"]["code"] == "timeout"
    assert status["result_url"] is None
