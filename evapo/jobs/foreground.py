"""Foreground first: embedded jobs pause while the API is answering someone.

Embedded jobs run on their own loop thread in the API's process and share Python's GIL with it.
A busy job thread makes every request wait for the GIL after each system call (socket, SQLite,
random bytes): a few milliseconds each, hundreds under a burst. So the API counts the HTTP
requests it is answering, and the job loop's selector waits, GIL released, while any is in
flight, for at most ``max_wait_s`` per loop iteration: requests are answered at once and jobs
run between them, never starved.
"""

from __future__ import annotations

import selectors
import sys
import threading
import time
from typing import Any

SWITCH_INTERVAL_S = 0.0005
"""GIL switch interval while embedded jobs run (Python's default is 5 ms): a request or a
socket send that releases the GIL for a system call waits at most this long to get it back."""


class Foreground:
    """How many requests the API is answering; the job loop waits while any is."""

    def __init__(self, *, max_wait_s: float = 0.02) -> None:
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.max_wait_s = max_wait_s
        self._active = 0
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
        """True while at least one request is being answered."""
        return self._active > 0

    def wait_quiet(self) -> float:
        """Block (GIL released) until no request is in flight or ``max_wait_s`` passed."""
        if self._active <= 0:
            return 0.0
        start = time.monotonic()
        with self._quiet:
            self._quiet.wait_for(lambda: self._active <= 0, timeout=self.max_wait_s)
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
