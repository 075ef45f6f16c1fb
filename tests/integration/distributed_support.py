"""Helpers for the distributed-mode integration tests: real Redis, PostgreSQL, processes."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text

from evapo.store.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/evapo_test"
TEST_REDIS_DB = 15


def die_with_parent(argv: list[str]) -> list[str]:
    """``argv`` run so the child gets SIGTERM if the test process dies (no orphaned workers)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def free_port() -> int:
    """An unused TCP port on loopback (below the ephemeral range: see ``free_port_block``)."""
    return free_port_block(1) + 1


def free_port_block(count: int) -> int:
    """A base port whose ``count`` next ports (base + 1 .. base + count) are all unused now.

    Chosen below Linux's ephemeral range (32768+), where outgoing connections take their local
    ports: there only a listener could claim one before the child binds it.
    """
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - count)
        with ExitStack() as held:
            try:
                for port in range(base + 1, base + count + 1):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no block of {count} free ports found")


def wait_port(
    port: int, *, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until something listens on ``port`` (fail early if ``proc`` exits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before opening port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


def unique(prefix: str) -> str:
    """A name no other test run uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class PrivateRedis:
    """A throw-away redis-server on its own port, to stop and restart without touching others."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    """Run a private redis-server for the duration of the block."""
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: this one's, minus stray EVAPO_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVAPO_")}
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def pg_url(database: str) -> str:
    """SQLAlchemy async URL of a database on the local PostgreSQL."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


@contextmanager
def temp_database(prefix: str = "evapo_e_") -> Iterator[str]:
    """Create a fresh PostgreSQL database for the block; yield its async URL; drop it after."""
    import psycopg

    name = unique(prefix)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_env(settings: object) -> dict[str, str]:
    """``EVAPO_*`` variables reproducing the given settings' distributed-mode fields in a child."""
    from evapo.config import Settings

    assert isinstance(settings, Settings)
    env = {
        "EVAPO_MODE": settings.mode,
        "EVAPO_DATABASE_URL": settings.database_url,
        "EVAPO_REDIS_URL": settings.redis_url,
        "EVAPO_BROKER_URL": settings.broker_url,
        "EVAPO_JOB_QUEUE": settings.job_queue,
        "EVAPO_JOB_DEADLINE_S": str(settings.job_deadline_s),
        "EVAPO_LOG_LEVEL": settings.log_level,
        "EVAPO_LOG_JSON": "true",
    }
    if settings.upstream_url:
        env["EVAPO_UPSTREAM_URL"] = settings.upstream_url
    return env


class WorkerProcess:
    """An ``evapo worker`` subprocess with its log in a file."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_dir: Path,
        *,
        concurrency: int = 1,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"worker-{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            die_with_parent(
                [
                    sys.executable,
                    "-m",
                    "evapo",
                    "worker",
                    f"--concurrency={concurrency}",
                    f"--hostname={name}@%h",
                ]
            ),
            cwd=ROOT,
            env=child_env(**env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait for Celery's 'ready' line (fail early if the worker exits)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log_text()[-4000:]}")
            if " ready." in self.log_text():
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.name} not ready:\n{self.log_text()[-4000:]}")

    def pool_pids(self) -> list[int]:
        """Pids of the worker's pool processes (children of the main process)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


async def stored_rows(db_url: str, job_id: str) -> tuple[int, int]:
    """(result rows, distinct days) stored for the job in the database at ``db_url``."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT count(*), count(DISTINCT day) FROM job_results WHERE job_id=:j"),
                    {"j": job_id},
                )
            ).one()
    finally:
        await engine.dispose()
    return int(row[0]), int(row[1])


async def arm_fault(upstream: str, **fault: Any) -> None:
    """Arm a fault of the fake upstream APIs at ``upstream`` (their ``/_control/faults``)."""
    async with httpx2.AsyncClient(base_url=upstream) as control:
        answer = await control.post("/_control/faults", json=fault)
        assert answer.status_code < 300, answer.text
