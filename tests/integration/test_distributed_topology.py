"""Issue 10's topology for real: ``scripts/run-distributed.sh`` with two APIs, two workers, Flower.

A job submitted to one API process is followed over the other's WebSocket, executed by one of the
two workers, and stored once; the workers' /metrics show the upstream calls they made.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import websockets
from sqlalchemy import create_engine, text

from evapo.store.migrate import sync_url
from tests.integration.distributed_support import (
    ROOT,
    TEST_REDIS_DB,
    child_env,
    die_with_parent,
    free_port_block,
    temp_database,
    unique,
)

pytestmark = pytest.mark.integration

JOB = {"lat": -8.44, "lon": -43.86, "start": "2016-01-01", "end": "2016-12-31"}
DAYS = 366


@dataclass
class Topology:
    apis: list[str]
    worker_metrics: list[str]
    flower: str
    run_dir: Path
    database_url: str
    output: Path


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Topology]:
    run_dir = tmp_path_factory.mktemp("run-distributed")
    # One block of six free ports: APIs, the workers' metrics (base + 2 + n), Flower, fake APIs.
    base = free_port_block(6)
    api_ports = [base + 1, base + 2]
    metrics_base = base + 2
    flower_port, fake_port = base + 5, base + 6
    output = run_dir / "script.out"
    with temp_database() as db_url, output.open("wb") as out:
        env = child_env(
            RUN_DIR=str(run_dir),
            API_PORTS=" ".join(map(str, api_ports)),
            WORKERS="2",
            WORKER_CONCURRENCY="1",
            WORKER_METRICS_BASE=str(metrics_base),
            FLOWER_PORT=str(flower_port),
            FAKE_APIS="1",
            FAKE_APIS_PORT=str(fake_port),
            FAKE_DATA=str(shared_data),
            EVAPO_DATABASE_URL=db_url,
            EVAPO_REDIS_URL=f"redis://127.0.0.1:6379/{TEST_REDIS_DB}",
            EVAPO_BROKER_URL="redis://127.0.0.1:6379/14",
            EVAPO_JOB_QUEUE=unique("evapo.topology."),
        )
        proc = subprocess.Popen(
            die_with_parent(["bash", "scripts/run-distributed.sh"]),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 420
            while "run-distributed: ready" not in output.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    logs = {p.name: p.read_text()[-1500:] for p in run_dir.glob("*.log")}
                    pytest.fail(f"run-distributed did not start:\n{output.read_text()}\n{logs}")
                time.sleep(0.25)
            yield Topology(
                apis=[f"http://127.0.0.1:{p}" for p in api_ports],
                worker_metrics=[f"http://127.0.0.1:{metrics_base + n}/metrics" for n in (1, 2)],
                flower=f"http://127.0.0.1:{flower_port}",
                run_dir=run_dir,
                database_url=db_url,
                output=output,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


async def follow(ws_url: str) -> list[dict[str, Any]]:
    messages = []
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "HEARTBEAT":
                messages.append(message)
        assert ws.close_code == 1000
    return messages


@pytest.mark.timeout(600)  # start-up of 6 processes takes minutes on a busy 2-core machine
def test_job_submitted_to_one_api_is_followed_on_the_other_and_stored_once(
    topology: Topology,
) -> None:
    asyncio.run(_submit_here_follow_there(topology))


async def _submit_here_follow_there(topology: Topology) -> None:
    first, second = topology.apis
    async with httpx2.AsyncClient(timeout=30) as http:
        for api in topology.apis:
            ready = (await http.get(f"{api}/ready")).json()
            assert ready["status"] == "ok", ready
            assert ready["mode"] == "distributed"
        accepted = (await http.post(f"{first}/api/v1/jobs", json=JOB)).json()
        job_id = accepted["job_id"]
        other_ws = f"{second.replace('http://', 'ws://')}/ws/jobs/{job_id}"
        events = await follow(other_ws)
        assert events[-1]["type"] == "SUCCESS", events[-3:]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        status = (await http.get(f"{second}/api/v1/jobs/{job_id}")).json()
        assert (status["status"], status["attempts"]) == ("succeeded", 1)
        result = (await http.get(f"{second}/api/v1/jobs/{job_id}/result")).json()
        assert len(result["rows"]) == DAYS

        # Executed by exactly one of the two workers.
        logs = [(topology.run_dir / f"worker-{n}.log").read_text() for n in (1, 2)]
        started = [log.count(f'"job_id": "{job_id}", "attempt": 1') for log in logs]
        assert sorted(started) == [0, 1], started

        # Worker-side metrics (all pool processes of each worker, prometheus multiprocess).
        bodies = [(await http.get(url)).text for url in topology.worker_metrics]
        calls = [_upstream_calls(body) for body in bodies]
        assert sum(calls) >= 2, calls  # at least two sources fetched for this job
        api_metrics = (await http.get(f"{second}/metrics")).text
        assert re.search(r'evapo_jobs\{status="succeeded"\} [1-9]', api_metrics)
        flower = await http.get(topology.flower)
        assert flower.status_code == 200

    engine = create_engine(sync_url(topology.database_url))
    try:
        with engine.connect() as conn:
            rows, days = conn.execute(
                text("SELECT count(*), count(DISTINCT day) FROM job_results WHERE job_id=:j"),
                {"j": job_id},
            ).one()
    finally:
        engine.dispose()
    assert (rows, days) == (DAYS, DAYS)
    text_out = topology.output.read_text()
    for api in topology.apis:
        assert api in text_out
    assert topology.flower in text_out


def _upstream_calls(exposition: str) -> float:
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("evapo_upstream_calls_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
