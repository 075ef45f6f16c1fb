"""Fault injection and request counting for the fake upstream APIs."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

#: Fault modes: HTTP 500; HTTP 429 with ``Retry-After``; answer only after ``delay_s`` (past the
#: client timeout); a truncated JSON body; a variable left out; fill values / nulls in the data.
FAULT_MODES = ("500", "429", "slow", "malformed", "missing", "fill")
#: API names (keys of :data:`evapo.config.UPSTREAM_HOSTS`); ``*`` matches every API.
API_NAMES = (
    "nasa_power",
    "openmeteo_archive",
    "openmeteo_forecast",
    "openmeteo_elevation",
    "met_norway",
    "nws",
)


@dataclass
class Fault:
    """One armed fault: applies to the next ``count`` requests of ``api`` (None = until cleared)."""

    api: str
    mode: str
    count: int | None = None
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` by mode ``429``."""
    delay_s: float = 30.0
    """How long mode ``slow`` waits before answering [s]."""
    lat: float | None = None
    """With ``lon``: only requests for a point within ``radius_deg`` of here fail [deg]."""
    lon: float | None = None
    radius_deg: float = 0.05

    def applies(self, api: str, points: list[tuple[float, float]]) -> bool:
        """True when the fault concerns ``api`` and, if it names a point, one of ``points``."""
        if self.api not in ("*", api):
            return False
        if self.lat is None or self.lon is None:
            return True
        r = self.radius_deg
        return any(abs(a - self.lat) <= r and abs(o - self.lon) <= r for a, o in points)

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"mode: unknown fault {self.mode!r}, expected one of {FAULT_MODES}")
        if self.api != "*" and self.api not in API_NAMES:
            raise ValueError(f"api: unknown API {self.api!r}, expected '*' or one of {API_NAMES}")
        if self.count is not None and self.count < 1:
            raise ValueError("count: must be >= 1 or null")
        if self.retry_after < 0 or self.delay_s < 0:
            raise ValueError("retry_after and delay_s must be >= 0")


class FaultBoard:
    """Thread-safe set of armed faults plus per-API request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: Counter[str] = Counter()

    def arm(self, fault: Fault) -> None:
        """Add a fault (checked in the order armed)."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Disarm every fault and zero the counters."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()

    def hit(self, api: str, points: list[tuple[float, float]] | None = None) -> Fault | None:
        """Count one request to ``api`` and return (consuming one use of) the fault to apply.

        ``points`` are the request's coordinates (for faults armed on one point).
        """
        with self._lock:
            self._requests[api] += 1
            for fault in self._faults:
                if fault.applies(api, points or []):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def counts(self) -> dict[str, object]:
        """``{"total": n, "by_api": {api: n}}``."""
        with self._lock:
            return {"total": sum(self._requests.values()), "by_api": dict(self._requests)}

    def armed(self) -> list[dict[str, object]]:
        """The armed faults as JSON-ready dicts."""
        with self._lock:
            return [dict(vars(f)) for f in self._faults]
