"""Batch benchmark (distributed): 500 points x 30 days on 1 and on 2 Celery workers.

Starts what it needs on loopback: the fake upstream APIs (own process), a fresh migrated
PostgreSQL database, a unique Celery queue on the local broker, Redis Streams events (DB 13), and
``evapo worker --concurrency=1`` processes. Each batch is created and fanned out as the API does
(``create_batch`` + ``CeleryBatchDispatcher``) and timed from submit to its terminal event.

Runs: one cold batch (2 workers; fills the weather cache and counts upstream requests), then the
same points again warm with 1 worker and with 2 workers. Baseline: the 1-worker warm run, measured
in the same session. Targets: 2 workers >= 1.7x faster than 1; 500 x 30 warm in < 60 s.

Run: ``.venv/bin/python -m bench.batch [--points 500] [--days 30] [--data DIR]``; the last line is
``batch: 500 pts x 30 d warm 1 worker <A> s, 2 workers <B> s (<S>x), cold <C> s, <R> upstream
requests, <P> ms/point``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pandas as pd

from evapo.batches import BatchCreate, create_batch
from evapo.config import Settings
from evapo.jobs.batch_tasks import CeleryBatchDispatcher
from evapo.services import close_services, open_services
from evapo.store.batches import BatchStore
from evapo.store.migrate import upgrade_head

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "brazil-eto-validation"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
START = date(2019, 6, 1)


def bench_points(data: Path, n: int) -> list[dict[str, Any]]:
    """``n`` distinct points on small grids around the 12 cities [deg]."""
    cities = pd.read_csv(data / "cities.csv")
    out = []
    for i in range(n):
        city = cities.iloc[i % len(cities)]
        k = i // len(cities)
        lat = float(city["lat"]) + 0.15 * (k % 7) - 0.45
        lon = float(city["lon"]) + 0.15 * (k // 7) - 0.45
        out.append({"name": f"p{i:04d}", "lat": round(lat, 4), "lon": round(lon, 4)})
    return out


@contextmanager
def fake_upstream(data: Path) -> Iterator[str]:
    """The fake APIs in their own process (so they do not share a GIL with anything timed)."""
    from evapo.fakeapi.server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "evapo", "fake-apis", "--data", str(data), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx2.get(f"{url}/_control/requests", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("fake APIs did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def temp_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after."""
    import psycopg

    name = f"evapo_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Worker:
    """An ``evapo worker --concurrency=1`` process with its log in a file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evapo", "worker", "--concurrency=1", f"--hostname={name}@%h"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while " ready." not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start: see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


def upstream_requests(url: str) -> int:
    """Requests the fake upstream has answered so far."""
    return int(httpx2.get(f"{url}/_control/requests", timeout=5).json()["total"])


async def timed_batch(settings: Settings, body: BatchCreate) -> tuple[float, int, int]:
    """Submit one batch like the API does; seconds to its terminal event, points done, failed."""
    services = await open_services(settings, runner=False)
    dispatcher = CeleryBatchDispatcher(settings)
    try:
        batch_id = uuid.uuid4().hex
        t0 = time.perf_counter()
        batch = await create_batch(services, batch_id, body)
        await dispatcher.submit(batch.id, batch.n_points)
        async for event in services.events.follow(batch_id, idle_timeout_s=2):
            if event is not None and event.type in ("SUCCESS", "ERROR", "TIMEOUT"):
                break
        wall = time.perf_counter() - t0
        counts = await BatchStore(services.engine).counts(batch_id)
        return wall, counts.done, counts.failed
    finally:
        await dispatcher.stop()
        await close_services(services)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    args = parser.parse_args()
    body = BatchCreate.model_validate(
        {
            "points": bench_points(args.data, args.points),
            "start": START,
            "end": START + timedelta(days=args.days - 1),
        }
    )
    log_dir = Path(tempfile.mkdtemp(prefix="evapo-bench-batch-"))
    with fake_upstream(args.data) as upstream, temp_database() as db_url:
        upgrade_head(db_url)
        settings = Settings(
            mode="distributed",
            database_url=db_url,
            redis_url="redis://127.0.0.1:6379/13",
            broker_url=args.broker,
            job_queue=f"evapo.bench.{uuid.uuid4().hex[:8]}",
            upstream_url=upstream,
            log_level="WARNING",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVAPO_")} | {
            "EVAPO_MODE": "distributed",
            "EVAPO_DATABASE_URL": db_url,
            "EVAPO_REDIS_URL": settings.redis_url,
            "EVAPO_BROKER_URL": settings.broker_url,
            "EVAPO_JOB_QUEUE": settings.job_queue,
            "EVAPO_UPSTREAM_URL": upstream,
            "EVAPO_LOG_LEVEL": "INFO",  # the worker says " ready." at INFO
        }
        first = Worker("bench-a", env, log_dir)
        second: Worker | None = Worker("bench-b", env, log_dir)
        try:
            first.wait_ready()
            assert second is not None
            second.wait_ready()
            n = args.points
            print(f"{n} points x {args.days} days, chunks of {settings.batch_chunk_points} points")
            before = upstream_requests(upstream)
            cold, done, failed = asyncio.run(timed_batch(settings, body))
            requests = upstream_requests(upstream) - before
            print(f"cold, 2 workers: {cold:6.2f} s  ({done} done, {failed} failed)")
            print(f"  upstream requests: {requests} ({requests / n:.2f} per point)")
            second.stop()
            second = None
            before = upstream_requests(upstream)
            one, done1, _ = asyncio.run(timed_batch(settings, body))
            print(f"warm, 1 worker:  {one:6.2f} s  ({done1} done)  <- baseline")
            second = Worker("bench-b2", env, log_dir)
            second.wait_ready()
            two, done2, _ = asyncio.run(timed_batch(settings, body))
            warm_requests = upstream_requests(upstream) - before
            print(f"warm, 2 workers: {two:6.2f} s  ({done2} done)")
            print(f"  upstream requests in the warm runs: {warm_requests}")
        finally:
            first.stop()
            if second is not None:
                second.stop()
    speedup = one / two
    per_point_ms = 1000 * one / args.points
    print(f"per-point cost (1 worker, warm): {per_point_ms:.1f} ms of wall time")
    print(
        f"targets: 2 workers >= 1.7x faster: {'met' if speedup >= 1.7 else 'NOT met'} "
        f"({speedup:.2f}x); warm {n} x {args.days} < 60 s: "
        f"{'met' if min(one, two) < 60 else 'NOT met'}"
    )
    print(
        f"batch: {n} pts x {args.days} d warm 1 worker {one:.1f} s, 2 workers {two:.1f} s "
        f"({speedup:.2f}x), cold {cold:.1f} s, {requests} upstream requests, "
        f"{per_point_ms:.0f} ms/point"
    )


if __name__ == "__main__":
    main()
