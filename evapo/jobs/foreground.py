"""Foreground first: embedded jobs pause while the API is answering someone.

Embedded jobs run on their own loop thread in the API's process and share Python's GIL with it.
A busy job thread makes every request wait for the GIL after each system call (socket, SQLite,
random bytes): a few milliseconds each, hundreds under a burst. So the API counts the HTTP
requests it is answering, and the job loop's selector waits, GIL released, while any is in
flight, for at most ``max_wait_s`` per loop iteration: requests are answered at once and jobs
run between them, never starved.

Work the API loop does outside any request (WebSocket handshakes, a burst of accepts) is not
counted, so while jobs work the API loop also beats a heartbeat (:meth:`Foreground.heartbeat`);
a beat late by more than ``lag_s`` means the loop is busy, and job work waits for it as well.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import threading
import time
from typing import Any

SWITCH_INTERVAL_S = 0.0005
"""GIL switch interval while embedded jobs run (Python's default is 5 ms): a request or a
socket send that releases the GIL for a system call waits at most this long to get it back."""

HEARTBEAT_S = 0.002
"""API loop's heartbeat period while jobs work [s]."""
IDLE_HEARTBEAT_S = 0.02
"""Heartbeat period while no job works [s] (only checks whether one started)."""
LAG_S = 0.01
"""A heartbeat older than this means the API loop is busy [s]."""


class Foreground:
    """How many requests the API is answering and whether its loop lags; job work waits while
    either is so."""

    def __init__(self, *, max_wait_s: float = 0.02, lag_s: float = LAG_S) -> None:
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if lag_s <= 0:
            raise ValueError(f"lag_s must be > 0, got {lag_s}")
        self.max_wait_s = max_wait_s
        self.lag_s = lag_s
        self.working = 0
        """Jobs running (written by the runner's loop only)."""
        self._active = 0
        self._waiters = 0
        self._beat = 0.0  # monotonic time of the API loop's last beat; 0: not watched
        self._quiet = threading.Condition()

    def enter(self) -> None:
        """A request started."""
        with self._quiet:
            self._active += 1

    def leave(self) -> None:
        """A request was answered; the last one wakes the waiting job loop."""
        with self._quiet:
            self._active -= 1
            if self._active <= 0:
                self._quiet.notify_all()

    @property
    def busy(self) -> bool:
        """True while a request is being answered or the API loop lags behind its heartbeat."""
        return self._active > 0 or self.lagging

    @property
    def watched(self) -> bool:
        """True while the heartbeat judges the API loop's lag (jobs work)."""
        return self._beat > 0.0

    @property
    def lagging(self) -> bool:
        """True while jobs work and the API loop's last beat is older than ``lag_s``."""
        beat = self._beat
        return beat > 0.0 and time.monotonic() - beat > self.lag_s

    def beat(self, *, watched: bool = True) -> None:
        """The API loop is turning (``watched=False``: no job works, stop judging its lag)."""
        self._beat = time.monotonic() if watched else 0.0
        if self._waiters:
            with self._quiet:
                self._quiet.notify_all()

    async def heartbeat(self) -> None:
        """Beat on the API loop until cancelled: every ``HEARTBEAT_S`` while jobs work."""
        try:
            while True:
                watched = self.working > 0
                self.beat(watched=watched)
                await asyncio.sleep(HEARTBEAT_S if watched else IDLE_HEARTBEAT_S)
        finally:
            self.beat(watched=False)

    def wait_quiet(self) -> float:
        """Block (GIL released) until the API is not busy or ``max_wait_s`` passed."""
        if not self.busy:
            return 0.0
        start = time.monotonic()
        with self._quiet:
            self._waiters += 1
            try:
                self._quiet.wait_for(lambda: not self.busy, timeout=self.max_wait_s)
            finally:
                self._waiters -= 1
        return time.monotonic() - start


class PoliteSelector(selectors.DefaultSelector):
    """The job loop's selector: before each poll, let the foreground's requests go first."""

    def __init__(self, foreground: Foreground) -> None:
        super().__init__()
        self._foreground = foreground

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, Any]]:
        """Wait for quiet (bounded), then poll as usual."""
        self._foreground.wait_quiet()
        return super().select(timeout)


class SwitchInterval:
    """Sets Python's GIL switch interval for the runner's lifetime, then restores it."""

    def __init__(self, seconds: float = SWITCH_INTERVAL_S) -> None:
        self.seconds = seconds
        self._previous: float | None = None

    def __enter__(self) -> None:
        self._previous = sys.getswitchinterval()
        sys.setswitchinterval(min(self._previous, self.seconds))

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            sys.setswitchinterval(self._previous)
            self._previous = None
