"""Running one job: validate, plan sources, fetch, quality checks, fusion + ET0, store.

:func:`run_pipeline` computes a :class:`~evapo.science.fusion.FusedSeries` and reports each real
step through ``emit``; :func:`execute_job` wraps it with the job record (status, deadline,
cancellation, stored result) and the terminal event. Both modes call :func:`execute_job`: the
embedded runner as an asyncio task, the Celery worker inside its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from evapo.api import metrics
from evapo.events.messages import Error, Event, Progress, Success, Timeout, is_terminal
from evapo.logging import get_logger
from evapo.store.jobs import JobRecord, JobSpec, JobStatus, json_safe

if TYPE_CHECKING:
    from evapo.config import Settings
    from evapo.science.fusion import FusedSeries
    from evapo.services import Services
    from evapo.sources import SourceResult

log = get_logger(__name__)
_T = TypeVar("_T")

RECENT_DAYS = 10
"""Days before today that count as 'recent' (reanalysis and satellite products still lag)."""


class Emit(Protocol):
    """Reports one finished step of a job (becomes a PROGRESS event)."""

    async def __call__(
        self, progress: float, step: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        """``progress`` in percent [0-100], ``step`` machine-readable, ``message`` for people."""
        ...


class JobFailure(Exception):
    """The job cannot produce a result; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobCancelled(Exception):
    """The job's cancel flag was set while it ran."""


@dataclass(frozen=True)
class SpecProblem:
    """One reason a spec is refused: the field it concerns and why."""

    field: str
    message: str


def result_path(job_id: str) -> str:
    """Path of the job's result on the API (relative: workers do not know the public host)."""
    return f"/api/v1/jobs/{job_id}/result"


def today_utc() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def date_mode(start: date, end: date, *, today: date) -> str:
    """'historical', 'recent' (within RECENT_DAYS of today) or 'forecast' (ends after today)."""
    if end > today:
        return "forecast"
    if end >= today - timedelta(days=RECENT_DAYS):
        return "recent"
    return "historical"


def date_problems(start: date, end: date, settings: Settings) -> list[SpecProblem]:
    """Date order, then the span limit (checked even when other fields are invalid)."""
    if start > end:
        return [SpecProblem("start", f"start {start} is after end {end}")]
    days = (end - start).days + 1
    if days > settings.max_span_days:
        return [
            SpecProblem(
                "end", f"the range has {days} days; at most {settings.max_span_days} are allowed"
            )
        ]
    return []


def check_spec(
    spec: JobSpec, settings: Settings, *, today: date | None = None
) -> list[SpecProblem]:
    """Cross-field checks beyond the model's own: date order, span limit, days nobody can serve."""
    from evapo.sources import plan_sources

    if problems := date_problems(spec.start, spec.end, settings):
        return problems
    plan = plan_sources(
        spec.lat, spec.lon, spec.start, spec.end, sources=spec.sources, today=today or today_utc()
    )
    if plan.ok:
        return []
    runs = "; ".join(f"{first}..{last}: {reason}" for first, last, reason in plan.unservable)
    field = "sources" if spec.sources else "end"
    return [SpecProblem(field, f"no source can serve these days: {runs}")]


def _source_message(result: SourceResult) -> str:
    if result.series is None:
        reason = result.error.reason if result.error is not None else "no data"
        return f"{result.source} failed: {reason}"
    origin = "from cache" if result.from_cache else f"{result.requests} request(s)"
    return f"{result.source}: {len(result.series)} days ({origin}, {result.elapsed_s:.2f} s)"


def source_failures(results: dict[str, SourceResult]) -> dict[str, dict[str, str | None]]:
    """Per failed source: the days it should have served (``first``, ``last``), kind, reason."""
    failed: dict[str, dict[str, str | None]] = {}
    for name, result in results.items():
        if result.series is not None:
            continue
        error = result.error
        days = error.days if error is not None else None
        failed[name] = {
            "first": str(days[0]) if days else None,
            "last": str(days[1]) if days else None,
            "kind": error.kind if error is not None else "no_data",
            "reason": error.reason if error is not None else "no data",
        }
    return failed


