"""The event-log interface: append-only per job, replay from a sequence number, then follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from evapo.events.messages import Event


class EventLog(Protocol):
    """Append-only per-job event log with replay.

    Implementations: :mod:`evapo.events.memory` (embedded) and
    :mod:`evapo.events.redis_streams` (distributed).
    """

    async def append(self, event: Event) -> Event:
        """Store ``event`` for its job, assigning the next ``seq`` and ``ts``; return it."""
        ...

    async def read(self, job_id: str, after: int = 0) -> list[Event]:
        """Every stored event of ``job_id`` with ``seq > after``, in order."""
        ...

    def follow(
        self, job_id: str, after: int = 0, *, idle_timeout_s: float | None = None
    ) -> AsyncIterator[Event | None]:
        """Replay events after ``after``, then yield live ones until a terminal event.

        Yields ``None`` when ``idle_timeout_s`` passes without an event (time for a HEARTBEAT).
        Never yields an event twice and never skips one.
        """
        ...

    async def ping(self) -> bool:
        """True when the log is reachable (for ``/ready``)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
