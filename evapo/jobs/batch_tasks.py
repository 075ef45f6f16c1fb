"""Celery side of batches and regions (distributed mode).

A batch fans out as a Celery ``group`` of ``evapo.batch_chunk`` tasks, each a share of
``Settings.batch_chunk_points`` point indices (their Open-Meteo requests grouped). Completion
needs no chord and no result backend: the worker that finishes the last open point closes the
batch with one guarded UPDATE (``BatchStore.complete_if_done``) and writes the terminal event.
Per-point retries: a failed point is re-queued as its own ``evapo.batch_chunk`` task after
``Settings.batch_retry_delay_s`` until ``batch_point_attempts`` are used. Tasks are acknowledged
late, so a chunk whose worker died is delivered again; finished points are skipped.

``evapo.refresh_regions`` recomputes every region's map; Celery beat sends it every
``Settings.region_refresh_s`` (``evapo beat``). ``evapo.sweep_batches`` closes batches whose
closing step was lost (:func:`evapo.batches.sweep_batches`); beat sends it every
``Settings.batch_sweep_s``, each worker sends it once when it is ready, and each API process runs
it once at start.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from celery import Celery, group
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from evapo.config import Settings
from evapo.logging import get_logger

if TYPE_CHECKING:
    from evapo.services import Services

log = get_logger(__name__)

BATCH_CHUNK_TASK = "evapo.batch_chunk"
"""Task computing some points of a batch: arguments batch id and a list of point indices."""
REFRESH_REGIONS_TASK = "evapo.refresh_regions"
"""Task starting a refresh run of every region (sent by Celery beat)."""
REFRESH_SCHEDULE_NAME = "evapo-refresh-regions"
"""Name of the beat schedule entry of the region refresh."""
SWEEP_BATCHES_TASK = "evapo.sweep_batches"
"""Task closing stuck batches (sent by Celery beat and by each worker once it is ready)."""
SWEEP_SCHEDULE_NAME = "evapo-sweep-batches"
"""Name of the beat schedule entry of the stuck-batch sweep."""
TRANSIENT: tuple[type[BaseException], ...] = (OSError, SQLAlchemyError, RedisError)
"""Errors (database, event log, network down) after which a share is tried again later."""


GUIDE = 8
"""Guided shares: each takes about 1/GUIDE of the points still unassigned."""


def chunks(n_points: int, size: int) -> list[list[int]]:
    """Point indices ``0..n_points-1`` cut in consecutive shares of at most ``size``, shrinking
    toward the end (guided self-scheduling): a share takes about 1/:data:`GUIDE` of the points
    left, between ``size // 5`` (at least 1) and ``size``. Large first shares keep upstream
    requests grouped; small last ones keep every worker busy until the batch ends instead of
    one finishing a full share while the others wait."""
    smallest = max(1, size // 5)
    shares: list[list[int]] = []
    start = 0
    while start < n_points:
        left = n_points - start
        take = min(left, size, max(smallest, -(-left // GUIDE)))
        shares.append(list(range(start, start + take)))
        start += take
    return shares


def _on_worker(settings: Settings, work: Any) -> Any:
    """Run ``work(services)`` on this worker process's loop (services opened once)."""
    from evapo.jobs.celery_app import _STATE

    services = _STATE.open(settings)
    assert _STATE.loop is not None
    return _STATE.loop.run_until_complete(work(services))


