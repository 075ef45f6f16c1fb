"""``evapo batch``: in-process and against a server, as a real subprocess, fake upstream."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from evapo.api.server import run_in_thread
from evapo.config import Settings
from evapo.fakeapi.server import run_in_thread as fake_apis
from tests.integration.distributed_support import ROOT, child_env

pytestmark = pytest.mark.integration

CSV = (
    "name,lat,lon,elevation\n"
    "Araguaina,-7.19,-48.21,227\n"
    "Balsas,-7.53,-46.04,\n"
    "Urucui,-7.23,-44.56,\n"
)


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    with fake_apis(shared_data) as url:
        yield url


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evapo", "batch", *args],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_local_batch_writes_parquet(fake: str, tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text(CSV)
    out = tmp_path / "out.parquet"
    env = {
        "EVAPO_UPSTREAM_URL": fake,
        "EVAPO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    args = (str(points), "--start", "2019-02-01", "--end", "2019-02-10", "-o", str(out))
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 point(s) done, 0 failed" in done.stderr
    assert "3/3" in done.stderr  # the progress bar reached the end
    table = pd.read_parquet(out)
    assert len(table) == 30
    assert list(table["name"].unique()) == ["Araguaina", "Balsas", "Urucui"]
    assert table["eto_mm"].between(0.5, 12).all()

    bad = run_cli(*args[:-1], str(tmp_path / "out.xlsx"), env=env)
    assert bad.returncode == 2
    assert "-o/--output" in bad.stderr


def test_batch_against_a_server_writes_csv(fake: str, tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text(CSV)
    out = tmp_path / "out.csv"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        upstream_url=fake,
        region_scheduler=False,
    )
    with run_in_thread(settings) as api:
        done = run_cli(
            str(points),
            "--start",
            "2019-02-01",
            "--end",
            "2019-02-10",
            "--server",
            api,
            "-o",
            str(out),
            env={},
        )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 30
    assert set(table["point_status"]) == {"succeeded"}
