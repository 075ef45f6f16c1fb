"""Load benchmark: many sockets on concurrent jobs, then 1,000 submissions in bursts, per mode.

For each mode it starts what it needs on loopback (fake upstream APIs, ``evapo serve``, and in
distributed mode an ``evapo worker`` on RabbitMQ + Redis Streams + a fresh PostgreSQL database):

1. ``JOBS`` jobs at once, each followed by ``CLIENTS_PER_JOB`` WebSocket clients (200 sockets);
2. ``BURSTS`` bursts of ``BURST`` concurrent submissions (1,000 jobs), every job then followed
   to its end by one socket (at most ``FOLLOWERS`` open at once).

Every socket must receive each of its job's events exactly once (seq 1..N, N = the terminal
event's seq): ``lost`` counts missing seqs, ``duplicates`` repeated ones, ``errors`` any non-202
submission, socket failure or job that did not succeed. Event latency is receive time minus the
event's ``ts`` for live events (emitted after the socket opened). Memory per job is the growth of
the serving processes' resident memory over the run divided by the jobs run. The per-client
limits are lifted (every simulated client shares 127.0.0.1).

Run: ``.venv/bin/python -m bench.load [--modes embedded,distributed]``; the last line is
``load: clients <C>, jobs <J>, lost <L>, duplicates <D>, errors <E>, event p99 <P> ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.service import DEFAULT_DATA, RawHttp, _free_port, _process, pct
from evapo.client import ws_url

POINT = {"lat": -7.2295, "lon": -44.5603, "elevation": 380}
JOB_SPAN = {"start": "2019-01-01", "end": "2019-12-31"}
BURST_SPAN = {"start": "2019-03-01", "end": "2019-03-14"}
JOBS = 20
CLIENTS_PER_JOB = 10
BURSTS = 10
BURST = 100
FOLLOWERS = 200
PHASE_TIMEOUT_S = 600.0
TERMINAL = ("SUCCESS", "ERROR", "TIMEOUT")
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Tally:
    """What the clients saw, for one mode."""

    clients: int = 0
    jobs: int = 0
    expected: int = 0
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    errors: int = 0
    lags: list[float] = field(default_factory=list)
    steady: list[float] = field(default_factory=list)
    """Lags of events emitted after the socket's first message (the server is following)."""
    submits: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        """Count one error; keep the first few descriptions."""
        self.errors += 1
        if len(self.problems) < 10:
            self.problems.append(what)


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children [KiB] (0 once gone)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(p) for p in path.read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


async def follow(api: str, job_id: str, tally: Tally, *, submitted: bool = True) -> None:
    """One client: every event of the job once; record lags of live events."""
    seqs: list[int] = []
    final: dict[str, Any] | None = None
    try:
        async with connect(ws_url(api, job_id), proxy=None, open_timeout=60) as socket:
            opened = time.time()
            first: float | None = None
            async for raw in socket:
                now = time.time()
                message = json.loads(raw)
                if message["type"] == "HEARTBEAT":
                    continue
                seqs.append(int(message["seq"]))
                if message["ts"] >= opened:
                    tally.lags.append(now - message["ts"])
                if first is not None and message["ts"] >= first:
                    tally.steady.append(now - message["ts"])
                first = now if first is None else first
                if message["type"] in TERMINAL:
                    final = message
    except (OSError, TimeoutError) as exc:
        tally.error(f"socket {job_id}: {type(exc).__name__}: {exc}")
        return
    tally.clients += 1
    if final is None:
        tally.error(f"socket {job_id} closed without a terminal event")
        return
    expected = int(final["seq"])
    unique = set(seqs)
    tally.expected += expected
    tally.received += len(seqs)
    tally.lost += len(set(range(1, expected + 1)) - unique)
    tally.duplicates += len(seqs) - len(unique)
    if final["type"] != "SUCCESS" and submitted:
        tally.error(f"job {job_id} ended {final['type']}: {final.get('message')}")


async def submit(http: JsonHttp, body: bytes, tally: Tally) -> str | None:
    """POST one job on a keep-alive connection; its id, or None (counted as an error)."""
    t0 = time.perf_counter()
    status, answer = await http.request_json("POST", "/api/v1/jobs", body)
    tally.submits.append(time.perf_counter() - t0)
    if status != 202:
        tally.error(f"submit: HTTP {status} {str(answer)[:200]}")
        return None
    tally.jobs += 1
    return str(answer["job_id"])


