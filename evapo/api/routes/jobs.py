"""Job routes: submit, status, result (JSON/CSV), cancel, recent list."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from evapo.api import metrics
from evapo.api.deps import JobDep, RunnerDep, ServicesDep, StoreDep
from evapo.api.models import JobAccepted, JobCreate, JobList, JobProblem, JobPublic, JobResult
from evapo.events.messages import Progress
from evapo.logging import get_logger
from evapo.pipeline import check_spec, result_path
from evapo.services import Services
from evapo.store.jobs import JobRecord, JobStatus, json_safe

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
log = get_logger(__name__)


class _JobIds:
    """Random (version 4) job ids from the OS's CSPRNG, read 256 at a time.

    One ``getrandom`` call per 256 submissions instead of one each (a system call releases the
    GIL, and getting it back can cost milliseconds while jobs run). Refilled after a fork.
    """

    BATCH = 256

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._pid = os.getpid()

    def next(self) -> str:
        """A fresh job id (32 hex digits)."""
        if not self._ids or self._pid != os.getpid():
            raw = os.urandom(16 * self.BATCH)
            self._ids = [UUID(bytes=raw[i : i + 16], version=4).hex for i in range(0, len(raw), 16)]
            self._pid = os.getpid()
        return self._ids.pop()


_job_ids = _JobIds()


def _ws(base: str) -> str:
    """The WebSocket form of an ``http(s)://`` base URL."""
    return "ws" + base[4:] if base.startswith("http") else base


async def _public(job: JobRecord, services: Services) -> JobPublic:
    progress = [e for e in await services.events.read(job.id) if isinstance(e, Progress)]
    last = progress[-1] if progress else None
    error = None
    if job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED):
        error = JobProblem(code=job.error_code or job.status.value, message=job.message or "")
    return JobPublic(
        job_id=job.id,
        status=job.status,
        spec=job.spec,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        progress=100.0 if job.status is JobStatus.SUCCEEDED else (last and last.progress),
        step=last.step if last else None,
        message=last.message if last else None,
        error=error,
        summary=job.summary,
        result_url=result_path(job.id) if job.status is JobStatus.SUCCEEDED else None,
    )


@router.post("", status_code=202, summary="Submit a job (answers at once)")
async def submit_job(body: JobCreate, request: Request) -> JobAccepted:
    """Validate, store and queue a job; follow it on ``ws_url``.

    A valid submission is usually answered by :mod:`evapo.api.fastpath` with the same functions;
    this route answers the rest (its errors are the 422s clients see).
    """
    services: Services = request.app.state.services  # no dependency resolution: the hot path
    if services.runner is None:
        raise HTTPException(503, "no job runner in this process")
    if problems := check_spec(body, services.settings):
        raise RequestValidationError(
            [{"loc": ("body", p.field), "msg": p.message, "type": "value_error"} for p in problems]
        )
    client = request.client.host if request.client else None
    job_id = await accept_job(services, body, client)
    base = str(request.base_url).rstrip("/")
    return accepted(base, job_id)


async def accept_job(services: Services, spec: JobCreate, client: str | None) -> str:
    """Store and queue a checked job (``services.runner`` set); its new id."""
    assert services.runner is not None
    job_id = _job_ids.next()
    await services.store.create(job_id, spec)
    if services.recent_jobs is not None:
        services.recent_jobs.add(job_id)
    await services.runner.submit(job_id)
    metrics.JOBS_SUBMITTED.inc()
    log.info("job_submitted", job_id=job_id, client=client, days=(spec.end - spec.start).days + 1)
    return job_id


def accepted(base: str, job_id: str) -> JobAccepted:
    """Absolute URLs of the job under ``base``, the server as the request reached it."""
    return JobAccepted(
        job_id=job_id,
        status_url=f"{base}/api/v1/jobs/{job_id}",
        ws_url=f"{_ws(base)}/ws/jobs/{job_id}",
        result_url=f"{base}{result_path(job_id)}",
    )


@router.get("", summary="Recent jobs, newest first")
async def list_jobs(services: ServicesDep, limit: int = Query(20, ge=1, le=200)) -> JobList:
    """The most recent jobs."""
    jobs = await services.store.list_recent(limit)
    return JobList(jobs=[await _public(job, services) for job in jobs])


@router.get("/{job_id}", summary="A job's status, last progress and summary")
async def get_job(job: JobDep, services: ServicesDep) -> JobPublic:
    """Status of one job."""
    return await _public(job, services)


def _csv(rows: list[dict[str, Any]], method: str) -> str:
    """The rows as CSV, each saying which reference ET ``method`` made it (last column)."""
    columns = [*dict.fromkeys(key for row in rows for key in row), "method"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row | {"method": method} for row in rows)
    return out.getvalue()


@router.get(
    "/{job_id}/result",
    summary="A succeeded job's daily rows as JSON or CSV",
    response_class=Response,
    responses={
        200: {"model": JobResult, "content": {"text/csv": {}}},
        409: {"description": "The job has not succeeded (no result)."},
    },
)
async def get_result(
    job: JobDep, store: StoreDep, format: Literal["json", "csv"] = "json"
) -> Response:
    """Daily ET0 with its band, the fused weather, per-source ET0 and flags."""
    if job.status is not JobStatus.SUCCEEDED:
        raise HTTPException(409, f"job {job.id} has no result: it is {job.status.value}")
    if format == "csv":
        method = (job.summary or {}).get("eto_method") or job.spec.choice.label
        text = await asyncio.to_thread(_csv, await store.result_rows(job.id), method)
        headers = {"Content-Disposition": f'attachment; filename="evapo-{job.id}.csv"'}
        return Response(text, media_type="text/csv", headers=headers)
    rows = ",".join(await store.result_json_rows(job.id))
    head = json.dumps({"job_id": job.id, "summary": json_safe(job.summary or {})})
    return Response(f'{head[:-1]},"rows":[{rows}]}}', media_type="application/json")


@router.delete("/{job_id}", status_code=202, summary="Cancel a queued or running job")
async def cancel_job(job: JobDep, store: StoreDep, runner: RunnerDep) -> dict[str, Any]:
    """Set the job's cancel flag; its log ends with ERROR code 'cancelled'."""
    if job.status.final:
        raise HTTPException(409, f"job {job.id} is already {job.status.value}")
    await store.request_cancel(job.id)
    await runner.cancel(job.id)
    return {"job_id": job.id, "cancel_requested": True}
