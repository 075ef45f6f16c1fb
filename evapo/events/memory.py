"""In-memory event log (embedded mode): a list per job, an asyncio.Condition to wake followers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator

from evapo.events.messages import Event, is_terminal


class _JobLog:
    """The events of one job and the condition its followers wait on."""

    __slots__ = ("changed", "events", "finished")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = asyncio.Condition()
        self.finished = False


class MemoryEventLog:
    """Append-only per-job event log held in process memory, with replay and live follow.

    Retention is bounded: at most ``max_jobs`` jobs are kept; when over, the oldest finished jobs
    (terminal event logged) are dropped first, then the oldest unfinished ones.
    """

    def __init__(self, *, max_jobs: int = 10_000) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs}")
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[str, _JobLog] = OrderedDict()

    def _log(self, job_id: str) -> _JobLog:
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
        log = self._log(event.job_id)
        stored = event.model_copy(update={"seq": len(log.events) + 1, "ts": time.time()})
        log.events.append(stored)
        if is_terminal(stored):
            log.finished = True
        async with log.changed:
            log.changed.notify_all()
        return stored

    async def read(self, job_id: str, after: int = 0) -> list[Event]:
        """Events of ``job_id`` with ``seq > after`` (seq n sits at index n - 1)."""
        log = self._jobs.get(job_id)
        return [] if log is None else log.events[max(after, 0) :]

    async def follow(
        self, job_id: str, after: int = 0, *, idle_timeout_s: float | None = None
    ) -> AsyncGenerator[Event | None, None]:
        """Replay events after ``after``, then live ones until a terminal (``None`` when idle)."""
        log = self._log(job_id)
        position = max(after, 0)
        while True:
            while position < len(log.events):
                event = log.events[position]
                position += 1
                yield event
                if is_terminal(event):
                    return
            async with log.changed:
                if position < len(log.events):
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(log.changed.wait(), timeout=idle_timeout_s)
            if position >= len(log.events):
                yield None

    async def ping(self) -> bool:
        """Always reachable (same process)."""
        return True

    async def close(self) -> None:
        """Forget every job."""
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)
