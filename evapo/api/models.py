"""Request and response models of the REST API (the WebSocket messages live in evapo.events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from evapo.store.jobs import JobSpec, JobStatus


class JobCreate(JobSpec):
    """Body of ``POST /api/v1/jobs``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-12-31"}]
        }
    )


class JobAccepted(BaseModel):
    """Answer of ``POST /api/v1/jobs`` (202): where to follow and fetch the job."""

    job_id: str
    status_url: str
    ws_url: str
    result_url: str


class JobProblem(BaseModel):
    """Why a job failed, timed out or was cancelled."""

    code: str
    message: str


class JobPublic(BaseModel):
    """A job as shown by ``GET /api/v1/jobs/{id}``."""

    job_id: str
    status: JobStatus
    spec: JobSpec
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    progress: float | None = Field(description="Last reported progress [%].")
    step: str | None = Field(description="Last reported step.")
    message: str | None = Field(description="Last reported step message.")
    error: JobProblem | None
    summary: dict[str, Any] | None = Field(description="Result summary once succeeded.")
    result_url: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def eto_method(self) -> str:
        """Label of the reference ET method the job computes with (e.g. ``asce-tall-full``)."""
        return self.spec.choice.label


class JobList(BaseModel):
    """Recent jobs, newest first."""

    jobs: list[JobPublic]


class JobResult(BaseModel):
    """A succeeded job's daily rows (date, ET0 and band, weather, per-source ET0, flags)."""

    job_id: str
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


class SourceSpan(BaseModel):
    """Days one source would serve."""

    first: date
    last: date


class UnservableRun(BaseModel):
    """A run of days no source can serve, and why."""

    first: date
    last: date
    reason: str


class SourcesAnswer(BaseModel):
    """Which sources can serve a point (and a date range)."""

    lat: float
    lon: float
    start: date
    end: date
    ok: bool
    sources: dict[str, SourceSpan | None]
    reasons: dict[str, str]
    unservable: list[UnservableRun]


class Health(BaseModel):
    """Liveness or readiness answer."""

    status: str
    checks: dict[str, bool] = Field(default_factory=dict)
    mode: str | None = None
