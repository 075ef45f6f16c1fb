"""Fault injection in distributed mode with real services.

API (uvicorn in a thread) + one ``evapo worker`` process, RabbitMQ broker (a queue unique to this
run), PostgreSQL (a fresh migrated database), fake upstream APIs. The event log runs on a private
``redis-server`` (its own port) so restarting it cannot disturb anything else using the machine's
Redis; the API reaches PostgreSQL through a TCP proxy the test can cut, as a network partition or a
restarting database would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from websockets.asyncio.client import connect

from evapo.api.server import run_in_thread
from evapo.client import ws_url
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import (
    PrivateRedis,
    WorkerProcess,
    arm_fault,
    settings_env,
    stored_rows,
    temp_database,
    unique,
)

pytestmark = pytest.mark.integration

AMQP_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
JOB = {"lat": -7.19, "lon": -48.21, "start": "2019-01-01", "end": "2019-12-31", "elevation": 227}
DAYS = 365


class TcpProxy:
    """Loopback TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones
    refused) and restored on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serve()

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Drop every connection and stop listening (connects are refused)."""
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            self._close(sock)

    def restore(self) -> None:
        """Listen again on the same port."""
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._serve()


@dataclass
class Stack:
    api: str
    upstream: str
    worker: WorkerProcess
    redis: PrivateRedis
    proxy: TcpProxy
    db_url: str
    settings: Settings


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("faults")
    redis = PrivateRedis(log_dir)
    redis.start()
    proxy = TcpProxy(5432)
    try:
        with temp_database("evapo_f_") as db_url, fake_apis(shared_data) as upstream:
            upgrade_head(db_url)
            worker_settings = Settings(
                mode="distributed",
                database_url=db_url,
                redis_url=redis.url,
                broker_url=AMQP_BROKER,
                job_queue=unique("evapo.faults."),
                upstream_url=upstream,
                job_deadline_s=120,
                ws_heartbeat_s=0.5,
            )
            via_proxy = db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            api_settings = worker_settings.model_copy(update={"database_url": via_proxy})
            worker = WorkerProcess("fw", settings_env(worker_settings), log_dir)
            try:
                worker.wait_ready()
                with run_in_thread(api_settings) as api:
                    yield Stack(api, upstream, worker, redis, proxy, db_url, api_settings)
            finally:
                worker.stop()
    finally:
        proxy.cut()
        redis.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=stack.api, timeout=60) as client:
        yield client
    async with httpx2.AsyncClient(base_url=stack.upstream) as control:
        await control.delete("/_control/faults")


async def submit(http: httpx2.AsyncClient, **override: Any) -> str:
    answer = await http.post("/api/v1/jobs", json=JOB | override)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


async def listen(api: str, job_id: str, first: asyncio.Event | None = None) -> list[dict[str, Any]]:
    """Every non-heartbeat message of the job's socket until it closes (sets ``first`` on one)."""
    out: list[dict[str, Any]] = []
    async with connect(ws_url(api, job_id), proxy=None, open_timeout=30) as socket:
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "HEARTBEAT":
                continue
            out.append(message)
            if first is not None:
                first.set()
    return out


