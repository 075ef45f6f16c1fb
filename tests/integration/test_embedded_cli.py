"""``evapo submit`` against a real embedded server: progress, result file, refused input."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evapo.api.server import run_in_thread
from evapo.cli import app
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("cli") / "evapo.db"
    with fake_apis(shared_data) as fake:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", upstream_url=fake)
        with run_in_thread(settings) as url:
            yield url


def _submit(api: str, *extra: str) -> list[str]:
    return ["submit", "--server", api, "--lat", "-8.444", "--lon", "-43.863", *extra]


def test_submit_writes_the_csv_result(api: str, tmp_path: Path) -> None:
    out = tmp_path / "eto.csv"
    result = CliRunner().invoke(
        app, _submit(api, "--start", "2019-02-01", "--end", "2019-02-28", "-o", str(out))
    )
    assert result.exit_code == 0, result.output
    assert "submitted" in result.output and "ET0 total" in result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["date"] for r in rows][:2] == ["2019-02-01", "2019-02-02"] and len(rows) == 28
    assert all(float(r["eto_lo_mm"]) <= float(r["eto_mm"]) <= float(r["eto_hi_mm"]) for r in rows)


def test_submit_json_output(api: str, tmp_path: Path) -> None:
    import json

    out = tmp_path / "eto.json"
    result = CliRunner().invoke(
        app, _submit(api, "--start", "2019-03-01", "--end", "2019-03-05", "-o", str(out))
    )
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert len(body["rows"]) == 5 and body["summary"]["n_days"] == 5


def test_submit_refused_input_names_the_field(api: str) -> None:
    bad = ["--lat", "120", "--lon", "0", "--start", "2019-01-01", "--end", "2018-01-01"]
    result = CliRunner().invoke(app, ["submit", "--server", api, *bad])
    assert result.exit_code == 2
    assert "HTTP 422" in result.output and "lat: " in result.output


def test_submit_unreachable_server() -> None:
    result = CliRunner().invoke(
        app, _submit("http://127.0.0.1:9", "--start", "2019-01-01", "--end", "2019-01-02")
    )
    assert result.exit_code == 2 and "cannot reach" in result.output
