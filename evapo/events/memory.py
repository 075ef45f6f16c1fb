"""In-memory event log (embedded mode): a list per job, futures to wake followers on any loop.

Embedded jobs run on their own event-loop thread (:mod:`evapo.jobs.embedded`) while sockets
follow on the API's loop, so the log is thread-safe: a lock guards the lists, and an append
wakes each waiting follower through its own loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Protocol

from evapo.events.messages import Event, is_terminal


class Busy(Protocol):
    """Told when a follower has events to deliver (embedded jobs pause meanwhile)."""

    def enter(self) -> None:
        """Delivery started."""

    def leave(self) -> None:
        """Delivery done."""


class _JobLog:
    """The events of one job and the futures of the followers waiting for the next one."""

    __slots__ = ("events", "finished", "waiters")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.finished = False


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _wake_from_any_thread(waiter: asyncio.Future[None]) -> None:
    loop = waiter.get_loop()
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if loop is current:
        _wake(waiter)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(_wake, waiter)


class MemoryEventLog:
    """Append-only per-job event log held in process memory, with replay and live follow.

    Retention is bounded: at most ``max_jobs`` jobs are kept; when over, the oldest finished jobs
    (terminal event logged) are dropped first, then the oldest unfinished ones.
    """

    def __init__(self, *, max_jobs: int = 10_000, busy: Busy | None = None) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs}")
        self._max_jobs = max_jobs
        self._busy = busy
        self._jobs: OrderedDict[str, _JobLog] = OrderedDict()
        self._lock = threading.Lock()

    def _log(self, job_id: str) -> _JobLog:
        """The job's log, made if missing (call with the lock held)."""
        log = self._jobs.get(job_id)
        if log is None:
            log = self._jobs[job_id] = _JobLog()
            self._evict()
        return log

    def _evict(self) -> None:
        excess = len(self._jobs) - self._max_jobs
        if excess <= 0:
            return
        finished = [jid for jid, log in self._jobs.items() if log.finished][:excess]
        for jid in finished:
            del self._jobs[jid]
        while len(self._jobs) > self._max_jobs:
            self._jobs.popitem(last=False)

    async def append(self, event: Event) -> Event:
        """Store ``event`` with the next ``seq`` and the current time; wake its followers."""
        with self._lock:
            log = self._log(event.job_id)
            stored = event.model_copy(update={"seq": len(log.events) + 1, "ts": time.time()})
            log.events.append(stored)
            if is_terminal(stored):
                log.finished = True
            waiters, log.waiters = log.waiters, []
        for waiter in waiters:
            _wake_from_any_thread(waiter)
        return stored

    async def read(self, job_id: str, after: int = 0) -> list[Event]:
        """Events of ``job_id`` with ``seq > after`` (seq n sits at index n - 1)."""
        with self._lock:
            log = self._jobs.get(job_id)
            return [] if log is None else log.events[max(after, 0) :]

    async def follow(
        self, job_id: str, after: int = 0, *, idle_timeout_s: float | None = None
    ) -> AsyncGenerator[Event | None, None]:
        """Replay events after ``after``, then live ones until a terminal (``None`` when idle).

        From the wake-up by a live event until the consumer asks for more (it has sent them),
        the log's ``busy`` counts this follower as delivering.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            log = self._log(job_id)
        position = max(after, 0)
        delivering = False
        try:
            while True:
                with self._lock:
                    pending = log.events[position:]
                    waiter: asyncio.Future[None] | None = None
                    if not pending:
                        waiter = loop.create_future()
                        log.waiters.append(waiter)
                if waiter is not None and delivering and self._busy is not None:
                    delivering = False
                    self._busy.leave()
                for event in pending:
                    position += 1
                    yield event
                    if is_terminal(event):
                        return
                if waiter is None:
                    continue
                try:
                    await asyncio.wait_for(waiter, timeout=idle_timeout_s)
                except TimeoutError:
                    self._forget(log, waiter)
                    with self._lock:
                        idle = position >= len(log.events)
                    if idle:
                        yield None
                    continue
                except asyncio.CancelledError:
                    self._forget(log, waiter)
                    raise
                if self._busy is not None:
                    delivering = True
                    self._busy.enter()
        finally:
            if delivering and self._busy is not None:
                self._busy.leave()

    def _forget(self, log: _JobLog, waiter: asyncio.Future[None]) -> None:
        """Drop a waiter that timed out or was cancelled."""
        with self._lock:
            if waiter in log.waiters:
                log.waiters.remove(waiter)

    async def ping(self) -> bool:
        """Always reachable (same process)."""
        return True

    async def close(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)
