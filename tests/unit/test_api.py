"""REST + WebSocket API in-process (TestClient): validation, routing, meta endpoints, 4404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from evapo.api.app import create_app
from evapo.config import Settings

VALID = {"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-12-31"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}",
        upstream_url="http://127.0.0.1:9",  # nothing listens: no job is run by these tests
        max_span_days=400,
    )
    with TestClient(create_app(settings, dashboard=False)) as test_client:
        yield test_client


FAR_FUTURE = (date.today() + timedelta(days=60)).isoformat()

INVALID = [
    ({"lat": 91}, "lat", "less than or equal to 90"),
    ({"lat": -90.5}, "lat", "greater than or equal to -90"),
    ({"lon": 180.1}, "lon", "less than or equal to 180"),
    ({"start": "2020/01/01"}, "start", "YYYY-MM-DD"),
    ({"end": "2020-02-30"}, "end", "date"),
    ({"start": "2021-01-01"}, "start", "after end"),
    ({"end": "2021-12-31"}, "end", "at most 400"),
    ({"sources": ["nasa_power", "bogus"]}, "sources", "unknown source"),
    ({"sources": []}, "sources", "at least one"),
    ({"start": "1950-01-01", "end": "1950-01-31"}, "end", "no source can serve"),
    ({"start": FAR_FUTURE, "end": FAR_FUTURE}, "end", "no source can serve"),
    ({"sources": ["nws"]}, "sources", "no source can serve"),
    ({"elevation": 12_000}, "elevation", "less than or equal to 9000"),
    ({"extra": 1}, "extra", "not permitted"),
]


@pytest.mark.parametrize(("change", "field", "why"), INVALID)
def test_invalid_input_is_422_naming_the_field(
    client: TestClient, change: dict[str, object], field: str, why: str
) -> None:
    before = client.get("/api/v1/jobs").json()["jobs"]
    response = client.post("/api/v1/jobs", json=VALID | change)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and why in e["msg"] for e in errors), errors
    assert client.get("/api/v1/jobs").json()["jobs"] == before


def test_several_bad_fields_are_all_named(client: TestClient) -> None:
    response = client.post("/api/v1/jobs", json={"lat": 100, "lon": -200, "start": "x"})
    fields = {e["loc"][-1] for e in response.json()["detail"]}
    assert fields == {"lat", "lon", "start", "end"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lat": 91, "start": "2021-01-01"}, {"lat": "less than", "start": "after end"}),
        ({"lon": 500, "end": "2021-12-31"}, {"lon": "less than", "end": "at most 400"}),
        ({"sources": [], "start": "2021-01-01"}, {"sources": "at least", "start": "after end"}),
        ({"lat": 91}, {"lat": "less than"}),
        ({"lat": 91, "start": "2021-01-01", "end": "nope"}, {"lat": "less than", "end": "date"}),
    ],
)
def test_date_problems_are_named_with_other_bad_fields(
    client: TestClient, change: dict[str, object], named: dict[str, str]
) -> None:
    before = client.get("/api/v1/jobs").json()["jobs"]
    response = client.post("/api/v1/jobs", json=VALID | change)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert {e["loc"][-1] for e in errors} == set(named), errors
    for field, why in named.items():
        assert any(e["loc"][-1] == field and why in e["msg"] for e in errors), errors
    assert client.get("/api/v1/jobs").json()["jobs"] == before


def test_unknown_api_paths_answer_json_404(client: TestClient) -> None:
    for method, path in (("GET", "/api/v1/nope"), ("POST", "/api/v2/jobs"), ("GET", "/api/")):
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert "no API route" in response.json()["detail"]


def test_unknown_job_is_404_everywhere(client: TestClient) -> None:
    assert client.get("/api/v1/jobs/abc").status_code == 404
    assert client.get("/api/v1/jobs/abc/result").status_code == 404
    assert client.delete("/api/v1/jobs/abc").status_code == 404


def test_unknown_job_socket_closes_4404(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws/jobs/nope") as ws,
    ):
        ws.receive_text()
    assert info.value.code == 4404


def test_health_ready_metrics_docs(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": True, "runner": True, "events": True}
    metrics = client.get("/metrics").text
    assert 'evapo_jobs{status="queued"} 0.0' in metrics
    assert "evapo_websockets_open" in metrics
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/result"} <= set(paths)


def test_message_schema_is_a_discriminated_union(client: TestClient) -> None:
    schema = client.get("/api/v1/schema/messages").json()
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {"PROGRESS", "SUCCESS", "ERROR", "TIMEOUT", "HEARTBEAT"}
    assert schema["discriminator"]["propertyName"] == "type"


def test_sources_for_a_point(client: TestClient) -> None:
    answer = client.get(
        "/api/v1/sources",
        params={"lat": -5.09, "lon": -42.8, "start": "2020-01-01", "end": "2020-12-31"},
    ).json()
    assert answer["ok"] is True
    assert answer["sources"]["nasa_power"] == {"first": "2020-01-01", "last": "2020-12-31"}
    assert answer["sources"]["nws"] is None and "USA" in answer["reasons"]["nws"]
    default = client.get("/api/v1/sources", params={"lat": 40, "lon": -100}).json()
    assert default["sources"]["nws"] is not None
    bad = client.get("/api/v1/sources", params={"lat": 95, "lon": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "lat"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_a_422_not_a_crash(client: TestClient, value: str) -> None:
    body = f'{{"lat": {value}, "lon": 0, "start": "2020-01-01", "end": "2020-01-02"}}'
    answer = client.post("/api/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "lat"]
    assert "finite number" in answer.json()["detail"][0]["msg"]
    query = client.get("/api/v1/sources", params={"lat": value.lower(), "lon": 0})
    assert query.status_code == 422 and query.json()["detail"][0]["loc"] == ["query", "lat"]


def test_final_job_socket_sends_its_outcome_even_past_the_log(client: TestClient) -> None:
    """A finished job whose events are gone (or all seen) still tells a late client its outcome."""
    from evapo.services import Services
    from evapo.store.jobs import JobSpec, JobStatus

    services: Services = client.app.state.services  # type: ignore[attr-defined]
    spec = JobSpec.model_validate(VALID)
    assert client.portal is not None
    client.portal.call(services.store.create, "old", spec)
    client.portal.call(
        lambda: services.store.finish("old", JobStatus.FAILED, error_code="x", message="gone")
    )
    with client.websocket_connect("/ws/jobs/old") as ws:
        first = ws.receive_json()
    assert (first["type"], first["seq"], first["message"]) == ("ERROR", 1, "gone")
    with client.websocket_connect("/ws/jobs/old?after=7") as ws:
        again = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    assert (again["type"], again["seq"]) == ("ERROR", 8)
    assert info.value.code == 1000


def test_job_ids_are_unique_random_v4_across_refills() -> None:
    from uuid import UUID

    from evapo.api.routes.jobs import _JobIds

    ids = _JobIds()
    drawn = [ids.next() for _ in range(3 * _JobIds.BATCH + 5)]
    assert len(set(drawn)) == len(drawn)
    assert all(len(i) == 32 and UUID(hex=i).version == 4 for i in drawn)