async def run_pipeline(
    spec: JobSpec,
    *,
    emit: Emit,
    services: Services,
    today: date | None = None,
    failures: dict[str, dict[str, str | None]] | None = None,
) -> FusedSeries:
    """Compute the fused daily ET0 of ``spec``, emitting one PROGRESS per real step.

    ``failures``, when given, receives :func:`source_failures` of the fetch (a partial result).
    """
    from evapo.science.fusion import fuse_point
    from evapo.science.quality import check_daily
    from evapo.sources import SourceError, fetch_sources, plan_sources, resolve_elevation

    settings = services.settings
    today = today or today_utc()
    problems = check_spec(spec, settings, today=today)
    if problems:
        raise JobFailure("invalid", "; ".join(f"{p.field}: {p.message}" for p in problems))
    days = (spec.end - spec.start).days + 1
    mode = date_mode(spec.start, spec.end, today=today)
    await emit(2, "validate", f"{days} days {spec.start}..{spec.end} ({mode}) checked")

    plan = plan_sources(spec.lat, spec.lon, spec.start, spec.end, sources=spec.sources, today=today)
    planned = [name for name, span in plan.per_source.items() if span is not None]
    await emit(5, "plan", f"sources planned: {', '.join(planned)}", {"sources": planned})

    upstream = services.job_upstream()
    try:
        elevation, elevation_origin = await resolve_elevation(
            spec.lat, spec.lon, user_elevation=spec.elevation, settings=settings, client=upstream
        )
    except SourceError as exc:
        raise JobFailure("no_elevation", f"elevation unknown ({exc.reason}); give it") from exc
    await emit(8, "elevation", f"elevation {elevation:.0f} m ({elevation_origin})")

    done = 0

    async def on_done(result: SourceResult) -> None:
        nonlocal done
        done += 1
        metrics.record_source(result)
        data = {"source": result.source, "ok": result.series is not None}
        data |= {"from_cache": result.from_cache, "requests": result.requests}
        progress = 8 + 62 * done / max(len(planned), 1)
        await emit(progress, f"fetch:{result.source}", _source_message(result), data)

    results = await fetch_sources(
        spec.lat,
        spec.lon,
        spec.start,
        spec.end,
        plan=plan,
        settings=settings,
        cache=services.cache,
        on_done=on_done,
        upstream=upstream,
    )
    if failures is not None:
        failures.update(source_failures(results))
    fetched = {name: r.series for name, r in results.items() if r.series is not None}
    if not fetched:
        reasons = "; ".join(_source_message(r) for r in results.values())
        raise JobFailure("no_source", f"every source failed ({reasons})")

    def quality() -> tuple[dict[str, Any], int]:
        checked, issues = {}, 0
        for name, series in fetched.items():
            report = check_daily(series, lat_deg=spec.lat, elevation_m=elevation)
            checked[name], issues = report.series, issues + len(report.issues)
        return checked, issues

    checked, issues = await _compute(services, quality)
    await emit(75, "quality", f"quality checks on {len(checked)} source(s): {issues} issue(s)")

    fused = await _compute(
        services,
        fuse_point,
        checked,
        lat=spec.lat,
        lon=spec.lon,
        elevation_m=elevation,
        calibration=services.calibration,
        choice=spec.choice,
    )
    await emit(
        90,
        "fusion",
        f"fused {len(checked)} source(s) and computed {fused.eto_method} reference ET "
        f"({fused.method})",
        {"calibrated": bool(fused.calibrated), "eto_method": fused.eto_method},
    )
    return fused


async def _compute(services: Services, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run CPU work on the services' compute threads (the event loop stays responsive).

    Embedded, each piece starts once the API has no request or delivery in flight (bounded).
    """
    loop = asyncio.get_running_loop()
    work = functools.partial(fn, *args, **kwargs)
    if services.foreground is not None:
        work = functools.partial(_when_quiet, services.foreground.wait_quiet, work)
    return await loop.run_in_executor(services.compute, work)


def _when_quiet(wait_quiet: Callable[[], float], work: Callable[[], _T]) -> _T:
    wait_quiet()
    return work()


def _emitter(job_id: str, services: Services) -> Emit:
    last = time.perf_counter()

    async def emit(
        progress: float, step: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        nonlocal last
        now = time.perf_counter()
        metrics.STEP_SECONDS.labels(step=step.split(":", 1)[0]).observe(now - last)
        last = now
        await services.events.append(
            Progress(job_id=job_id, progress=progress, step=step, message=message, data=data)
        )

    return emit


def terminal_event(job: JobRecord) -> Event | None:
    """The terminal event matching a final job record (None while the job is open)."""
    message = job.message or ""
    match job.status:
        case JobStatus.SUCCEEDED:
            return Success(job_id=job.id, summary=job.summary or {}, result_url=result_path(job.id))
        case JobStatus.TIMED_OUT:
            return Timeout(job_id=job.id, message=message)
        case JobStatus.CANCELLED | JobStatus.FAILED:
            return Error(job_id=job.id, code=job.error_code or "failed", message=message)
    return None


async def ensure_terminal_event(job: JobRecord, services: Services) -> None:
    """Append the final job's terminal event unless its log already ends with one."""
    event = terminal_event(job)
    if event is not None:
        await _append_terminal(event, services)


async def _append_terminal(event: Event, services: Services) -> None:
    logged = await services.events.read(event.job_id)
    if not logged or not is_terminal(logged[-1]):
        await services.events.append(event)


async def _cancel_watch(job_id: str, services: Services) -> None:
    """Return once the job's cancel flag is set (local signal or store poll)."""
    from evapo.jobs.embedded import EmbeddedJobRunner

    runner = services.runner
    signal = runner.cancel_signal(job_id) if isinstance(runner, EmbeddedJobRunner) else None
    poll_s = services.settings.cancel_poll_s
    while True:  # the flag was read just before the job started: wait first, then re-read
        if signal is None:
            await asyncio.sleep(poll_s)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=poll_s)
        if await services.store.is_cancel_requested(job_id):
            return


