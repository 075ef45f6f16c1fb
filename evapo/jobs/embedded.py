"""Embedded runner: each job is an asyncio task in the API process, under a concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from evapo.events.base import EventLog
from evapo.events.messages import Error
from evapo.logging import get_logger
from evapo.store.jobs import JobStatus, JobStore

log = get_logger(__name__)

Execute = Callable[[str], Awaitable[None]]
"""Runs one job to its end (``evapo.pipeline.execute_job`` bound to the services)."""

INTERRUPTED_CODE = "interrupted"


class EmbeddedJobRunner:
    """Runs jobs as asyncio tasks, at most ``max_concurrent`` at a time.

    ``start()`` marks jobs a previous process left queued or running as failed (with an ERROR
    event), since their tasks died with that process.
    """

    def __init__(
        self, execute: Execute, *, store: JobStore, events: EventLog, max_concurrent: int
    ) -> None:
        self._execute = execute
        self._store = store
        self._events = events
        self._max_concurrent = max_concurrent
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._waiting: set[str] = set()
        self._cancel_signals: dict[str, asyncio.Event] = {}
        self._running = False

    async def start(self) -> None:
        """Fail what a crashed process left open, then accept work."""
        self._semaphore = asyncio.Semaphore(self._max_concurrent)
        for job_id in await self._store.open_jobs():
            message = "The server stopped while this job was queued or running; submit it again."
            if await self._store.finish(
                job_id, JobStatus.FAILED, error_code=INTERRUPTED_CODE, message=message
            ):
                await self._events.append(
                    Error(job_id=job_id, code=INTERRUPTED_CODE, message=message)
                )
                log.warning("job_interrupted", job_id=job_id)
        self._running = True

    async def submit(self, job_id: str) -> None:
        """Start a task for the job and return at once."""
        if not self._running or self._semaphore is None:
            raise RuntimeError("runner not started")
        self._waiting.add(job_id)
        self._spawn(job_id, self._run_limited(job_id, self._semaphore))

    def _spawn(self, job_id: str, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks[job_id] = task
        task.add_done_callback(partial(self._done, job_id))

    def _done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("job_task_crashed", job_id=job_id, error=repr(task.exception()))

    async def _run_limited(self, job_id: str, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            self._waiting.discard(job_id)
            await self._execute(job_id)

    def cancel_signal(self, job_id: str) -> asyncio.Event:
        """An event set when ``cancel(job_id)`` is called (lets the pipeline stop at once)."""
        return self._cancel_signals.setdefault(job_id, asyncio.Event())

    def forget_cancel_signal(self, job_id: str) -> None:
        """Drop the job's cancel event once it has finished."""
        self._cancel_signals.pop(job_id, None)

    async def cancel(self, job_id: str) -> None:
        """Wake the running job's cancel watcher; a still-waiting job is started to end at once.

        The caller has already set the store's cancel flag (the source of truth in every mode).
        """
        if job_id in self._waiting:
            self._waiting.discard(job_id)
            waiting = self._tasks.get(job_id)
            if waiting is not None:
                waiting.cancel()
            self._spawn(job_id, self._execute(job_id))
            return
        signal = self._cancel_signals.get(job_id)
        if signal is not None:
            signal.set()

    async def ping(self) -> bool:
        """True once started and until stopped."""
        return self._running

    async def stop(self) -> None:
        """Cancel the tasks still running and wait for them."""
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait_idle(self) -> None:
        """Wait until no job task is left (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
