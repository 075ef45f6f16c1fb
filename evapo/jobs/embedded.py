"""Embedded runner: jobs run as asyncio tasks on their own event-loop thread in the API process.

The API's loop only accepts requests and feeds sockets; the pipeline's work (store, cache,
parsing, fusion) runs on the runner's loop, so a burst of jobs does not queue behind it. Every
piece of runner state lives on that loop: the API's loop hands work over with
``call_soon_threadsafe`` / ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from functools import partial
from typing import Any, TypeVar

from evapo.events.base import EventLog
from evapo.events.messages import Error
from evapo.jobs.foreground import Foreground, PoliteSelector, SwitchInterval
from evapo.logging import get_logger
from evapo.store.jobs import JobStatus, JobStore

log = get_logger(__name__)
_T = TypeVar("_T")

Execute = Callable[[str], Awaitable[None]]
"""Runs one job to its end (``evapo.pipeline.execute_job`` bound to the services)."""

OpenExecute = Callable[[], AbstractAsyncContextManager[Execute]]
"""Entered on the runner's loop at start (opens what jobs need there), left at stop."""

INTERRUPTED_CODE = "interrupted"


class EmbeddedJobRunner:
    """Runs jobs on a dedicated event-loop thread, at most ``max_concurrent`` at a time.

    With a ``foreground``, job work pauses while the API answers requests or delivers events,
    and the GIL switch interval is shortened while the runner lives (see
    :mod:`evapo.jobs.foreground`).

    ``start()`` marks jobs a previous process left queued or running as failed (with an ERROR
    event), since their tasks died with that process.
    """

    def __init__(
        self,
        open_execute: OpenExecute,
        *,
        store: JobStore,
        events: EventLog,
        max_concurrent: int,
        foreground: Foreground | None = None,
    ) -> None:
        self._open_execute = open_execute
        self._foreground = foreground
        self._store = store
        self._events = events
        self._max_concurrent = max_concurrent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._execute: Execute | None = None
        self._semaphore: asyncio.Semaphore | None = None
        # Only touched on the runner's loop:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._waiting: set[str] = set()
        self._cancel_signals: dict[str, asyncio.Event] = {}
        self._running = False
        self._heartbeat: asyncio.Task[None] | None = None  # on the caller's (API) loop

    async def start(self) -> None:
        """Fail what a crashed process left open, start the loop thread, then accept work."""
        for job_id in await self._store.open_jobs():
            message = "The server stopped while this job was queued or running; submit it again."
            if await self._store.finish(
                job_id, JobStatus.FAILED, error_code=INTERRUPTED_CODE, message=message
            ):
                await self._events.append(
                    Error(job_id=job_id, code=INTERRUPTED_CODE, message=message)
                )
                log.warning("job_interrupted", job_id=job_id)
        loop = (
            asyncio.new_event_loop()
            if self._foreground is None
            else asyncio.SelectorEventLoop(PoliteSelector(self._foreground))
        )
        self._thread = threading.Thread(
            target=_run_forever, args=(loop,), name="evapo-jobs", daemon=True
        )
        self._thread.start()
        self._loop = loop
        try:
            await self._on_loop(self._open())
        except BaseException:
            await self._halt_loop()
            raise
        if self._foreground is not None:
            self._heartbeat = asyncio.create_task(self._foreground.heartbeat())
        self._running = True

    async def _open(self) -> None:
        self._semaphore = asyncio.Semaphore(self._max_concurrent)
        self._exit_stack = AsyncExitStack()
        if self._foreground is not None:
            self._exit_stack.enter_context(SwitchInterval())
        self._execute = await self._exit_stack.enter_async_context(self._open_execute())

    async def _on_loop(self, coro: Awaitable[_T]) -> _T:
        """Run ``coro`` on the runner's loop and wait for it from the caller's loop."""
        if self._loop is None:
            raise RuntimeError("runner not started")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self._loop)
        return await asyncio.wrap_future(future)

    def _call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop is None:
            raise RuntimeError("runner not started")
        self._loop.call_soon_threadsafe(fn, *args)

    async def submit(self, job_id: str) -> None:
        """Hand the job to the runner's loop and return at once."""
        if not self._running:
            raise RuntimeError("runner not started")
        self._call_on_loop(self._submit_here, job_id)

    def _submit_here(self, job_id: str) -> None:
        if self._semaphore is None:
            return
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
            if self._foreground is None:
                await self._run(job_id)
                return
            self._foreground.working += 1
            try:
                await self._run(job_id)
            finally:
                self._foreground.working -= 1

    async def _run(self, job_id: str) -> None:
        if self._execute is not None:
            await self._execute(job_id)

    def cancel_signal(self, job_id: str) -> asyncio.Event:
        """An event set when ``cancel(job_id)`` is called; call it on the runner's loop."""
        return self._cancel_signals.setdefault(job_id, asyncio.Event())

    def forget_cancel_signal(self, job_id: str) -> None:
        """Drop the job's cancel event once it has finished (on the runner's loop)."""
        self._cancel_signals.pop(job_id, None)

    async def cancel(self, job_id: str) -> None:
        """Wake the running job's cancel watcher; a still-waiting job is started to end at once.

        The caller has already set the store's cancel flag (the source of truth in every mode).
        """
        self._call_on_loop(self._cancel_here, job_id)

    def _cancel_here(self, job_id: str) -> None:
        if job_id in self._waiting:
            self._waiting.discard(job_id)
            waiting = self._tasks.get(job_id)
            if waiting is not None:
                waiting.cancel()
            self._spawn(job_id, self._run(job_id))
            return
        signal = self._cancel_signals.get(job_id)
        if signal is not None:
            signal.set()

    async def ping(self) -> bool:
        """True once started and until stopped, while the loop thread lives."""
        return self._running and self._thread is not None and self._thread.is_alive()

    async def stop(self) -> None:
        """Cancel the tasks still running, close what jobs opened, end the loop thread."""
        if self._loop is None:
            return
        self._running = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        try:
            await self._on_loop(self._close())
        finally:
            await self._halt_loop()

    async def _close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._exit_stack is not None:
            await self._exit_stack.aclose()
            self._exit_stack = None

    async def _halt_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            await asyncio.to_thread(thread.join)

    async def wait_idle(self) -> None:
        """Wait until no job task is left (tests, benchmarks)."""
        await self._on_loop(self._wait_idle_here())

    async def _wait_idle_here(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)


async def _as_coroutine(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    """The runner thread: run the loop until stopped, then close it.

    Tasks still pending then (a job's own sub-tasks, a store's group commit) are cancelled and
    run to their end first, as ``asyncio.run`` does: a task dropped half-way would leave its
    database greenlet suspended in a thread about to die, for the main thread to clean up.
    """
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            _cancel_remaining(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task left on the stopped ``loop`` and run them until they are done."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
