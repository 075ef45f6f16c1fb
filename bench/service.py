"""Service benchmark (embedded): submit latency, event latency, POST -> SUCCESS for 1 and 30 years.

Starts what it needs on loopback: the fake upstream APIs and ``evapo serve`` (embedded, SQLite in
a temporary folder), each in its own process, then drives them as clients do (HTTP + WebSocket).

Baselines measured in the same run:
* submit latency vs ``GET /health`` under the same 50-client load (the HTTP stack's floor);
* job time vs the same pipeline run in this process without the service (no HTTP, WS, runner).

Run: ``.venv/bin/python -m bench.service [--data DIR]``; the last line is
``service: submit p99 <X> ms, event p99 <Y> ms, 1y job <Z> s, 30y job <W> s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from websockets.asyncio.client import connect

from evapo.client import ws_url

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "brazil-eto-validation"
POINT = {"lat": -7.2295, "lon": -44.5603}
ONE_YEAR = {"start": "2019-01-01", "end": "2019-12-31"}
THIRTY_YEARS = {"start": "1991-01-01", "end": "2020-12-31"}
SHORT = {"start": "2019-03-01", "end": "2019-03-07"}
CLIENTS = 50
SUBMITS_PER_CLIENT = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1.0).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


@contextmanager
def _process(args: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[int]:
    """Run ``args`` until the block ends; yields its pid once ``ready_url`` answers."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_http(ready_url)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main_thread_cpu_s(pid: int) -> float:
    """CPU time [s] the main thread of process ``pid`` has used (user + system, /proc).

    The API's main thread answers every request; embedded jobs run on other threads. Its CPU
    per request is a figure that other load on the machine barely moves, unlike latency.
    """
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def services(data: Path, workdir: Path) -> Iterator[tuple[str, str, int]]:
    """Fake APIs and ``evapo serve`` (embedded) in their own processes.

    Yields both base URLs and the API's pid.
    """
    fake_port, api_port = _free_port(), _free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    api = f"http://127.0.0.1:{api_port}"
    fake_code = (
        "import sys; from evapo.fakeapi.server import serve; "
        "serve(sys.argv[1], port=int(sys.argv[2]))"
    )
    env = dict(os.environ)
    env.update(
        EVAPO_MODE="embedded",
        EVAPO_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        EVAPO_UPSTREAM_URL=fake,
        EVAPO_LOG_LEVEL="WARNING",
        # Every simulated client shares the loopback address: lift the per-client limits.
        EVAPO_SUBMIT_RATE_PER_MIN="1000000",
        EVAPO_SUBMIT_BURST="1000000",
        EVAPO_WS_MAX_PER_CLIENT="10000",
    )
    with (
        _process(
            [sys.executable, "-c", fake_code, str(data), str(fake_port)],
            env,
            fake,
            workdir / "fake.log",
        ),
        _process(
            [sys.executable, "-m", "evapo", "serve", "--port", str(api_port)],
            env,
            f"{api}/health",
            workdir / "api.log",
        ) as api_pid,
    ):
        yield fake, api, api_pid


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def follow(api: str, job_id: str, lags: list[float]) -> dict[str, Any]:
    """Follow a job to its terminal message, recording receive time minus emit time [s].

    Only events emitted while the socket was open count (replayed ones measure the replay).
    """
    async with connect(ws_url(api, job_id), proxy=None) as ws:
        opened = time.time()
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message["type"] == "HEARTBEAT":
                continue
            if message["ts"] >= opened:
                lags.append(received - message["ts"])
            if message["type"] in ("SUCCESS", "ERROR", "TIMEOUT"):
                return dict(message)
    raise RuntimeError(f"socket of {job_id} closed without a terminal message")


async def run_job(
    http: httpx2.AsyncClient, api: str, spec: dict[str, Any], lags: list[float]
) -> float:
    """POST -> SUCCESS wall time [s] (the socket opens right after the 202)."""
    t0 = time.perf_counter()
    answer = await http.post("/api/v1/jobs", json=spec)
    answer.raise_for_status()
    final = await follow(api, answer.json()["job_id"], lags)
    if final["type"] != "SUCCESS":
        raise RuntimeError(f"bench job failed: {final}")
    return time.perf_counter() - t0


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client: costs the load generator far less CPU than httpx2,
    so the latencies measure the server, not the benchmark's own event loop."""

    def __init__(self, api: str) -> None:
        parts = urlsplit(api)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        """Send one request, read the whole answer; return the status code."""
        status, _ = await self.exchange(method, path, body)
        return status

    async def exchange(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; (status code, whole answer body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def under_load(api: str, method: str, path: str, body: bytes, expect: int) -> list[float]:
    """Latencies [s] of CLIENTS concurrent keep-alive clients, SUBMITS_PER_CLIENT calls each."""
    latencies: list[float] = []

    async def client() -> None:
        http = RawHttp(api)
        try:
            for _ in range(SUBMITS_PER_CLIENT):
                t0 = time.perf_counter()
                status = await http.request(method, path, body)
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    raise RuntimeError(f"{method} {path}: HTTP {status}, expected {expect}")
        finally:
            await http.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies


async def wait_idle(http: httpx2.AsyncClient) -> None:
    """Wait until the server has no queued or running job."""
    while True:
        jobs = (await http.get("/api/v1/jobs", params={"limit": 200})).json()["jobs"]
        if all(j["status"] not in ("queued", "running") for j in jobs):
            return
        await asyncio.sleep(0.2)


async def in_process_baseline(workdir: Path, fake: str, spec: dict[str, Any]) -> float:
    """The same pipeline run in this process with the same (warm) cache: no HTTP, WS or runner.

    Includes ``to_rows`` (as the service does before storing) but not the store itself.
    """
    from evapo.config import Settings
    from evapo.pipeline import run_pipeline
    from evapo.services import close_services, open_services
    from evapo.store.jobs import JobSpec

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}", upstream_url=fake
    )
    opened = await open_services(settings, runner=False)

    async def emit(progress: float, step: str, message: str, data: Any = None) -> None:
        return None

    try:
        t0 = time.perf_counter()
        fused = await run_pipeline(JobSpec.model_validate(spec), emit=emit, services=opened)
        fused.to_rows()
        return time.perf_counter() - t0
    finally:
        await close_services(opened)