class JsonHttp(RawHttp):
    """:class:`bench.service.RawHttp` that also returns the decoded JSON answer."""

    async def request_json(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        """Send one request; (status, decoded JSON body)."""
        status, payload = await self.exchange(method, path, body)
        return status, json.loads(payload) if payload else None


async def phase_sockets(api: str, tally: Tally) -> None:
    """JOBS jobs at once, CLIENTS_PER_JOB sockets on each."""
    body = json.dumps(POINT | JOB_SPAN).encode()
    conns = [JsonHttp(api) for _ in range(JOBS)]
    try:
        ids = await asyncio.gather(*(submit(c, body, tally) for c in conns))
    finally:
        for c in conns:
            await c.close()
    followers = [follow(api, j, tally) for j in ids if j for _ in range(CLIENTS_PER_JOB)]
    await asyncio.wait_for(asyncio.gather(*followers), PHASE_TIMEOUT_S)


async def phase_bursts(api: str, tally: Tally) -> None:
    """BURSTS bursts of BURST concurrent submissions; every job followed to its end."""
    body = json.dumps(POINT | BURST_SPAN).encode()
    gate = asyncio.Semaphore(FOLLOWERS)
    followers: list[asyncio.Task[None]] = []

    async def bounded(job_id: str) -> None:
        async with gate:
            await follow(api, job_id, tally)

    conns = [JsonHttp(api) for _ in range(BURST)]
    try:
        for _ in range(BURSTS):
            ids = await asyncio.gather(*(submit(c, body, tally) for c in conns))
            followers += [asyncio.create_task(bounded(j)) for j in ids if j]
    finally:
        for c in conns:
            await c.close()
    await asyncio.wait_for(asyncio.gather(*followers), PHASE_TIMEOUT_S)


async def run_mode(api: str, pids: list[int]) -> Tally:
    """Both phases against one running service."""
    tally = Tally()
    warm = Tally()  # fill the weather cache once (not counted)
    await phase_cache_warm(api, warm)
    before = sum(rss_kib(p) for p in pids)
    t0 = time.perf_counter()
    await phase_sockets(api, tally)
    n_phase1 = len(tally.lags)
    t1 = time.perf_counter()
    await phase_bursts(api, tally)
    t2 = time.perf_counter()
    grown = sum(rss_kib(p) for p in pids) - before
    print(f"  sockets phase {t1 - t0:.1f} s, bursts phase {t2 - t1:.1f} s")
    per_job = grown / max(tally.jobs, 1)
    print(f"  memory: +{grown / 1024:.1f} MiB over {tally.jobs} jobs = {per_job:.1f} KiB/job")
    phase1 = pct(tally.lags[:n_phase1], 99) * 1e3 if n_phase1 else float("nan")
    phase2 = pct(tally.lags[n_phase1:], 99) * 1e3 if len(tally.lags) > n_phase1 else float("nan")
    print(f"  event p99: sockets phase {phase1:.1f} ms, bursts phase {phase2:.1f} ms")
    return tally


async def phase_cache_warm(api: str, tally: Tally) -> None:
    """One job per span so later jobs read the weather cache (the load is on the service)."""
    http = JsonHttp(api)
    try:
        for span in (JOB_SPAN, BURST_SPAN):
            job_id = await submit(http, json.dumps(POINT | span).encode(), tally)
            if job_id is None:
                raise RuntimeError(f"warm-up submission failed: {tally.problems}")
            await follow(api, job_id, tally)
    finally:
        await http.close()
    if tally.errors:
        raise RuntimeError(f"warm-up failed: {tally.problems}")


def report(mode: str, tally: Tally) -> None:
    """Print one mode's figures."""
    s99 = pct(tally.submits, 99) * 1e3 if tally.submits else float("nan")
    e50 = pct(tally.lags, 50) * 1e3 if tally.lags else float("nan")
    e99 = pct(tally.lags, 99) * 1e3 if tally.lags else float("nan")
    print(f"{mode}: {tally.clients} sockets on {tally.jobs} jobs")
    print(f"  submit p99 {s99:.1f} ms over {len(tally.submits)} submissions")
    print(f"  event latency p50 {e50:.1f} ms, p99 {e99:.1f} ms over {len(tally.lags)} live events")
    if tally.steady:
        st99 = pct(tally.steady, 99) * 1e3
        print(
            f"  of which after the socket's first message: p99 {st99:.1f} ms ({len(tally.steady)})"
        )
    print(
        f"  messages expected {tally.expected}, received {tally.received}, "
        f"lost {tally.lost}, duplicates {tally.duplicates}, errors {tally.errors}"
    )
    for problem in tally.problems:
        print(f"  error: {problem}")


LIFTED = {
    "EVAPO_SUBMIT_RATE_PER_MIN": "1000000",
    "EVAPO_SUBMIT_BURST": "1000000",
    "EVAPO_WS_MAX_PER_CLIENT": "100000",
    "EVAPO_LOG_LEVEL": "WARNING",
    "EVAPO_MAX_CONCURRENT_JOBS": "8",
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVAPO_")}
    return env | LIFTED | extra


@contextmanager
def fake_apis(data: Path, workdir: Path) -> Iterator[str]:
    """The fake upstream in its own process; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    code = (
        "import sys; from evapo.fakeapi.server import serve; "
        "serve(sys.argv[1], port=int(sys.argv[2]))"
    )
    with _process(
        [sys.executable, "-c", code, str(data), str(port)], _env(), url, workdir / "fake.log"
    ):
        yield url


@contextmanager
def api_process(env: dict[str, str], workdir: Path) -> Iterator[tuple[str, int]]:
    """``evapo serve`` in its own process; yields (URL, pid)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "evapo", "serve", "--port", str(port)]
    with _process(args, env, f"{url}/health", workdir / "api.log") as pid:
        yield url, pid


@contextmanager
def embedded(data: Path, workdir: Path) -> Iterator[tuple[str, list[int]]]:
    """Embedded mode: fake + one API process (SQLite in ``workdir``)."""
    with fake_apis(data, workdir) as fake:
        env = _env(
            EVAPO_MODE="embedded",
            EVAPO_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'load.db'}",
            EVAPO_UPSTREAM_URL=fake,
            EVAPO_REGION_SCHEDULER="false",
        )
        with api_process(env, workdir) as (api, pid):
            yield api, [pid]