async def _cancellable(
    job_id: str, work: Coroutine[Any, Any, FusedSeries], services: Services
) -> FusedSeries:
    pipeline = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_cancel_watch(job_id, services))
    try:
        await asyncio.wait({pipeline, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if pipeline.done():
            return pipeline.result()
        raise JobCancelled
    finally:
        for task in (pipeline, watcher):
            task.cancel()
        await asyncio.gather(pipeline, watcher, return_exceptions=True)


async def _end(job_id: str, status: JobStatus, code: str, message: str, services: Services) -> None:
    if await services.store.finish(job_id, status, error_code=code, message=message):
        metrics.JOBS_FINISHED.labels(status=status.value).inc()
    job = await services.store.get(job_id)
    if job is not None:
        await ensure_terminal_event(job, services)


async def execute_job(job_id: str, services: Services) -> None:
    """Run a stored job to its end: status, result rows and exactly one terminal event.

    Idempotent: a job already final only gets its terminal event re-appended if the log lacks
    it; a redelivered running job runs again, and ``store_result`` replaces rows in the same
    transaction that marks it succeeded, so rows are never duplicated.
    """
    jlog = log.bind(job_id=job_id)
    store = services.store
    job = await store.get(job_id)
    if job is None:
        jlog.error("job_unknown")
        return
    if job.status.final:
        await ensure_terminal_event(job, services)
        return
    if job.cancel_requested:
        await _end(
            job_id, JobStatus.CANCELLED, "cancelled", "cancelled before it started", services
        )
        return
    claimed = await store.claim(job_id)
    if claimed is None:
        latest = await store.get(job_id)
        if latest is not None:
            await ensure_terminal_event(latest, services)
        return
    jlog.info("job_started", attempt=claimed.attempts)
    started = time.perf_counter()
    emit = _emitter(job_id, services)
    deadline_s = services.settings.job_deadline_s
    failures: dict[str, dict[str, str | None]] = {}
    try:
        async with asyncio.timeout(deadline_s) as scope:
            work = run_pipeline(claimed.spec, emit=emit, services=services, failures=failures)
            fused = await _cancellable(job_id, work, services)
            rows, summary = await _compute(services, lambda: (fused.to_rows(), fused.summary()))
            # A partial result says which source failed for which days (empty when none did).
            summary["source_failures"] = failures
            await emit(95, "store", f"storing {len(rows)} daily rows")
            stored = await store.store_result(job_id, rows, summary)
    except JobCancelled:
        await _end(job_id, JobStatus.CANCELLED, "cancelled", "cancelled on request", services)
        jlog.info("job_cancelled")
        return
    except JobFailure as failure:
        await _end(job_id, JobStatus.FAILED, failure.code, failure.message, services)
        jlog.warning("job_failed", code=failure.code, reason=failure.message)
        return
    except TimeoutError:
        if not scope.expired():
            raise
        message = f"the job did not finish within its deadline of {deadline_s:g} s"
        await _end(job_id, JobStatus.TIMED_OUT, "timeout", message, services)
        jlog.warning("job_timed_out", deadline_s=deadline_s)
        return
    except Exception as exc:
        jlog.error(
            "job_crashed",
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
        )
        # The exception's text may hold internals (URLs, paths, values): it stays in the log.
        message = f"internal error ({type(exc).__name__}); the server log has the details"
        await _end(job_id, JobStatus.FAILED, "internal", message, services)
        return
    finally:
        _forget_cancel_signal(job_id, services)
    if stored:
        metrics.JOBS_FINISHED.labels(status=JobStatus.SUCCEEDED.value).inc()
        await _append_terminal(
            Success(job_id=job_id, summary=json_safe(summary), result_url=result_path(job_id)),
            services,
        )
    else:  # another delivery finished it first: its outcome, once
        latest = await store.get(job_id)
        if latest is not None:
            await ensure_terminal_event(latest, services)
    jlog.info("job_done", stored=stored, seconds=round(time.perf_counter() - started, 3))


def _forget_cancel_signal(job_id: str, services: Services) -> None:
    from evapo.jobs.embedded import EmbeddedJobRunner

    if isinstance(services.runner, EmbeddedJobRunner):
        services.runner.forget_cancel_signal(job_id)
