"""Schemathesis against the running app's own OpenAPI schema: no 5xx, every error is JSON.

The schema is the app's (``create_app().openapi()``, the one ``/openapi.json`` serves); requests go
to a real uvicorn server (embedded mode, SQLite, fake upstream APIs). Bounded: at most
``MAX_EXAMPLES`` generated cases per operation, small limits so accepted jobs stay cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from evapo.api.app import create_app
from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30
LIMITS: dict[str, Any] = {
    "region_scheduler": False,
    "max_span_days": 60,
    "batch_max_points": 3,
    "max_concurrent_jobs": 2,
    "submit_burst": 100_000,
    "submit_rate_per_min": 1_000_000,
    "upstream_retries": 0,
    "upstream_timeout_s": 5.0,
}

schema = schemathesis.openapi.from_dict(create_app(Settings(**LIMITS), dashboard=False).openapi())


@pytest.fixture(scope="module")
def api(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with fake_apis(shared_data) as fake:
        options = LIMITS | {
            "database_url": f"sqlite+aiosqlite:///{tmp / 'evapo.db'}",
            "upstream_url": fake,
        }
        with run_in_thread(Settings(**options)) as url:
            yield url


def check_answer(status: int, content_type: str, text: str, what: str) -> None:
    """No server error; every client error is a JSON object with a non-empty ``detail``."""
    assert status < 500, f"{what}: {status} {text[:500]}"
    if status >= 400:
        assert content_type.startswith("application/json"), f"{what}: {content_type} {text[:200]}"
        body = json.loads(text)
        assert isinstance(body, dict) and body.get("detail"), f"{what}: {text[:500]}"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_json_errors(case: Any, api: str) -> None:
    response = case.call(base_url=api, timeout=30)
    content_type = response.headers.get("content-type", "")
    if isinstance(content_type, list):  # schemathesis keeps every value of a header
        content_type = content_type[0] if content_type else ""
    check_answer(
        response.status_code,
        content_type,
        response.text,
        f"{case.method} {case.formatted_path}",
    )
