"""The Celery application of the distributed mode and its one task, ``evapo.run_job``.

The task body runs :func:`evapo.pipeline.execute_job` on a persistent event loop owned by the
worker process; the process opens its :class:`~evapo.services.Services` once (at
``worker_process_init`` for the prefork pool, on the first task for the solo pool) and closes them
at ``worker_process_shutdown``. Delivery is at-least-once: messages are acknowledged after the task
returns (``task_acks_late``), a task whose process died is re-queued
(``task_reject_on_worker_lost``), and each process reserves one message at a time
(``worker_prefetch_multiplier=1``). ``execute_job`` is idempotent, so a redelivered job runs again
or just re-checks its terminal event; after ``Settings.job_max_attempts`` deliveries a job still
open is failed with code ``worker_lost`` instead of being run again.

``celery -A evapo.jobs.celery_app worker`` works too (the module's ``app`` attribute is built
lazily from the environment's settings); ``evapo worker`` is the supported entry point.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from celery import Celery, signals

from evapo.config import Settings, get_settings
from evapo.logging import get_logger

if TYPE_CHECKING:
    from evapo.services import Services

log = get_logger(__name__)

QUEUE = "evapo.jobs"
"""Default queue of job tasks (``Settings.job_queue``; ``evapo worker --queues`` defaults to it)."""
RUN_JOB_TASK = "evapo.run_job"
"""Name of the task that runs one job: one argument, the job id."""
WORKER_LOST_CODE = "worker_lost"
"""Error code of a job failed because its workers kept dying (or vanished) while running it."""
VISIBILITY_MARGIN_S = 300
"""Redis broker: seconds added to the job deadline to get the visibility timeout."""


def visibility_timeout_s(settings: Settings) -> int:
    """Redis broker redelivery delay for an unacknowledged task [s], above the job deadline."""
    return int(settings.job_deadline_s + VISIBILITY_MARGIN_S)


def is_redis_broker(url: str) -> bool:
    """True for a ``redis://``/``rediss://`` broker URL (False for AMQP)."""
    return urlsplit(url).scheme in ("redis", "rediss")


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (broker, reliability options, the ``evapo.run_job`` task)."""
    app = Celery("evapo", broker=settings.broker_url, set_as_current=False)
    conf: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_backend": None,
        "task_ignore_result": True,
        "task_default_queue": settings.job_queue,
        "task_routes": {RUN_JOB_TASK: {"queue": settings.job_queue}},
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 4.0,
        "broker_heartbeat": 10,
        # A pool process reports UP only after worker_process_init has opened its services;
        # on a busy machine that takes longer than Celery's 4 s default.
        "worker_proc_alive_timeout": 60.0,
    }
    if is_redis_broker(settings.broker_url):
        conf["broker_transport_options"] = {
            "visibility_timeout": visibility_timeout_s(settings),
            "socket_connect_timeout": 4,
        }
    app.conf.update(conf)
    app.evapo_settings = settings

    @app.task(name=RUN_JOB_TASK, bind=True, ignore_result=True)
    def run_job(task: Any, job_id: str) -> None:
        """Run one job to its end in this worker process."""
        delivery = getattr(task.request, "delivery_info", None) or {}
        _STATE.run(settings, job_id, redelivered=bool(delivery.get("redelivered")))

    from evapo.jobs.batch_tasks import register_batch_tasks

    register_batch_tasks(app, settings)
    return app


class _WorkerState:
    """Per-process event loop and services of a worker, made once and reused by every task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.services: Services | None = None

    def open(self, settings: Settings) -> Services:
        """Create the loop and open the services if this process has not yet."""
        with self._lock:
            if self.loop is None or self.loop.is_closed():
                self.loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self.loop)
            if self.services is None:
                from evapo.services import open_services

                self.services = self.loop.run_until_complete(open_services(settings, runner=False))
                log.info("worker_services_open", mode=settings.mode)
            return self.services

    def run(self, settings: Settings, job_id: str, *, redelivered: bool) -> None:
        """Execute ``job_id`` on this process's loop (one task at a time per process)."""
        services = self.open(settings)
        assert self.loop is not None
        with self._lock:
            self.loop.run_until_complete(_run_job(job_id, services, redelivered=redelivered))

    def close(self) -> None:
        """Close the services and the loop (process shutdown)."""
        with self._lock:
            if self.loop is None or self.loop.is_closed():
                return
            if self.services is not None:
                from evapo.services import close_services

                self.loop.run_until_complete(close_services(self.services))
                self.services = None
            self.loop.close()
            self.loop = None


