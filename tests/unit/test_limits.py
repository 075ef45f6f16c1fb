"""Limits and hardening without a server: rate limiter arithmetic, CORS settings, error shield,
outbound allow-list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from evapo.api.app import create_app
from evapo.api.errors import classify, job_id_in
from evapo.api.limits import RateLimiter
from evapo.config import Settings
from evapo.sources.http import Upstream, UpstreamError, reset_breakers
from evapo.sources.outbound import OutboundRefused, allowed_origins, check_url
from evapo.store.jobs import JobStore

SECRET = "s3cret-password-4711"


def test_rate_limiter_allows_a_burst_then_paces() -> None:
    limiter = RateLimiter(rate_per_min=60, burst=3)
    assert [limiter.acquire("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a", now=100.0)
    assert wait == pytest.approx(1.0)
    assert limiter.acquire("b", now=100.0) == 0.0, "another client has its own bucket"
    assert limiter.acquire("a", now=100.0 + wait) == 0.0
    assert limiter.acquire("a", now=100.0 + wait) > 0
    assert limiter.acquire("a", now=200.0) == 0.0, "an idle client gets its burst back"


def test_rate_limiter_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rate_per_min"):
        RateLimiter(rate_per_min=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate_per_min=1, burst=0)


@pytest.mark.parametrize(
    "origin", ["*", "https://*.example.org", "example.org", "https://a.org/path", "ftp://a.org"]
)
def test_cors_origins_must_be_explicit(origin: str) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins=[origin])


def test_cors_origin_trailing_slash_is_normalised() -> None:
    assert Settings(cors_origins=["https://a.org/"]).cors_origins == ["https://a.org"]


def test_classify_and_job_id() -> None:
    assert classify(OperationalError("SELECT 1", {}, Exception("gone")))[:2] == (503, "database")
    assert classify(ConnectionRefusedError())[0] == 503
    assert classify(KeyError("x")) == (500, "internal", "internal error")
    assert job_id_in("/api/v1/jobs/0123456789abcdef/result") == "0123456789abcdef"
    assert job_id_in("/health") is None


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'evapo.db'}",
        region_scheduler=False,
        max_body_bytes=2048,
        cors_origins=["https://farm.example"],
    )
    with TestClient(create_app(settings, dashboard=False)) as test_client:
        yield test_client


def test_unexpected_error_is_json_without_trace_or_secret(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(self: JobStore, job_id: str) -> None:
        raise RuntimeError(f"Traceback-ish detail with {SECRET}")

    monkeypatch.setattr(JobStore, "get", boom)
    with capture_logs() as logs:
        answer = client.get("/api/v1/jobs/0123456789abcdef")
    assert answer.status_code == 500
    body = answer.json()
    assert body["detail"] == "internal error"
    assert SECRET not in answer.text and "Traceback" not in answer.text
    failed = [e for e in logs if e["event"] == "request_failed"]
    assert failed and failed[0]["job_id"] == "0123456789abcdef"
    assert failed[0]["error_id"] == body["error_id"]


def test_database_error_is_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(self: JobStore, limit: int = 20) -> None:
        raise OperationalError("SELECT", {}, Exception(f"password={SECRET}"))

    monkeypatch.setattr(JobStore, "list_recent", down)
    answer = client.get("/api/v1/jobs")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "database" in answer.json()["detail"]
    assert SECRET not in answer.text


def test_body_over_the_cap_is_413(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/jobs",
        content=b"{" + b" " * 4096 + b"}",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert "at most 2048 bytes" in answer.json()["detail"]


def test_cors_preflight_only_for_configured_origin(client: TestClient) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    good = client.options("/api/v1/jobs", headers=ask | {"Origin": "https://farm.example"})
    assert good.headers["access-control-allow-origin"] == "https://farm.example"
    bad = client.options("/api/v1/jobs", headers=ask | {"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers


def test_allowed_origins_come_from_settings_only() -> None:
    settings = Settings(upstream_url="http://127.0.0.1:9100")
    assert allowed_origins(settings) == {("http", "127.0.0.1", 9100)}
    default = allowed_origins(Settings())
    assert ("https", "power.larc.nasa.gov", 443) in default
    assert ("https", "api.weather.gov", 443) in default
    check_url("https://api.met.no/weatherapi/x", default)
    for url in (
        "https://evil.example/",
        "http://power.larc.nasa.gov/",  # right host, wrong scheme/port
        "https://api.met.no:8443/",
        "http://169.254.169.254/latest/meta-data/",
        "https://power.larc.nasa.gov.evil.example/",
    ):
        with pytest.raises(OutboundRefused, match="refused"):
            check_url(url, default)


async def test_upstream_client_refuses_foreign_hosts() -> None:
    """Even the raw client (no API name) cannot reach a host outside the allow-list."""
    reset_breakers()
    async with Upstream(Settings(upstream_url="http://127.0.0.1:1")) as upstream:
        with pytest.raises(OutboundRefused):
            await upstream.client.get("http://example.org/")
        with pytest.raises(UpstreamError) as failure:
            upstream.settings = upstream.settings.model_copy(
                update={"upstream_url": "http://127.0.0.1:2"}
            )
            await upstream.get_json("nasa_power", "/api/temporal/daily/point")
        assert failure.value.kind == "refused_host"
    reset_breakers()


def test_transport_level_guard_sees_every_request() -> None:
    """The guard is a request hook of the client, so no code path can bypass it."""
    upstream = Upstream(Settings())
    hooks = upstream.client.event_hooks["request"]
    assert len(hooks) == 1


async def test_crashed_job_tells_the_client_nothing_internal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that crashes ends ERROR 'internal' without the exception's text (it is logged)."""
    from evapo import pipeline
    from evapo.services import close_services, open_services
    from evapo.store.jobs import JobSpec

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"connect to postgresql://evapo:{SECRET}@db failed")

    monkeypatch.setattr(pipeline, "run_pipeline", crash)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'evapo.db'}")
    services = await open_services(settings, runner=False)
    try:
        spec = JobSpec.model_validate(
            {"lat": -7.2, "lon": -44.5, "start": "2019-01-01", "end": "2019-01-31"}
        )
        await services.store.create("crashjob0001", spec)
        with capture_logs() as logs:
            await pipeline.execute_job("crashjob0001", services)
        job = await services.store.get("crashjob0001")
        events = await services.events.read("crashjob0001")
    finally:
        await close_services(services)
    assert job is not None and job.error_code == "internal"
    assert job.message is not None and SECRET not in job.message
    assert "RuntimeError" in job.message
    assert SECRET not in events[-1].model_dump_json()
    crashed = [e for e in logs if e["event"] == "job_crashed"]
    assert crashed and SECRET in crashed[0]["error"], "the details stay in the log"
