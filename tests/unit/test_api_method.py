"""The reference ET method choice on POST /api/v1/jobs: defaults, 422 naming the field, status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evapo.api.app import create_app
from evapo.config import Settings

VALID = {"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-01-31"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        upstream_url="http://127.0.0.1:9",  # nothing listens: jobs fail, their specs stay
        upstream_retries=0,
    )
    with TestClient(create_app(settings, dashboard=False)) as test_client:
        yield test_client


BAD = [
    ({"reference": "tall"}, "reference", "FAO-56 defines only the short grass reference"),
    ({"method": "fao56", "reference": "tall"}, "reference", "use method 'asce'"),
    ({"rso": "full"}, "rso", "FAO-56 uses the simple clear-sky radiation"),
    ({"method": "penman"}, "method", "'fao56' or 'asce'"),
    ({"method": "asce", "reference": "alfalfa"}, "reference", "'short' or 'tall'"),
    ({"method": "asce", "rso": "exact"}, "rso", "'simple' or 'full'"),
]


@pytest.mark.parametrize(("change", "field", "why"), BAD)
def test_bad_method_choice_is_422_naming_the_field(
    client: TestClient, change: dict[str, str], field: str, why: str
) -> None:
    response = client.post("/api/v1/jobs", json=VALID | change)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and why in e["msg"] for e in errors), errors
    assert client.get("/api/v1/jobs").json()["jobs"] == []


@pytest.mark.parametrize(
    ("change", "label"),
    [
        ({}, "fao56"),
        ({"method": "fao56", "rso": "simple"}, "fao56"),
        ({"method": "asce"}, "asce-short-full"),
        ({"method": "asce", "reference": "tall"}, "asce-tall-full"),
        ({"method": "asce", "reference": "tall", "rso": "simple"}, "asce-tall-simple"),
    ],
)
def test_the_choice_is_stored_with_the_job_and_shown_in_its_status(
    client: TestClient, change: dict[str, str], label: str
) -> None:
    response = client.post("/api/v1/jobs", json=VALID | change)
    assert response.status_code == 202, response.text
    status = client.get(response.json()["status_url"]).json()
    assert status["eto_method"] == label
    expected = {"method": "fao56", "reference": "short", "rso": None} | change
    assert {k: status["spec"][k] for k in ("method", "reference", "rso")} == expected
    listed = client.get("/api/v1/jobs").json()["jobs"]
    assert [job["eto_method"] for job in listed] == [label]


def test_openapi_documents_the_choices(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["JobCreate"]
    props = schema["properties"]
    assert props["method"]["enum"] == ["fao56", "asce"]
    assert props["reference"]["enum"] == ["short", "tall"]
    assert "required" not in schema or "method" not in schema["required"]