@contextmanager
def distributed(data: Path, workdir: Path) -> Iterator[tuple[str, list[int]]]:
    """Distributed mode: fake + API + one worker (2 pool processes), RabbitMQ, Redis, PostgreSQL."""
    import psycopg

    from evapo.store.migrate import upgrade_head

    name = f"evapo_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade_head(db_url)
        with ExitStack() as stack:
            fake = stack.enter_context(fake_apis(data, workdir))
            env = _env(
                EVAPO_MODE="distributed",
                EVAPO_DATABASE_URL=db_url,
                EVAPO_REDIS_URL="redis://127.0.0.1:6379/12",
                EVAPO_BROKER_URL=AMQP,
                EVAPO_JOB_QUEUE=f"evapo.load.{uuid.uuid4().hex[:8]}",
                EVAPO_UPSTREAM_URL=fake,
            )
            log = (workdir / "worker.log").open("wb")
            stack.callback(log.close)
            worker = subprocess.Popen(
                [sys.executable, "-m", "evapo", "worker", "--concurrency=2"],
                env=env | {"EVAPO_LOG_LEVEL": "INFO"},  # Celery's "ready." line is INFO
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, worker)
            _wait_worker(workdir / "worker.log", worker)
            api, pid = stack.enter_context(api_process(env, workdir))
            yield api, [pid, worker.pid]
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_worker(log: Path, proc: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
        if " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError("worker not ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    """Run the chosen modes; print per-mode figures and the summary line last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fake APIs' data folder")
    parser.add_argument("--modes", default="embedded,distributed", help="comma-separated modes")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"embedded", "distributed"}
    if unknown:
        parser.error(f"--modes: unknown {sorted(unknown)}; expected embedded and/or distributed")
    total = Tally()
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"evapo-load-{mode}-") as tmp:
            start = embedded if mode == "embedded" else distributed
            with start(args.data, Path(tmp)) as (api, pids):
                plan = f"{JOBS} jobs x {CLIENTS_PER_JOB} sockets, then {BURSTS} x {BURST} submits"
                print(f"{mode}: {plan}")
                tally = asyncio.run(run_mode(api, pids))
        report(mode, tally)
        for name in ("clients", "jobs", "expected", "received", "lost", "duplicates", "errors"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        total.lags += tally.lags
        total.submits += tally.submits
    p99 = pct(total.lags, 99) * 1e3 if total.lags else float("nan")
    print(
        f"load: clients {total.clients}, jobs {total.jobs}, lost {total.lost}, "
        f"duplicates {total.duplicates}, errors {total.errors}, event p99 {p99:.1f} ms"
    )


if __name__ == "__main__":
    main()