_STATE = _WorkerState()


async def _run_job(job_id: str, services: Services, *, redelivered: bool) -> None:
    """Fail a job that used up its deliveries, else hand it to ``execute_job``."""
    from evapo.events.messages import Progress
    from evapo.pipeline import ensure_terminal_event, execute_job
    from evapo.store.jobs import JobStatus

    jlog = log.bind(job_id=job_id)
    job = await services.store.get(job_id)
    max_attempts = services.settings.job_max_attempts
    if job is not None and job.status is JobStatus.RUNNING and job.attempts >= max_attempts:
        message = (
            f"the worker running this job died {job.attempts} time(s); "
            "it was not started again (see the worker logs)"
        )
        if await services.store.finish(
            job_id, JobStatus.FAILED, error_code=WORKER_LOST_CODE, message=message
        ):
            jlog.error("job_worker_lost", attempts=job.attempts)
        final = await services.store.get(job_id)
        if final is not None:
            await ensure_terminal_event(final, services)
        return
    if job is not None and job.status is JobStatus.RUNNING:
        # The previous attempt's process died mid-job: say so before the steps start over.
        jlog.warning("job_redelivered", attempts=job.attempts)
        await services.events.append(
            Progress(
                job_id=job_id,
                progress=0,
                step="retry",
                message=(
                    "the worker running this job stopped; running it again "
                    f"(attempt {job.attempts + 1} of {max_attempts})"
                ),
                data={"attempt": job.attempts + 1, "max_attempts": max_attempts},
            )
        )
    elif redelivered:
        jlog.info("job_redelivered_not_started")
    await execute_job(job_id, services)


def connect_worker_signals(settings: Settings, app: Celery | None = None) -> None:
    """Open services in each pool process as it starts, close them as it stops; with ``app``,
    queue one stuck-batch sweep once the worker is ready."""

    def _init(**_: Any) -> None:
        from evapo.logging import configure_logging

        configure_logging(settings.log_level, json=settings.log_json)
        _STATE.open(settings)

    def _shutdown(**_: Any) -> None:
        _STATE.close()

    def _ready(**_: Any) -> None:
        from kombu.exceptions import KombuError

        from evapo.jobs.batch_tasks import send_sweep

        assert app is not None
        try:
            send_sweep(app, settings)
        except (OSError, KombuError) as exc:  # the broker is away: beat sends the next one
            log.warning("batch_sweep_not_sent", error=repr(exc))

    signals.worker_process_init.connect(_init, weak=False)
    signals.worker_process_shutdown.connect(_shutdown, weak=False)
    if app is not None:
        signals.worker_ready.connect(_ready, weak=False)


PRELOADED_MODULES = (
    "evapo.services",
    "evapo.pipeline",
    "evapo.sources",
    "evapo.science.quality",
    "evapo.science.fusion",
    "evapo.calibration",
    "evapo.store.cache",
)
"""Imported once in the worker's main process so every forked pool process starts warm."""


def preload_modules() -> None:
    """Import the pipeline's modules before the pool forks (imports only: no loop, no sockets)."""
    import importlib

    for name in PRELOADED_MODULES:
        importlib.import_module(name)


_LAZY_APP: Celery | None = None


def worker_app(settings: Settings | None = None) -> Celery:
    """The process's worker app (made once, with the per-process signals connected)."""
    global _LAZY_APP  # noqa: PLW0603
    if _LAZY_APP is None:
        settings = settings or get_settings()
        preload_modules()
        _LAZY_APP = make_celery(settings)
        connect_worker_signals(settings, _LAZY_APP)
    return _LAZY_APP


def __getattr__(name: str) -> Any:
    """``app``/``celery`` for ``celery -A evapo.jobs.celery_app`` (built on first access)."""
    if name in ("app", "celery"):
        return worker_app()
    raise AttributeError(name)