def register_batch_tasks(app: Celery, settings: Settings) -> None:
    """Add the batch and region tasks, their routes and the beat schedule to ``app``."""
    app.conf.task_routes = {
        **(app.conf.task_routes or {}),
        BATCH_CHUNK_TASK: {"queue": settings.job_queue},
        REFRESH_REGIONS_TASK: {"queue": settings.job_queue},
        SWEEP_BATCHES_TASK: {"queue": settings.job_queue},
    }
    app.conf.beat_schedule = {
        REFRESH_SCHEDULE_NAME: {
            "task": REFRESH_REGIONS_TASK,
            "schedule": settings.region_refresh_s,
            "options": {"queue": settings.job_queue},
        },
        SWEEP_SCHEDULE_NAME: {
            "task": SWEEP_BATCHES_TASK,
            "schedule": settings.batch_sweep_s,
            # A sweep left in the queue past the next one is useless: drop it.
            "options": {"queue": settings.job_queue, "expires": settings.batch_sweep_s},
        },
    }

    @app.task(
        name=BATCH_CHUNK_TASK,
        bind=True,
        ignore_result=True,
        autoretry_for=TRANSIENT,
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=8,
    )
    def batch_chunk(task: Any, batch_id: str, indices: list[int]) -> None:
        """Compute some points of a batch; re-queue the failed ones that have attempts left."""
        from evapo.batches import run_points

        async def work(services: Services) -> list[int]:
            return await run_points(batch_id, indices, services)

        retry: list[int] = _on_worker(settings, work)
        if retry:
            task.app.send_task(
                BATCH_CHUNK_TASK,
                args=[batch_id, retry],
                queue=settings.job_queue,
                countdown=settings.batch_retry_delay_s,
            )

    @app.task(name=REFRESH_REGIONS_TASK, bind=True, ignore_result=True)
    def refresh_regions(task: Any) -> None:
        """Start a refresh run of every region (each run fans out like a batch)."""
        from evapo.regions import refresh_all

        async def work(services: Services) -> list[tuple[str, int]]:
            runs = await refresh_all(services, dispatcher=None)
            return [(r.id, r.n_points) for r in runs]

        for batch_id, n_points in _on_worker(settings, work):
            fan_out(task.app, settings, batch_id, n_points)

    @app.task(name=SWEEP_BATCHES_TASK, ignore_result=True)
    def sweep_batches() -> None:
        """Close the batches whose closing step was lost (see evapo.batches.sweep_batches)."""
        from evapo.batches import sweep_once

        _on_worker(settings, sweep_once)


def send_sweep(app: Celery, settings: Settings) -> None:
    """Queue one stuck-batch sweep (a worker that has just started calls this)."""
    app.send_task(SWEEP_BATCHES_TASK, queue=settings.job_queue)
    log.info("batch_sweep_sent", queue=settings.job_queue)


def fan_out(app: Celery, settings: Settings, batch_id: str, n_points: int) -> None:
    """Send the batch's shares as one Celery group (blocking: call from a thread)."""
    signatures = [
        app.signature(BATCH_CHUNK_TASK, args=[batch_id, share], queue=settings.job_queue)
        for share in chunks(n_points, settings.batch_chunk_points)
    ]
    group(signatures).apply_async()
    log.info("batch_sent", batch_id=batch_id, tasks=len(signatures), queue=settings.job_queue)


class CeleryBatchDispatcher:
    """:class:`evapo.batches.BatchDispatcher` of the distributed mode (API process).

    ``services`` (the API's own) let :meth:`cancel` end a batch no worker is running at once.
    """

    def __init__(self, settings: Settings, *, services: Services | None = None) -> None:
        from evapo.jobs.celery_app import is_redis_broker, visibility_timeout_s

        self.settings = settings
        self.services = services
        # A sender only: tasks are sent by name, so none is registered twice in this process.
        self._app = Celery("evapo-batch-sender", broker=settings.broker_url, set_as_current=False)
        self._app.conf.update(task_serializer="json", accept_content=["json"], result_backend=None)
        if is_redis_broker(settings.broker_url):
            self._app.conf.broker_transport_options = {
                "visibility_timeout": visibility_timeout_s(settings)
            }
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-send")

    async def submit(self, batch_id: str, n_points: int) -> None:
        """Publish the batch's group of tasks (returns once the broker has them)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor, fan_out, self._app, self.settings, batch_id, n_points
        )

    async def cancel(self, batch_id: str) -> None:
        """End the batch now when none of its points is running; else its workers will (they
        poll the flag before each point), and chunks still queued find it final and skip it."""
        from evapo.batches import cancel_now

        if self.services is not None and await cancel_now(
            batch_id, self.services, only_if_idle=True
        ):
            log.info("batch_cancelled", batch_id=batch_id, by="api")

    async def stop(self) -> None:
        """Release the broker connections."""
        self._executor.shutdown(wait=True)
        self._app.close()
