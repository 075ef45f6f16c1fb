"""Types shared by the source adapters: results, typed errors and the adapter interface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

from evapo.schema import DailySeries

if TYPE_CHECKING:
    from evapo.sources.coverage import Coverage
    from evapo.sources.http import Upstream


class SourceError(Exception):
    """A source could not serve some days: which source, which days, why.

    ``kind`` is one of ``timeout``, ``http``, ``circuit_open``, ``malformed``, ``not_found``,
    ``forbidden``, ``bad_request``, ``connect``, ``coverage``.
    """

    def __init__(
        self, source: str, days: tuple[date, date] | None, reason: str, *, kind: str = "http"
    ) -> None:
        span = f" {days[0]}..{days[1]}" if days else ""
        super().__init__(f"{source}{span}: {reason}")
        self.source = source
        self.days = days
        self.reason = reason
        self.kind = kind


@dataclass
class SourceResult:
    """Outcome of one source for one request."""

    source: str
    series: DailySeries | None
    """Daily series over the source's planned days (canonical units), or None on failure."""
    error: SourceError | None
    from_cache: bool
    """True when every day came from the cache (no upstream request)."""
    requests: int
    """HTTP requests sent upstream (retries included)."""
    elapsed_s: float


class Adapter(Protocol):
    """One upstream source: fetches a span of days and returns it in the canonical schema."""

    name: str
    coverage: Coverage

    async def fetch(
        self, http: Upstream, lat: float, lon: float, first: date, last: date, *, today: date
    ) -> DailySeries:
        """Daily series for ``first..last`` (inclusive) at the point, canonical units."""
        ...
