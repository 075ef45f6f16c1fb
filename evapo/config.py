"""One settings object, read from ``EVAPO_*`` environment variables and validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Real hosts of every upstream API; ``EVAPO_UPSTREAM_URL`` maps ``https://{host}{path}`` to
#: ``{EVAPO_UPSTREAM_URL}/{host}{path}``.
UPSTREAM_HOSTS: dict[str, str] = {
    "nasa_power": "power.larc.nasa.gov",
    "openmeteo_archive": "archive-api.open-meteo.com",
    "openmeteo_forecast": "api.open-meteo.com",
    "openmeteo_elevation": "api.open-meteo.com",
    "met_norway": "api.met.no",
    "nws": "api.weather.gov",
}


class Settings(BaseSettings):
    """Every setting of the product. Unsafe or malformed values are refused at start."""

    model_config = SettingsConfigDict(env_prefix="EVAPO_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    """``embedded`` (one process, SQLite) or ``distributed`` (Celery workers, Redis, PostgreSQL)."""
    host: str = "127.0.0.1"
    """Address ``evapo serve`` binds to."""
    port: int = Field(8000, ge=1, le=65535)
    """Port ``evapo serve`` listens on."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level logged."""
    log_json: bool = True
    """JSON log lines (services) instead of readable ones (terminal)."""

    database_url: str = "sqlite+aiosqlite:///./evapo.db"
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///path`` or ``postgresql+psycopg://...``."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for the job event streams (distributed mode)."""
    broker_url: str = "redis://127.0.0.1:6379/1"
    """Celery broker (``redis://`` or ``amqp://``), distributed mode only."""

    # Upstream APIs.
    upstream_url: str | None = None
    """Send every upstream request to ``{upstream_url}/{real host}{real path}`` (fake APIs)."""
    nasa_power_url: str = "https://power.larc.nasa.gov"
    """NASA POWER base URL."""
    openmeteo_archive_url: str = "https://archive-api.open-meteo.com"
    """Open-Meteo historical archive base URL."""
    openmeteo_forecast_url: str = "https://api.open-meteo.com"
    """Open-Meteo forecast base URL."""
    openmeteo_elevation_url: str = "https://api.open-meteo.com"
    """Open-Meteo elevation base URL."""
    met_norway_url: str = "https://api.met.no"
    """MET Norway base URL."""
    nws_url: str = "https://api.weather.gov"
    """US National Weather Service base URL."""
    user_agent: str = "evapo/0.1 (+https://github.com/evapo/evapo)"
    """User-Agent sent upstream (MET Norway refuses requests without one)."""
    upstream_timeout_s: float = Field(20.0, gt=0, le=300)
    """Timeout of one upstream request [s]."""
    upstream_retries: int = Field(3, ge=0, le=10)
    """Retries of a failed upstream request (with backoff)."""

    # Jobs.
    job_deadline_s: float = Field(300.0, gt=0, le=24 * 3600)
    """A job still running after this long [s] ends with TIMEOUT."""
    max_concurrent_jobs: int = Field(8, ge=1, le=1024)
    """Embedded mode: jobs running at once in the API process."""
    max_span_days: int = Field(366 * 31, ge=1)
    """Longest date range of one job [days]."""
    calibration_path: Path | None = None
    """Calibration artefact; the packaged default is used when unset."""
    anchors_path: Path | None = None
    """Anchors made with that artefact (``evapo calibrate --anchors``): days inside their period
    near their sites are corrected with the same day's reference. None: the artefact alone."""
    ws_heartbeat_s: float = Field(15.0, gt=0, le=3600)
    """Seconds without an event before a WebSocket sends HEARTBEAT."""
    cancel_poll_s: float = Field(0.5, gt=0, le=60)
    """How often a running job re-reads its cancel flag from the store [s]."""
    event_retention_jobs: int = Field(10_000, ge=10)
    """Embedded event log: jobs whose events are kept in memory (oldest finished dropped first)."""

    # Web.
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    """Map tile URL template of the dashboard."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser (CORS); exact ``scheme://host[:port]``."""

    # Limits (evapo.api.limits): per client address, per API process.
    submit_rate_per_min: float = Field(120.0, gt=0, le=1_000_000)
    """Job and batch submissions one client may make per minute (then 429 with Retry-After)."""
    submit_burst: int = Field(30, ge=1, le=1_000_000)
    """Submissions one client may make at once before the per-minute rate applies."""
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=1024**3)
    """Largest request body accepted [bytes] (then 413)."""
    ws_max_per_client: int = Field(50, ge=1, le=1_000_000)
    """WebSocket connections one client may hold open at once (then closed with 1013)."""

    # Distributed mode (Celery workers, Redis Streams).
    job_max_attempts: int = Field(3, ge=1, le=20)
    """Deliveries of one job before a worker gives up on it (its workers kept dying)."""
    stale_job_grace_s: float = Field(120.0, ge=1, le=24 * 3600)
    """A job still running this long [s] after its deadline lost its worker and is failed."""
    job_queue: str = Field("evapo.jobs", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    """Celery queue the API sends jobs to and workers consume by default."""
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    """``evapo worker`` serves Prometheus metrics of all its processes on this port when set."""

    # Batches and regions (evapo.batches, evapo.regions).
    batch_max_points: int = Field(1000, ge=1, le=100_000)
    """Most points one batch (or one region) may hold."""
    batch_concurrency: int = Field(3, ge=1, le=256)
    """Points computed at once by one process (embedded runner, or one worker task).

    The work is mostly CPU; each point in flight holds up to two database connections, so a
    value above ~3 only makes the default connection pool (5) open and close extra ones."""
    batch_chunk_points: int = Field(25, ge=1, le=1000)
    """Largest share of points per Celery task in distributed mode (their upstream requests are
    grouped); shares shrink toward the end of a batch (about 1/8 of the points left, at least a
    fifth of this) so that every worker stays busy until the batch ends."""
    batch_point_attempts: int = Field(2, ge=1, le=10)
    """Attempts per point before it is reported failed (each re-queued after a delay)."""
    batch_retry_delay_s: float = Field(1.0, ge=0, le=3600)
    """Delay before a failed point is tried again [s]."""
    region_refresh_s: float = Field(6 * 3600.0, ge=1, le=7 * 24 * 3600)
    """Interval between scheduled refreshes of every region's map [s]."""
    region_scheduler: bool = True
    """Embedded mode: run the in-process region scheduler in the API process."""
    batch_stall_s: float = Field(1800.0, ge=10, le=7 * 24 * 3600)
    """Distributed mode: a queued or running batch none of whose points was claimed, re-queued or
    finished for this long [s] lost its workers; the sweeper ends it ``timed_out`` (TIMEOUT
    event). Must exceed ``job_deadline_s`` (one point may take that long)."""
    batch_sweep_s: float = Field(60.0, ge=1, le=24 * 3600)
    """Distributed mode: interval of the stuck-batch sweep sent by ``evapo beat`` [s]; it also
    runs once when an API process or a worker starts."""

    @field_validator(
        "nasa_power_url",
        "openmeteo_archive_url",
        "openmeteo_forecast_url",
        "openmeteo_elevation_url",
        "met_norway_url",
        "nws_url",
        "upstream_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value.rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or "*" in origin:
                raise ValueError(
                    f"each origin must be an explicit http(s)://host[:port], got {origin!r}"
                )
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError(f"an origin has no path, query or fragment, got {origin!r}")
        return [origin.rstrip("/") for origin in value]

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+psycopg://")
        path = value.removeprefix("sqlite+aiosqlite://").lstrip("/")
        if value.startswith("sqlite") and path in ("", ":memory:"):
            raise ValueError(
                "in-memory SQLite is not supported: embedded jobs open their own connection "
                "on their own thread and would see another database; give a file path"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"must be a redis:// URL, got {value!r}")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
            raise ValueError(f"must be a redis:// or amqp:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _stall_above_deadline(self) -> Settings:
        if self.batch_stall_s <= self.job_deadline_s:
            raise ValueError(
                f"batch_stall_s ({self.batch_stall_s:g}) must exceed job_deadline_s "
                f"({self.job_deadline_s:g}): one point of a batch may run that long"
            )
        return self

    @model_validator(mode="after")
    def _distributed_needs_server_db(self) -> Settings:
        if self.mode == "distributed" and self.database_url.startswith("sqlite"):
            raise ValueError("database_url: distributed mode needs PostgreSQL, not SQLite")
        return self

    def api_base(self, api: str) -> str:
        """Base URL of one upstream API (``api`` is a key of :data:`UPSTREAM_HOSTS`)."""
        if self.upstream_url:
            return f"{self.upstream_url}/{UPSTREAM_HOSTS[api]}"
        return str(getattr(self, f"{api}_url"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
