"""Distributed mode keeps the method choice: API -> PostgreSQL spec -> Celery worker -> result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from evapo.api.server import run_in_thread
from evapo.client import EvapoClient
from evapo.fakeapi.server import run_in_thread as run_fake_apis
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import WorkerProcess, settings_env, temp_database
from tests.integration.test_distributed import REDIS_BROKER, make_settings

pytestmark = pytest.mark.integration

ARAGUAINA: dict[str, Any] = {
    "lat": -7.19,
    "lon": -48.21,
    "start": "2019-07-01",
    "end": "2019-07-31",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("distributed-method")
    with temp_database() as db_url, run_fake_apis(shared_data) as upstream:
        upgrade_head(db_url)
        settings = make_settings(db_url, upstream, REDIS_BROKER)
        worker = WorkerProcess("wm", settings_env(settings), log_dir)
        try:
            worker.wait_ready()
            with run_in_thread(settings) as url:
                yield url
        finally:
            worker.stop()


async def test_worker_computes_the_chosen_method(api: str) -> None:
    async with EvapoClient(api) as client:
        tall = await client.submit(**ARAGUAINA, method="asce", reference="tall", rso="simple")
        short = await client.submit(**ARAGUAINA, method="asce")
        assert (await client.follow(tall.job_id)).type == "SUCCESS"
        assert (await client.follow(short.job_id)).type == "SUCCESS"
        status = await client.status(tall.job_id)
        result_tall = await client.result(tall.job_id)
        result_short = await client.result(short.job_id)
    assert status["eto_method"] == "asce-tall-simple"
    assert status["spec"]["rso"] == "simple"
    assert result_tall["summary"]["eto_method"] == "asce-tall-simple"
    assert result_short["summary"]["eto_method"] == "asce-short-full"
    assert result_short["summary"]["calibrated"] is True
    assert all("uncalibrated" in row["flags"] for row in result_tall["rows"])
    mean = {
        name: sum(r["eto_mm"] for r in res["rows"]) / len(res["rows"])
        for name, res in (("tall", result_tall), ("short", result_short))
    }
    assert mean["tall"] > 1.2 * mean["short"]  # dry-season alfalfa ETr well above grass ETo
    async with httpx2.AsyncClient(base_url=api) as http:
        bad = await http.post("/api/v1/jobs", json=ARAGUAINA | {"rso": "full"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "rso"]
