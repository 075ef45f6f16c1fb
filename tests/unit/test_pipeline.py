"""Pipeline pieces that need no upstream: spec checks, date modes, idempotent job finishing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from evapo.config import Settings
from evapo.pipeline import check_spec, date_mode, execute_job, terminal_event
from evapo.services import Services, close_services, open_services
from evapo.store.jobs import JobSpec, JobStatus

TODAY = date(2026, 11, 28)


def _spec(**change: object) -> JobSpec:
    base: dict[str, object] = {
        "lat": -7.2,
        "lon": -44.6,
        "start": "2020-01-01",
        "end": "2020-12-31",
    }
    return JobSpec.model_validate(base | change)


@pytest.mark.parametrize(
    ("start", "end", "mode"),
    [
        (date(2020, 1, 1), date(2020, 12, 31), "historical"),
        (date(2026, 11, 1), date(2026, 11, 27), "recent"),
        (date(2026, 11, 20), date(2026, 12, 3), "forecast"),
    ],
)
def test_date_mode(start: date, end: date, mode: str) -> None:
    assert date_mode(start, end, today=TODAY) == mode


def test_check_spec() -> None:
    settings = Settings(max_span_days=400)
    assert check_spec(_spec(), settings, today=TODAY) == []
    [problem] = check_spec(_spec(start="2021-01-02"), settings, today=TODAY)
    assert problem.field == "start" and "after end" in problem.message
    [problem] = check_spec(_spec(end="2021-12-31"), settings, today=TODAY)
    assert problem.field == "end" and "731 days" in problem.message
    [problem] = check_spec(_spec(start="1980-01-01", end="1980-02-01"), settings, today=TODAY)
    assert problem.field == "end" and "no source can serve" in problem.message
    [problem] = check_spec(_spec(sources=["nws"]), settings, today=TODAY)
    assert problem.field == "sources" and "USA" in problem.message


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", upstream_url="http://127.0.0.1:9"
    )
    opened = await open_services(settings, runner=False)
    yield opened
    await close_services(opened)


async def test_finished_job_gets_its_terminal_event_once(services: Services) -> None:
    """A redelivered job whose result was stored (worker died before the event) only re-emits it."""
    await services.store.create("j", _spec())
    await services.store.claim("j")
    rows = [{"date": "2020-01-01", "eto_mm": 4.2, "eto_lo_mm": 3.9, "eto_hi_mm": 4.5, "flags": ""}]
    assert await services.store.store_result("j", rows, {"n_days": 1})
    for _ in range(2):
        await execute_job("j", services)
    events = await services.events.read("j")
    assert [e.type for e in events] == ["SUCCESS"]
    assert len(await services.store.result_rows("j")) == 1


async def test_cancel_before_start_ends_cancelled_without_running(services: Services) -> None:
    await services.store.create("j", _spec())
    await services.store.request_cancel("j")
    await execute_job("j", services)
    job = await services.store.get("j")
    assert job is not None and job.status is JobStatus.CANCELLED and job.attempts == 0
    [event] = await services.events.read("j")
    assert event.type == "ERROR" and event.code == "cancelled"


async def test_unknown_job_is_ignored(services: Services) -> None:
    await execute_job("nope", services)
    assert await services.events.read("nope") == []


async def test_terminal_event_matches_status(services: Services) -> None:
    await services.store.create("t", _spec())
    assert terminal_event(await services.store.get("t")) is None  # type: ignore[arg-type]
    await services.store.finish("t", JobStatus.TIMED_OUT, error_code="timeout", message="slow")
    event = terminal_event(await services.store.get("t"))  # type: ignore[arg-type]
    assert event is not None and event.type == "TIMEOUT" and event.message == "slow"