async def bench(api: str, fake: str, workdir: Path, api_pid: int) -> str:
    """Run every measurement; return the final summary line."""
    limits = httpx2.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10)
    async with httpx2.AsyncClient(base_url=api, limits=limits, timeout=60.0) as http:
        warm_lags: list[float] = []
        for spec in (ONE_YEAR, THIRTY_YEARS, SHORT):  # fill the weather cache (cold runs)
            cold = await run_job(http, api, POINT | spec, warm_lags)
            print(f"cold {spec['start']}..{spec['end']}: {cold:.2f} s")

        lags: list[float] = []
        one_year = [await run_job(http, api, POINT | ONE_YEAR, lags) for _ in range(5)]
        thirty = [await run_job(http, api, POINT | THIRTY_YEARS, lags) for _ in range(3)]
        base_1y = min(
            [await in_process_baseline(workdir, fake, POINT | ONE_YEAR) for _ in range(3)]
        )
        base_30y = min(
            [await in_process_baseline(workdir, fake, POINT | THIRTY_YEARS) for _ in range(2)]
        )
        t1, t30 = statistics.median(one_year), statistics.median(thirty)
        print(f"1y job POST->SUCCESS median {t1:.3f} s (runs {[round(x, 3) for x in one_year]})")
        print(f"  baseline in-process pipeline {base_1y:.3f} s, ratio {t1 / base_1y:.2f}")
        print(f"30y job POST->SUCCESS median {t30:.3f} s (runs {[round(x, 3) for x in thirty]})")
        print(f"  baseline in-process pipeline {base_30y:.3f} s, ratio {t30 / base_30y:.2f}")

        await under_load(api, "GET", "/health", b"", 200)  # open and warm the connections
        cpu0 = main_thread_cpu_s(api_pid)
        health = await under_load(api, "GET", "/health", b"", 200)
        cpu1 = main_thread_cpu_s(api_pid)
        body = json.dumps(POINT | SHORT).encode()
        submits = await under_load(api, "POST", "/api/v1/jobs", body, 202)
        cpu2 = main_thread_cpu_s(api_pid)
        await wait_idle(http)
        h99, s50, s99 = pct(health, 99) * 1e3, pct(submits, 50) * 1e3, pct(submits, 99) * 1e3
        print(
            f"submit latency, {CLIENTS} clients x {SUBMITS_PER_CLIENT}: "
            f"p50 {s50:.1f} ms, p99 {s99:.1f} ms"
        )
        print(
            f"  baseline GET /health same load: p50 {pct(health, 50) * 1e3:.1f} ms, "
            f"p99 {h99:.1f} ms, ratio p99 {s99 / h99:.2f}"
        )
        cpu_submit, cpu_health = (cpu2 - cpu1) / len(submits), (cpu1 - cpu0) / len(health)
        print(
            f"  API main-thread CPU per request: submit {cpu_submit * 1e3:.2f} ms, "
            f"GET /health {cpu_health * 1e3:.2f} ms, ratio {cpu_submit / cpu_health:.2f}"
        )

        concurrent_lags: list[float] = []
        await asyncio.gather(
            *(run_job(http, api, POINT | SHORT, concurrent_lags) for _ in range(20))
        )
        lags += concurrent_lags
        e50, e99 = pct(lags, 50) * 1e3, pct(lags, 99) * 1e3
        print(
            f"event latency emit->client over {len(lags)} events: "
            f"p50 {e50:.1f} ms, p99 {e99:.1f} ms"
        )
        return (
            f"service: submit p99 {s99:.1f} ms, event p99 {e99:.1f} ms, "
            f"1y job {t1:.2f} s, 30y job {t30:.2f} s"
        )


def main() -> None:
    """Parse arguments, start the services, run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fake APIs' data folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evapo-bench-") as tmp:
        workdir = Path(os.environ.get("EVAPO_BENCH_DIR") or tmp)
        with services(args.data, workdir) as (fake, api, api_pid):
            line = asyncio.run(bench(api, fake, workdir, api_pid))
    print(line)


if __name__ == "__main__":
    main()
