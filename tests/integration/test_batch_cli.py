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
from tests.integration.test_batch_embedded import follow

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


def test_ctrl_c_against_a_server_cancels_the_batch(fake: str, tmp_path: Path) -> None:
    import asyncio
    import re
    import signal
    import time

    import httpx2

    points = tmp_path / "points.csv"
    rows = [f"p{i},{-7.0 - 0.3 * i:.2f},{-47.0 + 0.3 * i:.2f},200" for i in range(10)]
    points.write_text("name,lat,lon,elevation\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        upstream_url=fake,
        region_scheduler=False,
    )
    control = httpx2.Client(base_url=fake)
    control.post("/_control/reset")
    # Every NASA POWER answer takes 3 s: the batch runs long enough to be interrupted.
    control.post("/_control/faults", json={"api": "nasa_power", "mode": "slow", "delay_s": 3})
    try:
        with run_in_thread(settings) as api:
            dates = ["--start", "2015-07-01", "--end", "2015-07-10"]
            command = [sys.executable, "-m", "evapo", "batch", str(points), *dates]
            proc = subprocess.Popen(
                [*command, "--server", api, "-o", str(out)],
                cwd=ROOT,
                env=child_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 120
            while not control.get("/_control/requests").json()["by_api"].get("nasa_power"):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            found = re.search(r"batch (\w+): cancel requested", err)
            assert found is not None, err
            ws = api.replace("http://", "ws://") + f"/ws/batches/{found.group(1)}"
            events, _ = asyncio.run(asyncio.wait_for(follow(ws), 60))
            with httpx2.Client(base_url=api) as http:
                status = http.get(f"/api/v1/batches/{found.group(1)}").json()
    finally:
        control.delete("/_control/faults")
        control.close()
    assert (events[-1]["type"], events[-1]["code"]) == ("ERROR", "cancelled")
    assert status["status"] == "cancelled" and status["cancel_requested"] is True
    assert status["points_skipped"] > 0
    assert not out.exists()


def test_method_options_of_a_local_batch(fake: str, tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text(CSV)
    out = tmp_path / "out.csv"
    env = {
        "EVAPO_UPSTREAM_URL": fake,
        "EVAPO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    args = (str(points), "--start", "2019-02-01", "--end", "2019-02-03", "-o", str(out))
    done = run_cli(*args, "--method", "asce", "--reference", "tall", env=env)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 9 and set(table["method"]) == {"asce-tall-full"}

    refused = run_cli(*args, "--reference", "tall", env=env)
    assert refused.returncode == 2
    assert "--reference" in refused.stderr and "FAO-56" in refused.stderr
