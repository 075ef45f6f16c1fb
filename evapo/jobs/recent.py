"""The jobs this API process accepted lately: sockets opening on them skip a store read.

A socket whose job has nothing in the event log yet must learn whether the job exists (4404
otherwise) and whether it is final (then its outcome is sent). For a job this process accepted a
moment ago the answers are known: it exists, and its events are still to come (a job that ends
always logs its terminal event; a socket that idles checks the store anyway). Sockets opened right
after a submission, the common case, then cost no database query.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class RecentJobs:
    """The last ``capacity`` job ids accepted here, each remembered for ``max_age_s`` [s]."""

    def __init__(self, capacity: int, *, max_age_s: float = 600.0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.capacity = capacity
        self.max_age_s = max_age_s
        self._accepted: OrderedDict[str, float] = OrderedDict()

    def add(self, job_id: str) -> None:
        """Remember that ``job_id`` was accepted now (forgetting the oldest past capacity)."""
        self._accepted[job_id] = time.monotonic()
        self._accepted.move_to_end(job_id)
        while len(self._accepted) > self.capacity:
            self._accepted.popitem(last=False)

    def __contains__(self, job_id: object) -> bool:
        accepted = self._accepted.get(job_id) if isinstance(job_id, str) else None
        return accepted is not None and time.monotonic() - accepted < self.max_age_s

    def __len__(self) -> int:
        return len(self._accepted)
