"""Distributed mode: the per-client limits are shared by API processes through the real Redis.

Two API servers (uvicorn in threads) on one PostgreSQL database and one Redis, as behind a load
balancer: a client's submissions and open sockets count once whichever server they reach; the
sockets of a process that died stop counting when their leases run out; without Redis each
process falls back to its own counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass

import httpx2
import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from evapo.api.limits import LIMITS_PREFIX, TOO_MANY_SOCKETS, SharedLimits
from evapo.api.server import run_in_thread
from evapo.client import ws_url
from evapo.config import Settings
from evapo.store.db import make_engine
from evapo.store.jobs import JobSpec, JobStore
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import (
    TEST_REDIS_DB,
    free_port,
    temp_database,
    unique,
)

pytestmark = pytest.mark.integration

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
SPEC = {"lat": -7.19, "lon": -48.21, "start": "2019-01-01", "end": "2019-01-31"}
MAX_SOCKETS = 3
BURST = 4
RATE_PER_MIN = 6


@dataclass
class Pair:
    """Two API servers of one installation, and the ids of jobs that stay queued."""

    a: str
    b: str
    jobs: list[str]
    namespace: str


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    namespace = unique("evapo.limits.")
    with temp_database() as db_url:
        upgrade_head(db_url)
        jobs = asyncio.run(_queued_jobs(db_url, 2))
        settings = Settings(
            mode="distributed",
            database_url=db_url,
            redis_url=REDIS_URL,
            broker_url="redis://127.0.0.1:6379/14",
            job_queue=namespace,  # no worker: the jobs above stay queued
            ws_heartbeat_s=0.2,
            ws_max_per_client=MAX_SOCKETS,
            submit_burst=BURST,
            submit_rate_per_min=RATE_PER_MIN,
        )
        with ExitStack() as stack:
            a = stack.enter_context(run_in_thread(settings))
            b = stack.enter_context(run_in_thread(settings))
            yield Pair(a, b, jobs, namespace)
        asyncio.run(_forget(namespace))


async def _queued_jobs(db_url: str, n: int) -> list[str]:
    engine = make_engine(db_url)
    store = JobStore(engine)
    try:
        ids = [unique("lim") for _ in range(n)]
        for job_id in ids:
            await store.create(job_id, JobSpec.model_validate(SPEC))
        return ids
    finally:
        await store.close()
        await engine.dispose()


async def _forget(namespace: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(f"{LIMITS_PREFIX}{namespace}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _heartbeat(socket: ClientConnection) -> dict[str, object]:
    """The socket's next message: it is open and served."""
    return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))


async def _refused(url: str) -> tuple[int | None, str | None]:
    """Open a socket that the server is expected to close at once: (code, reason)."""
    async with connect(url, proxy=None) as socket:
        await asyncio.wait_for(socket.wait_closed(), 10)
        return socket.close_code, socket.close_reason


async def _served_again(url: str, attempts: int = 100) -> dict[str, object]:
    """First message of a socket, retrying while the cap still counts a socket just closed
    (its server releases it once its handler has finished)."""
    for _ in range(attempts):
        async with connect(url, proxy=None) as socket:
            try:
                return await _heartbeat(socket)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == TOO_MANY_SOCKETS
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} still refused after {attempts} attempts")


async def test_submission_rate_is_shared_by_the_two_processes(pair: Pair) -> None:
    async with (
        httpx2.AsyncClient(base_url=pair.a, timeout=30) as a,
        httpx2.AsyncClient(base_url=pair.b, timeout=30) as b,
    ):
        # Every POST counts, valid or not: these are refused 422 (no job, nothing queued).
        codes = [(await (a, b)[i % 2].post("/api/v1/jobs", json={})).status_code for i in range(4)]
        assert codes == [422] * BURST
        for server in (a, b):
            refused = await server.post("/api/v1/jobs", json={})
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60 / RATE_PER_MIN
            assert f"at most {RATE_PER_MIN:g} per minute" in refused.json()["detail"]


async def test_open_sockets_are_counted_across_the_two_processes(pair: Pair) -> None:
    a_url, b_url = (ws_url(server, pair.jobs[0]) for server in (pair.a, pair.b))
    async with AsyncExitStack() as stack:
        held = [
            await stack.enter_async_context(connect(url, proxy=None))
            for url in (a_url, a_url, b_url)
        ]
        for socket in held:
            assert (await _heartbeat(socket))["type"] == "HEARTBEAT"
        for url in (a_url, b_url):
            code, reason = await _refused(url)
            assert code == TOO_MANY_SOCKETS
            assert f"at most {MAX_SOCKETS}" in reason
        await held[0].close()
        assert (await _served_again(b_url))["type"] == "HEARTBEAT"


def _shared(namespace: str, lease_s: float, url: str = REDIS_URL) -> SharedLimits:
    return SharedLimits(url, 60.0, 5, 2, namespace=namespace, lease_s=lease_s)


async def test_sockets_of_a_crashed_process_stop_counting_when_their_leases_run_out() -> None:
    namespace = unique("evapo.crash.")
    crashed, alive, other = (_shared(namespace, 0.6) for _ in range(3))
    try:
        assert await alive.open_socket("10.0.0.1") is not None
        assert await crashed.open_socket("10.0.0.1") is not None
        await crashed.aclose()  # gone without releasing its socket: no renewal either
        assert await other.open_socket("10.0.0.1") is None
        # Three leases later: the live process renewed its socket, the crashed one's ran out.
        await asyncio.sleep(1.8)
        assert await other.open_socket("10.0.0.1") is not None
        assert await other.open_socket("10.0.0.1") is None
    finally:
        for limits in (alive, other):
            await limits.aclose()
        await _forget(namespace)


async def test_a_burst_of_sockets_larger_than_the_pool_is_counted_exactly() -> None:
    """120 sockets of one client at once through 4 connections: exactly the cap gets in."""
    namespace = unique("evapo.burst.")
    limits = SharedLimits(REDIS_URL, 60.0, 5, 50, namespace=namespace, max_connections=4)
    try:
        with capture_logs() as logs:
            tokens = await asyncio.gather(*(limits.open_socket("10.0.0.3") for _ in range(120)))
        assert sum(t is not None for t in tokens) == 50
        assert not [e for e in logs if e["event"] == "limits_redis_unavailable"], logs[:3]
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await client.zcard(f"{LIMITS_PREFIX}{namespace}:ws:10.0.0.3") == 50
        finally:
            await client.aclose()
    finally:
        await limits.aclose()
        await _forget(namespace)


async def test_without_redis_each_process_falls_back_to_its_own_counts() -> None:
    limits = SharedLimits(f"redis://127.0.0.1:{free_port()}/0", 60.0, 2, 1, timeout_s=0.2)
    try:
        with capture_logs() as logs:
            waits = [await limits.take_submission("10.0.0.2") for _ in range(3)]
            token = await limits.open_socket("10.0.0.2")
            assert await limits.open_socket("10.0.0.2") is None
        assert waits[:2] == [0.0, 0.0]
        assert waits[2] > 0
        assert token is not None
        await limits.close_socket("10.0.0.2", token)
        assert await limits.open_socket("10.0.0.2") is not None
        warnings = [e for e in logs if e["event"] == "limits_redis_unavailable"]
        assert len(warnings) == 1, logs
    finally:
        await limits.aclose()
