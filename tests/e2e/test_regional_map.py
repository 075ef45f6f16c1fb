"""Browser test of the regional ET0 map: coloured points, legend, date switch, computed-at line."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from evapo.web.regional import ETO_CLASSES
from tests.e2e.conftest import EvapoServer, screenshot

pytestmark = pytest.mark.e2e

REGION = {"bbox": {"lat_min": -9, "lat_max": -7, "lon_min": -48, "lon_max": -46}, "step_deg": 1}


def refreshed(server: EvapoServer, name: str, timeout_s: float = 90.0) -> str:
    """Define the region, refresh it now and wait until the run succeeded; return its id."""
    assert server.api("PUT", f"/api/v1/regions/{name}", json=REGION).status_code == 200
    answer = server.api("POST", f"/api/v1/regions/{name}/refresh")
    assert answer.status_code == 202, answer.text
    run_id = str(answer.json()["batch_id"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = server.api("GET", f"/api/v1/batches/{run_id}").json()["status"]
        if status not in ("queued", "running"):
            assert status == "succeeded", server.log_tail()
            return run_id
        time.sleep(0.2)
    raise AssertionError(f"region run {run_id} not finished after {timeout_s} s")


def test_regional_map_renders_coloured_points_and_legend(
    browser: Browser, evapo_server: EvapoServer
) -> None:
    run_id = refreshed(evapo_server, "e2e-box")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on(
            "console",
            lambda m: problems.append(m.text) if _is_problem(m) else None,
        )
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{evapo_server.url}/regional?region=e2e-box")
        points = page.locator("#regional-map circle.point")
        expect(points).to_have_count(9)
        colours = {c for _, c in ETO_CLASSES}
        fills = points.evaluate_all("els => els.map(e => e.getAttribute('fill'))")
        assert set(fills) <= colours, fills  # every point has an ET0 value and a class colour
        etos = [float(v) for v in points.evaluate_all("els => els.map(e => e.dataset.eto)")]
        assert all(0 < v < 15 for v in etos)
        expect(page.locator("#legend .legend-item")).to_have_count(len(ETO_CLASSES) + 1)
        expect(page.locator("#legend")).to_contain_text("ET0 (mm/day)")
        expect(page.locator("#computed-at")).to_contain_text("computed at")
        expect(page.locator("#stale")).to_be_hidden()
        buttons = page.locator("#date-switch button")
        expect(buttons).to_have_count(2)
        expect(buttons.nth(0)).to_have_class("active")
        shown = evapo_server.api("GET", "/api/v1/regions/e2e-box/map").json()
        assert shown["run"]["batch_id"] == run_id
        buttons.nth(1).click()
        expect(page.locator("#date-switch button.active")).to_have_text(shown["dates"][1])
        expect(points).to_have_count(9)
        screenshot(page, "regional-map")
    finally:
        context.close()
    assert problems == []


def _is_problem(message: ConsoleMessage) -> bool:
    return message.type in ("error", "warning", "assert")
