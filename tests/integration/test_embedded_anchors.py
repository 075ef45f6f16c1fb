"""Embedded server with anchors: jobs near the reference sites are corrected with their day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evapo.api.server import run_in_thread
from evapo.calibration import fit_calibration, load_calibration
from evapo.client import EvapoClient
from evapo.validation import read_reference

from .embedded_support import embedded_settings

pytestmark = pytest.mark.integration

URUCUI = {"lat": -7.2295, "lon": -44.5603, "start": "2019-01-01", "end": "2019-01-31"}


@pytest.fixture(scope="module")
def servers(
    shared_data: Path, fake: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One server with the packaged artefact and the shared reference's anchors, one without."""
    tmp = tmp_path_factory.mktemp("anchors")
    anchors = fit_calibration(read_reference(shared_data)).anchors
    assert anchors is not None
    # Fitting is deterministic: these anchors belong to the packaged artefact.
    assert anchors.calibration_id == load_calibration().id
    anchors.save(tmp / "anchors.npz")
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    with_anchors = embedded_settings(tmp / "a", fake, anchors_path=tmp / "anchors.npz")
    with (
        run_in_thread(with_anchors) as anchored_url,
        run_in_thread(embedded_settings(tmp / "b", fake)) as plain_url,
    ):
        yield anchored_url, plain_url


async def test_a_job_near_reference_sites_is_anchored(servers: tuple[str, str]) -> None:
    results = []
    for url in servers:
        async with EvapoClient(url) as client:
            job = (await client.submit(**URUCUI)).job_id
            assert (await client.follow(job)).type == "SUCCESS"
            results.append(await client.result(job))
    anchored, plain = results
    assert anchored["summary"]["method"].endswith("+anchors")
    assert "+anchors" not in plain["summary"]["method"]
    assert all("anchored" in row["flags"] for row in anchored["rows"])
    assert not any("anchored" in row["flags"] for row in plain["rows"])
    # Same sources, same artefact: anchoring moves the values and narrows the band.
    pairs = list(zip(anchored["rows"], plain["rows"], strict=True))
    assert any(abs(a["eto_mm"] - p["eto_mm"]) > 0.05 for a, p in pairs)
    width = sum(a["eto_hi_mm"] - a["eto_lo_mm"] for a, _ in pairs)
    assert width < 0.85 * sum(p["eto_hi_mm"] - p["eto_lo_mm"] for _, p in pairs)