async def test_worker_sigkilled_mid_job_is_redelivered_without_duplicate_rows(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    await arm_fault(stack.upstream, api="nasa_power", mode="slow", count=1, delay_s=4)
    job_id = await submit(http, start="2018-01-01", end="2018-12-31")
    started = asyncio.Event()
    listener = asyncio.create_task(listen(stack.api, job_id, started))
    await asyncio.wait_for(started.wait(), 60)
    pids = stack.worker.pool_pids()
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    events = await asyncio.wait_for(listener, 120)
    assert events[-1]["type"] == "SUCCESS", events[-3:]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "no duplicate, in order"
    status = (await http.get(f"/api/v1/jobs/{job_id}")).json()
    assert (status["status"], status["attempts"]) == ("succeeded", 2)
    assert await stored_rows(stack.db_url, job_id) == (DAYS, DAYS)


async def _ready(http: httpx2.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await http.get("/ready")
    return answer.status_code, dict(answer.json())


async def test_redis_restart_while_jobs_run_and_sockets_listen(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    """Redis dies with 3 jobs running and 6 sockets open: API up, /ready says so, sockets
    resume after the restart, every job ends SUCCESS with one stored result."""
    await arm_fault(stack.upstream, api="nasa_power", mode="slow", count=3, delay_s=3)
    years = (2015, 2016, 2017)
    jobs = [await submit(http, start=f"{year}-01-01", end=f"{year}-12-31") for year in years]
    firsts = [asyncio.Event() for _ in range(len(jobs) * 2)]
    listeners = [
        asyncio.create_task(listen(stack.api, job_id, firsts[2 * i + k]))
        for i, job_id in enumerate(jobs)
        for k in range(2)
    ]
    await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 60)

    stack.redis.stop()
    try:
        code, body = await _ready(http)
        assert (code, body["checks"]["events"]) == (503, False), body
        assert body["checks"]["store"] is True
        assert (await http.get("/health")).status_code == 200
    finally:
        stack.redis.start()
    for _ in range(100):
        code, body = await _ready(http)
        if code == 200:
            break
        await asyncio.sleep(0.1)
    assert code == 200, body

    results = await asyncio.wait_for(asyncio.gather(*listeners), 120)
    for i, job_id in enumerate(jobs):
        for events in results[2 * i : 2 * i + 2]:
            assert {e["job_id"] for e in events} == {job_id}
            assert events[-1]["type"] == "SUCCESS", events[-3:]
            seqs = [e["seq"] for e in events]
            assert seqs == sorted(set(seqs)), seqs
        status = (await http.get(f"/api/v1/jobs/{job_id}")).json()
        assert status["status"] == "succeeded", status
        days = 366 if years[i] % 4 == 0 else 365
        assert await stored_rows(stack.db_url, job_id) == (days, days)
        # A socket opened now replays what the restarted Redis holds, ending with the outcome.
        late = await listen(stack.api, job_id)
        assert late[-1]["type"] == "SUCCESS"


async def test_postgres_dropped_gives_503_then_recovers_without_restart(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    job_id = await submit(http, start="2014-01-01", end="2014-01-31")
    assert (await listen(stack.api, job_id))[-1]["type"] == "SUCCESS"

    # Every server-side connection of the database killed: the pool notices and reconnects.
    name = stack.db_url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert (await http.get(f"/api/v1/jobs/{job_id}")).status_code == 200

    # The database unreachable: 503 with Retry-After and a JSON reason, API still alive.
    stack.proxy.cut()
    try:
        for answer in (
            await http.get(f"/api/v1/jobs/{job_id}"),
            await http.get("/api/v1/jobs"),
            await http.post("/api/v1/jobs", json=JOB),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
            assert "database" in answer.json()["detail"]
        code, body = await _ready(http)
        assert (code, body["checks"]["store"]) == (503, False)
        assert (await http.get("/health")).status_code == 200
    finally:
        stack.proxy.restore()

    assert (await http.get(f"/api/v1/jobs/{job_id}")).status_code == 200
    assert (await _ready(http))[0] == 200
    again = await submit(http, start="2014-02-01", end="2014-02-28")
    assert (await listen(stack.api, again))[-1]["type"] == "SUCCESS"


async def test_nothing_can_serve_ends_error_saying_so(
    stack: Stack, http: httpx2.AsyncClient
) -> None:
    """Last in the module: it leaves the worker's breakers open."""
    await arm_fault(stack.upstream, api="*", mode="500")
    job_id = await submit(http, start="2013-01-01", end="2013-03-31")
    events = await listen(stack.api, job_id)
    last = events[-1]
    assert (last["type"], last["code"]) == ("ERROR", "no_source"), last
    assert "every source failed" in last["message"]
    status = (await http.get(f"/api/v1/jobs/{job_id}")).json()
    assert (status["status"], status["error"]["code"]) == ("failed", "no_source")
