"""Distributed runner: the API process sends each job to the Celery workers and never waits.

Cancellation needs nothing from Celery: the API sets the store's ``cancel_requested`` flag, a
running job's worker polls it (``Settings.cancel_poll_s``) and a queued job ends as ``cancelled``
the moment a worker picks it up. Revoking is deliberately not used: a revoked task never runs, so
nobody would write the job's terminal event.

A job whose worker vanished (machine lost, whole worker SIGKILLed with a Redis broker whose
redelivery waits for the visibility timeout) would stay ``running``; the runner's sweeper fails
every job still running ``stale_job_grace_s`` after its deadline, with an ERROR event, so no job
is left running forever. Several API processes may sweep at once: each row is updated only once.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kombu.exceptions import KombuError
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from evapo.config import Settings
from evapo.events.messages import Error
from evapo.jobs.celery_app import RUN_JOB_TASK, WORKER_LOST_CODE, make_celery
from evapo.logging import get_logger

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.ext.asyncio import AsyncEngine

    from evapo.events.base import EventLog

log = get_logger(__name__)

BROKER_UNAVAILABLE_CODE = "broker_unavailable"
"""Error code of a job that could not be handed to the broker."""
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}
"""kombu publish retry policy: a few quick tries, then the job fails instead of hanging."""


class CeleryJobRunner:
    """:class:`evapo.jobs.base.JobRunner` that queues jobs as Celery tasks (``evapo.run_job``).

    ``engine`` and ``events`` (the API's own) enable the stale-job sweeper; without them the
    runner only sends tasks.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        events: EventLog | None = None,
        sweep_every_s: float = 30.0,
    ) -> None:
        """Prepare a Celery app for ``settings.broker_url`` (nothing is connected yet)."""
        self.settings = settings
        self._engine = engine
        self._events = events
        self._sweep_every_s = sweep_every_s
        self._celery: Celery | None = None
        # kombu connections are blocking: sends run on one thread, in order.
        self._executor: ThreadPoolExecutor | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the Celery app and start the stale-job sweeper (when it has a store)."""
        self._celery = make_celery(self.settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celery-send")
        if self._engine is not None and self._events is not None:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    def _app(self) -> Celery:
        if self._celery is None:
            raise RuntimeError("runner not started")
        return self._celery

    async def _blocking(self, fn: object, *args: object) -> object:
        if self._executor is None:
            raise RuntimeError("runner not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    def _send(self, job_id: str) -> None:
        queue = self.settings.job_queue
        self._app().send_task(
            RUN_JOB_TASK,
            args=[job_id],
            queue=queue,
            task_id=job_id,
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )

    async def submit(self, job_id: str) -> None:
        """Publish the job's task to the broker (returns once the broker has it).

        When the broker cannot be reached the job is failed at once (``broker_unavailable``,
        with an ERROR event) instead of staying queued forever; the caller's 202 still stands.
        """
        try:
            await self._blocking(self._send, job_id)
        except (OSError, KombuError) as exc:
            log.error("job_send_failed", job_id=job_id, error=repr(exc))
            await self._fail(
                job_id,
                BROKER_UNAVAILABLE_CODE,
                f"the job queue ({self.settings.job_queue}) is unreachable: {exc}; try again later",
            )
            return
        log.info("job_sent", job_id=job_id, queue=self.settings.job_queue)

    async def _fail(self, job_id: str, code: str, message: str) -> None:
        """Mark an open job failed and log its ERROR event (needs the engine and events)."""
        from evapo.store.jobs import JobStatus, JobStore

        if self._engine is None or self._events is None:
            raise RuntimeError(f"job {job_id}: {message}")
        if await JobStore(self._engine).finish(
            job_id, JobStatus.FAILED, error_code=code, message=message
        ):
            await self._events.append(Error(job_id=job_id, code=code, message=message))

    async def cancel(self, job_id: str) -> None:
        """Nothing to do beyond the store flag the API already set (see the module notes)."""
        log.info("job_cancel_requested", job_id=job_id)

    def _broker_ok(self) -> bool:
        with self._app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True

    async def ping(self) -> bool:
        """True when the broker accepts a connection now."""
        try:
            return bool(await asyncio.wait_for(self._blocking(self._broker_ok), 5))
        except (OSError, TimeoutError, RuntimeError, KombuError) as exc:
            log.warning("broker_unreachable", error=repr(exc))
            return False

    async def sweep_stale(self) -> list[str]:
        """Fail jobs running past deadline + grace (their worker is gone); return their ids."""
        from evapo.store.jobs import JobRow, JobStatus

        if self._engine is None or self._events is None:
            return []
        cutoff = datetime.now(UTC) - timedelta(
            seconds=self.settings.job_deadline_s + self.settings.stale_job_grace_s
        )
        message = (
            "the worker running this job stopped answering (no result "
            f"{self.settings.stale_job_grace_s:g} s after the deadline); submit it again"
        )
        query = (
            update(JobRow)
            .where(JobRow.status == JobStatus.RUNNING.value, JobRow.started_at < cutoff)
            .values(
                status=JobStatus.FAILED.value,
                finished_at=datetime.now(UTC),
                error_code=WORKER_LOST_CODE,
                message=message,
            )
            .returning(JobRow.id)
        )
        async with self._engine.begin() as conn:
            failed = list((await conn.execute(query)).scalars().all())
        for job_id in failed:
            log.error("job_stale_failed", job_id=job_id)
            logged = await self._events.read(job_id)
            if not logged or logged[-1].type not in ("SUCCESS", "ERROR", "TIMEOUT"):
                await self._events.append(
                    Error(job_id=job_id, code=WORKER_LOST_CODE, message=message)
                )
        return failed

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_stale()
            except (OSError, SQLAlchemyError) as exc:
                log.warning("stale_sweep_failed", error=str(exc))
            await asyncio.sleep(self._sweep_every_s)

    async def stop(self) -> None:
        """Stop the sweeper and release the broker connections."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._celery is not None:
            self._celery.close()
            self._celery = None
