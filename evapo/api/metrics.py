"""Prometheus metrics of the service (one place for every metric name)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from evapo.sources import SourceResult
    from evapo.store.jobs import JobStatus

JOBS = Gauge("evapo_jobs", "Jobs in the store by status.", ["status"])
JOBS_SUBMITTED = Counter("evapo_jobs_submitted_total", "Jobs accepted by POST /api/v1/jobs.")
JOBS_FINISHED = Counter(
    "evapo_jobs_finished_total", "Jobs finished by this process, by final status.", ["status"]
)
STEP_SECONDS = Histogram(
    "evapo_job_step_seconds",
    "Duration of each pipeline step [s].",
    ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UPSTREAM_CALLS = Counter(
    "evapo_upstream_calls_total",
    "Upstream HTTP requests by source and outcome (ok or error).",
    ["source", "outcome"],
)
SOURCE_FETCHES = Counter(
    "evapo_source_fetches_total",
    "Source fetches by source and outcome (ok, cache, error).",
    ["source", "outcome"],
)
CACHE_HITS = Counter(
    "evapo_cache_hits_total", "Source fetches served entirely from the weather cache.", ["source"]
)
OPEN_SOCKETS = Gauge("evapo_websockets_open", "WebSocket connections open now.")


def record_source(result: SourceResult) -> None:
    """Count one finished source fetch (requests made, outcome, cache hit)."""
    ok = result.series is not None
    outcome = "error" if not ok else ("cache" if result.from_cache else "ok")
    SOURCE_FETCHES.labels(source=result.source, outcome=outcome).inc()
    if result.requests:
        UPSTREAM_CALLS.labels(source=result.source, outcome="ok" if ok else "error").inc(
            result.requests
        )
    if ok and result.from_cache:
        CACHE_HITS.labels(source=result.source).inc()


def render(counts: dict[JobStatus, int]) -> tuple[bytes, str]:
    """The exposition text (with the job gauge set from ``counts``) and its content type."""
    for status, n in counts.items():
        JOBS.labels(status=status.value).set(n)
    return generate_latest(), CONTENT_TYPE_LATEST
