"""The dashboard's method selector in real Chromium: an ASCE tall job from click to download."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import EvapoServer, screenshot
from tests.e2e.test_web_dashboard import OpenPage, table_column, type_point, wait_results

pytestmark = pytest.mark.e2e


def _download(page: Page, button: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(button)
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def test_asce_tall_chosen_in_the_dashboard(open_page: OpenPage, evapo_server: EvapoServer) -> None:
    """Choose ASCE tall: the job is sent with it, and header, table and downloads say so."""
    page = open_page(evapo_server.url)
    type_point(page, "-8.35", "-45.9")
    expect(page.locator("#sources-ul")).to_be_visible()
    expect(page.locator("#method-hint")).to_be_hidden()
    page.get_by_role("radio", name="ASCE tall alfalfa (ETrs)", exact=True).check()
    expect(page.locator("#method-hint")).to_contain_text("not bias-corrected")

    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/jobs")
    ) as answer:
        page.click("#calc-btn")
    assert answer.value.status == 202, answer.value.text()
    sent = answer.value.request.post_data_json
    assert sent is not None and sent["method"] == "asce" and sent["reference"] == "tall"
    job_id = answer.value.json()["job_id"]

    dates = wait_results(page, days=7)
    expect(page.locator("#results-title")).to_contain_text(
        "Method: ASCE tall alfalfa (ETrs) [asce-tall-full]"
    )
    assert all("uncalibrated" in flags for flags in table_column(page, "flags"))
    status = evapo_server.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert status["eto_method"] == "asce-tall-full"
    screenshot(page, "method-asce-tall")

    name, payload = _download(page, "#dl-csv")
    assert name == f"evapo-{job_id}-asce-tall-full.csv"
    rows = list(csv.DictReader(io.StringIO(payload.decode("utf-8"))))
    assert [r["date"] for r in rows] == dates
    assert {r["method"] for r in rows} == {"asce-tall-full"}

    # Portuguese labels for the same choice and header.
    page.get_by_role("radio", name="PT", exact=True).check()
    expect(page.get_by_role("radio", name="ASCE cultura alta, alfafa (ETrs)")).to_be_checked()
    expect(page.locator("#results-title")).to_contain_text("Método: ASCE cultura alta")
