"""Embedded mode end to end with the ASCE tall reference: API, client and ``evapo submit``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evapo.api.server import run_in_thread
from evapo.cli import app
from evapo.client import EvapoClient
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis

pytestmark = pytest.mark.integration

URUCUI: dict[str, Any] = {
    "lat": -7.2295,
    "lon": -44.5603,
    "start": "2019-01-01",
    "end": "2019-03-31",
}


@pytest.fixture(scope="module")
def api(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("api")
    with fake_apis(shared_data) as fake:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp / 'evapo.db'}",
            upstream_url=fake,
            upstream_retries=0,
            upstream_timeout_s=5.0,
        )
        with run_in_thread(settings) as url:
            yield url


async def test_asce_tall_job_says_its_method_differs_and_is_uncalibrated(api: str) -> None:
    async with EvapoClient(api) as client:
        grass = (await client.submit(**URUCUI)).job_id
        tall = (await client.submit(**URUCUI, method="asce", reference="tall")).job_id
        final_grass = await client.follow(grass)
        final_tall = await client.follow(tall)
        assert final_grass.type == final_tall.type == "SUCCESS"
        status = await client.status(tall)
        result_grass = await client.result(grass)
        result_tall = await client.result(tall)
        csv_tall = await client.result(tall, "csv")
    assert status["eto_method"] == "asce-tall-full"
    assert status["spec"]["method"] == "asce" and status["spec"]["reference"] == "tall"
    assert final_tall.type == "SUCCESS" and final_tall.summary["eto_method"] == "asce-tall-full"
    assert result_tall["summary"]["eto_method"] == "asce-tall-full"
    assert result_grass["summary"]["eto_method"] == "fao56"
    assert result_tall["summary"]["calibrated"] is False
    assert result_grass["summary"]["calibrated"] is True
    rows_g, rows_t = result_grass["rows"], result_tall["rows"]
    assert len(rows_g) == len(rows_t) == 90
    assert all("uncalibrated" in row["flags"] for row in rows_t)
    assert not any("uncalibrated" in row["flags"] for row in rows_g)
    # Tall alfalfa ETr is well above grass ETo over the season, per source and fused.
    for key in ("eto_nasa_power_mm", "eto_openmeteo_archive_mm", "eto_mm"):
        grass_mean = sum(r[key] for r in rows_g) / 90
        assert sum(r[key] for r in rows_t) / 90 > 1.05 * grass_mean, key
    table = list(csv.DictReader(io.StringIO(csv_tall)))
    assert len(table) == 90 and {row["method"] for row in table} == {"asce-tall-full"}


def test_evapo_submit_takes_the_method_options(api: str, tmp_path: Path) -> None:
    out = tmp_path / "tall.csv"
    args = ["submit", "--server", api, "--lat", "-7.2295", "--lon", "-44.5603"]
    args += ["--start", "2019-02-01", "--end", "2019-02-10", "-o", str(out)]
    done = CliRunner().invoke(app, [*args, "--method", "asce", "--reference", "tall"])
    assert done.exit_code == 0, done.output
    assert "asce-tall-full" in done.output
    table = list(csv.DictReader(out.open()))
    assert len(table) == 10 and {row["method"] for row in table} == {"asce-tall-full"}

    refused = CliRunner().invoke(app, [*args, "--reference", "tall"])
    assert refused.exit_code == 2
    assert "reference" in refused.output and "FAO-56 defines only" in refused.output
