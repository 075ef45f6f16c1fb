"""``evapo worker``: a Celery worker of the distributed mode, with optional Prometheus metrics."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from evapo.config import Settings
from evapo.logging import configure_logging, get_logger

POOLS = ("prefork", "solo")
DEFAULT_NICE = 10
"""CPU niceness of a worker and its pool processes (see :func:`run_worker`)."""


class WorkerConfigError(ValueError):
    """The worker cannot start with these settings or options (the message says which)."""


def _serve_metrics(port: int) -> Path:
    """Serve every pool process's metrics on ``port`` (prometheus multiprocess mode)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="evapo-worker-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from celery import signals
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr="0.0.0.0", registry=registry)  # scraped from other machines

    def _dead(**_: Any) -> None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    signals.worker_process_shutdown.connect(_dead, weak=False)
    return Path(directory)


def run_worker(
    settings: Settings,
    *,
    concurrency: int = 2,
    queues: str | None = None,
    pool: str = "prefork",
    hostname: str | None = None,
    metrics_port: int | None = None,
    nice: int = DEFAULT_NICE,
) -> None:
    """Run a Celery worker in this process until it is stopped (SIGTERM: warm shutdown).

    The worker lowers its CPU priority by ``nice`` (0-19; its pool processes inherit it): jobs
    are throughput work that takes seconds, while an API process on the same machine answers
    submissions and delivers WebSocket events that people wait for. With equal priority two
    busy pool processes delayed event delivery by up to a second on a 2-core machine (measured
    by bench.load); on a machine of its own the worker gets every idle CPU cycle either way.
    """
    if settings.mode != "distributed":
        raise WorkerConfigError(
            "EVAPO_MODE: the worker runs the distributed mode; set EVAPO_MODE=distributed "
            "and EVAPO_DATABASE_URL=postgresql+psycopg://..."
        )
    if concurrency < 1:
        raise WorkerConfigError(f"--concurrency must be >= 1, got {concurrency}")
    if pool not in POOLS:
        raise WorkerConfigError(f"--pool must be one of {POOLS}, got {pool!r}")
    if not 0 <= nice <= 19:
        raise WorkerConfigError(f"--nice must be between 0 and 19, got {nice}")
    names = [q.strip() for q in (queues or settings.job_queue).split(",") if q.strip()]
    if not names:
        raise WorkerConfigError("--queues must name at least one queue")
    configure_logging(settings.log_level, json=settings.log_json)
    # Imported after logging is configured: module loggers bind the configuration at import.
    from evapo.jobs.celery_app import worker_app

    log = get_logger(__name__)
    port = metrics_port or settings.worker_metrics_port
    if port:
        directory = _serve_metrics(port)
        log.info("worker_metrics", port=port, multiproc_dir=str(directory))
    app = worker_app(settings)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={','.join(names)}",
        f"--pool={pool}",
        f"--loglevel={settings.log_level}",
        "--without-mingle",
        "--without-gossip",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if nice:
        os.nice(nice)
    log.info("worker_starting", concurrency=concurrency, queues=names, pool=pool, nice=nice)
    app.worker_main(argv)
