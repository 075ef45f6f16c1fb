"""The dashboard in real headless Chromium: the six scenarios of issue 6, one test each."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, Request, WebSocket, WebSocketRoute, expect

from tests.e2e.conftest import ConsoleRecord, EvapoServer, FakeUpstream, screenshot

pytestmark = pytest.mark.e2e

OpenPage = Callable[[str], Page]
#: Per-API answer delays [s] that make each fetch step a separate, visible progress value.
SLOW = {"nasa_power": 0.6, "openmeteo_archive": 1.2, "openmeteo_forecast": 1.8}
VERY_SLOW = {"nasa_power": 2.0, "openmeteo_archive": 4.0, "openmeteo_forecast": 6.0}


def _is_submit(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/api/v1/jobs")


def pick_on_map(page: Page, x: int, y: int) -> tuple[float, float]:
    """Click the map; the marker and the coordinate fields follow; sources are listed."""
    page.locator(".leaflet-container").click(position={"x": x, "y": y})
    expect(page.locator("#lat")).not_to_have_value("")
    expect(page.locator("#marker-layer .leaflet-marker-icon, .leaflet-marker-icon")).to_have_count(
        1
    )
    expect(page.locator("#sources-ul")).to_be_visible()
    return float(page.input_value("#lat")), float(page.input_value("#lon"))


def type_point(page: Page, lat: str, lon: str) -> None:
    """Type coordinates into the fields (decimal or DMS) and leave the field."""
    page.fill("#lat", lat)
    page.fill("#lon", lon)
    page.press("#lon", "Tab")


def calculate(page: Page) -> str:
    """Press Calculate; return the id of the job the page submitted."""
    with page.expect_response(lambda r: _is_submit(r.request)) as answer:
        page.click("#calc-btn")
    assert answer.value.status == 202, answer.value.text()
    job_id: str = answer.value.json()["job_id"]
    return job_id


def wait_results(page: Page, days: int) -> list[str]:
    """Wait for the summary, both charts and the daily table; return the table's dates."""
    expect(page.locator("#summary-cards .card")).to_have_count(6)
    expect(page.locator("#chart-eto .main-svg").first).to_be_visible()
    expect(page.locator("#chart-cum .main-svg").first).to_be_visible()
    cells = page.locator(
        '#daily-table .ag-center-cols-container [col-id="date"], '
        '#daily-table .ag-pinned-left-cols-container [col-id="date"]'
    )
    expect(cells).to_have_count(days)
    return table_column(page, "date")


def table_column(page: Page, column: str) -> list[str]:
    """The displayed values of one grid column, in row order."""
    cells = page.locator(f'#daily-table .ag-row [col-id="{column}"]')
    by_row: dict[int, str] = {}
    for cell in cells.all():
        index = int(cell.evaluate("c => c.closest('.ag-row').getAttribute('row-index')"))
        by_row[index] = cell.inner_text().strip()
    return [by_row[i] for i in sorted(by_row)]


def progress_seen(page: Page) -> list[float]:
    """Every distinct value the progress bar showed, in order."""
    values: list[str] = page.evaluate("window.__evapoProgress")
    return [float(v) for v in values]


def download(page: Page, button: str) -> bytes:
    """Click a download button; return the file's bytes."""
    with page.expect_download() as info:
        page.click(button)
    return Path(info.value.path()).read_bytes()


def job_sockets(page: Page) -> list[WebSocket]:
    """Collect the job WebSockets the page opens from now on."""
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws) if "/ws/jobs/" in ws.url else None)
    return sockets


def api_result(server: EvapoServer, job_id: str) -> dict[str, Any]:
    """The job's result as the API serves it."""
    answer = server.api("GET", f"/api/v1/jobs/{job_id}/result?format=json")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def happy_path(
    page: Page, server: EvapoServer, fake: FakeUpstream, name: str, at: tuple[int, int]
) -> None:
    """Scenario 1's steps (also used by scenario 6 when it runs alone), clicking the map at
    pixel ``at`` (a place no other test uses, so nothing is cached yet)."""
    sockets = job_sockets(page)
    fake.slow(SLOW)
    try:
        lat, lon = pick_on_map(page, *at)
        job_id = calculate(page)
        expect(page.locator("#progress-modal")).to_be_visible()
        dates = wait_results(page, days=7)
    finally:
        fake.clear()
    expect(page.locator("#progress-modal")).to_be_hidden()
    seen = progress_seen(page)
    assert len({v for v in seen if 0 < v < 100}) >= 2, f"progress values seen: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert [ws.url.split("?")[0].rsplit("/", 1)[-1] for ws in sockets] == [job_id]
    expect(page.locator("#results-title")).to_contain_text(f"{lat:.4f}")
    expect(page.locator("#results-title")).to_contain_text(f"{lon:.4f}")
    result = api_result(server, job_id)
    assert dates == [row["date"] for row in result["rows"]]
    shown_eto = [float(v) for v in table_column(page, "eto_mm")]
    assert shown_eto == pytest.approx([row["eto_mm"] for row in result["rows"]], abs=0.006)
    screenshot(page, name)

    # CSV in English: comma-separated, one row per day, the API's numbers.
    rows = list(csv.DictReader(io.StringIO(download(page, "#dl-csv").decode("utf-8"))))
    assert [r["date"] for r in rows] == dates
    assert [float(r["eto_mm"]) for r in rows] == pytest.approx(
        [row["eto_mm"] for row in result["rows"]]
    )
    assert all(float(r["eto_lo_mm"]) <= float(r["eto_mm"]) <= float(r["eto_hi_mm"]) for r in rows)


def test_scenario_1_happy_path(
    open_page: OpenPage, evapo_server: EvapoServer, fake_upstream: FakeUpstream
) -> None:
    """Click a point, calculate, watch the progress, see table and charts, download files."""
    page = open_page(evapo_server.url)
    happy_path(page, evapo_server, fake_upstream, "scenario-1-happy-path", at=(240, 150))
    dates = table_column(page, "date")

    # Portuguese: labels, decimal commas on the page, and a ';' CSV with decimal commas.
    page.get_by_role("radio", name="PT", exact=True).check()
    expect(page.locator("#calc-btn")).to_have_text("Calcular")
    expect(page.locator("#daily-table .ag-header-cell-text").first).to_have_text("Data")
    expect(page.locator('#daily-table .ag-row [col-id="eto_mm"]').first).to_contain_text(",")
    assert all("," in v for v in table_column(page, "eto_mm"))
    raw = download(page, "#dl-csv").decode("utf-8-sig")
    pt_rows = list(csv.reader(io.StringIO(raw), delimiter=";"))
    header, body = pt_rows[0], pt_rows[1:]
    assert [r[header.index("date")] for r in body] == dates
    assert all(re.fullmatch(r"\d+,\d+", r[header.index("eto_mm")]) for r in body)

    # Excel and JSON carry the same days.
    book = load_workbook(io.BytesIO(download(page, "#dl-xlsx")))
    sheet = list(book["daily"].values)
    assert [row[0] for row in sheet[1:]] == dates
    data = json.loads(download(page, "#dl-json"))
    assert [row["date"] for row in data["rows"]] == dates
    screenshot(page, "scenario-1-portuguese")


def test_scenario_2_invalid_coordinates(open_page: OpenPage, evapo_server: EvapoServer) -> None:
    """Latitude 150: a clear error next to the field, no job submitted, no socket opened."""
    before = evapo_server.api("GET", "/api/v1/jobs?limit=200").json()["jobs"]
    page = open_page(evapo_server.url)
    sockets = job_sockets(page)
    api_calls: list[str] = []
    page.on(
        "request", lambda r: api_calls.append(f"{r.method} {r.url}") if "/api/" in r.url else None
    )

    type_point(page, "150", "-47.93")
    feedback = page.locator("#lat-feedback")
    expect(feedback).to_have_text("Latitude must be between -90 and 90.")
    expect(feedback).to_be_visible()
    expect(page.locator("#lat")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#lon")).not_to_have_class(re.compile(r"\bis-invalid\b"))

    page.click("#calc-btn")
    expect(page.locator("#form-msg")).to_have_text("Please fix the fields marked in red.")
    expect(page.locator("#progress-modal")).to_have_count(0)
    screenshot(page, "scenario-2-invalid-latitude")

    assert not [c for c in api_calls if c.startswith("POST") and "/api/" in c], api_calls
    assert sockets == []
    after = evapo_server.api("GET", "/api/v1/jobs?limit=200").json()["jobs"]
    assert len(after) == len(before)

    # Degrees-minutes-seconds are accepted and clear the error.
    type_point(page, "15°47'S", "47°55'W")
    expect(page.locator("#lat")).not_to_have_class(re.compile(r"\bis-invalid\b"))
    expect(feedback).to_be_hidden()
    expect(page.locator(".leaflet-marker-icon")).to_have_count(1)


def test_scenario_3_api_unreachable_or_slow(
    open_page: OpenPage, evapo_server: EvapoServer, console_record: ConsoleRecord
) -> None:
    """A hung server (process suspended): the page says it is slow, then carries on. No network
    (the browser is cut off): the page says the server cannot be reached and offers Retry, which
    works once the network is back."""
    server = evapo_server
    page = open_page(server.url)
    type_point(page, "-7.53", "-46.04")
    expect(page.locator("#sources-ul")).to_be_visible()
    alert = page.locator("#net-alert")
    try:
        server.freeze()
        with page.expect_response(lambda r: _is_submit(r.request)) as first:
            page.click("#calc-btn")
            expect(alert).to_contain_text("slow to answer")
            screenshot(page, "scenario-3-slow")
            server.thaw()
        first_id = first.value.json()["job_id"]
        expect(alert).to_be_hidden()
        wait_results(page, days=7)

        console_record.outage = True
        page.context.set_offline(True)
        page.click("#calc-btn")
        expect(alert).to_contain_text("Cannot reach the Evapo server")
        retry = page.locator("#net-retry")
        expect(retry).to_be_visible()
        screenshot(page, "scenario-3-unreachable")
        assert len(server.api("GET", "/api/v1/jobs?limit=200").json()["jobs"]) >= 1

        page.context.set_offline(False)
        console_record.outage = False
        with page.expect_response(lambda r: _is_submit(r.request)) as answer:
            retry.click()
        second_id = answer.value.json()["job_id"]
        assert second_id != first_id
        expect(alert).to_be_hidden()
        expect(page.locator("#progress-modal")).to_be_hidden()
        wait_results(page, days=7)
        assert server.wait_job(second_id)["status"] == "succeeded"
        screenshot(page, "scenario-3-after-retry")
    finally:
        console_record.outage = False
        server.ensure_running()


def test_scenario_4_close_card_mid_calculation(
    open_page: OpenPage, evapo_server: EvapoServer, fake_upstream: FakeUpstream
) -> None:
    """Closing the card closes the socket only: the job completes and opens from recent jobs."""
    page = open_page(evapo_server.url)
    sockets = job_sockets(page)
    fake_upstream.slow(VERY_SLOW)
    try:
        pick_on_map(page, 330, 120)
        job_id = calculate(page)
        page.wait_for_function("window.__evapoProgress.some(v => Number(v) > 0)")
        expect(page.locator("#job-badge")).to_have_text("running")
        expect(page.locator("#job-elapsed")).to_contain_text("Elapsed:")
        expect(page.locator("#job-transport")).to_have_text("Live updates")
        screenshot(page, "scenario-4-progress-card")
        page.click("#modal-close")
        expect(page.locator("#progress-modal")).to_be_hidden()
        assert len(sockets) == 1
        sockets[0].wait_for_event("close") if not sockets[0].is_closed() else None
        assert sockets[0].is_closed()
        status = evapo_server.api("GET", f"/api/v1/jobs/{job_id}").json()["status"]
        assert status in ("queued", "running"), status
        assert evapo_server.wait_job(job_id)["status"] == "succeeded"
    finally:
        fake_upstream.clear()

    # Nothing listened: no result was loaded and the card stayed closed.
    expect(page.locator("#results-title")).to_have_text(
        "Choose a point and dates, then press Calculate."
    )
    expect(page.locator("#progress-modal")).to_be_hidden()

    page.click("#jobs-refresh")
    item = page.locator(f'li[data-job-id="{job_id}"]')
    expect(item.locator(".job-status")).to_have_text("done")
    item.get_by_role("button", name="Open").click()
    dates = wait_results(page, days=7)
    assert dates == [row["date"] for row in api_result(evapo_server, job_id)["rows"]]
    assert len(sockets) == 1, "opening a finished job must not open a socket"
    screenshot(page, "scenario-4-reopened-from-recent-jobs")


def test_scenario_5_two_tabs_two_locations(
    open_page: OpenPage, evapo_server: EvapoServer, fake_upstream: FakeUpstream
) -> None:
    """Two tabs, two places at once: each shows only its own progress and result."""
    tabs = [open_page(evapo_server.url), open_page(evapo_server.url)]
    points = [("-5.0912", "-42.8034"), ("-12.1448", "-44.9968")]
    frames: list[list[str]] = [[], []]

    def follow(index: int) -> Callable[[WebSocket], None]:
        def on_socket(ws: WebSocket) -> None:
            ws.on(
                "framereceived",
                lambda payload: frames[index].append(json.loads(payload)["job_id"]),
            )

        return on_socket

    fake_upstream.slow(SLOW)
    try:
        for i, page in enumerate(tabs):
            page.on("websocket", follow(i))
            type_point(page, *points[i])
            expect(page.locator("#sources-ul")).to_be_visible()
        job_ids = [calculate(page) for page in tabs]
        assert job_ids[0] != job_ids[1]
        for page in tabs:
            wait_results(page, days=7)
    finally:
        fake_upstream.clear()

    for i, page in enumerate(tabs):
        assert frames[i], f"tab {i} received no job messages"
        assert set(frames[i]) == {job_ids[i]}, f"tab {i} saw another job's messages"
        assert progress_seen(page), f"tab {i} showed no progress"
        expect(page.locator("#results-title")).to_contain_text(f"{float(points[i][0]):.4f}")
        expect(page.locator("#results-title")).not_to_contain_text(f"{float(points[1 - i][0]):.4f}")
        expected = [row["eto_mm"] for row in api_result(evapo_server, job_ids[i])["rows"]]
        shown = [float(v) for v in table_column(page, "eto_mm")]
        assert shown == pytest.approx(expected, abs=0.006)
        screenshot(page, f"scenario-5-tab-{i + 1}")


def test_days_no_source_serves_are_refused_with_the_reason(
    open_page: OpenPage, evapo_server: EvapoServer
) -> None:
    """Days before every source's record: the form lists why, the API's 422 shows by the dates."""
    before = len(evapo_server.api("GET", "/api/v1/jobs?limit=200").json()["jobs"])
    page = open_page(evapo_server.url)
    type_point(page, "-10.0", "-45.0")
    page.get_by_role("radio", name="Historical range").check()
    page.fill("#start-date", "1950-01-01")
    page.fill("#end-date", "1950-01-31")
    page.press("#end-date", "Tab")
    expect(page.locator("#sources-ul .text-danger").first).to_contain_text("1950-01-01")
    with page.expect_response(lambda r: _is_submit(r.request)) as answer:
        page.click("#calc-btn")
    assert answer.value.status == 422
    expect(page.locator("#dates-feedback")).to_contain_text("no source can serve")
    expect(page.locator("#progress-modal")).to_have_count(0)
    assert len(evapo_server.api("GET", "/api/v1/jobs?limit=200").json()["jobs"]) == before


def test_socket_drop_resumes_after_last_seq(
    open_page: OpenPage, evapo_server: EvapoServer, fake_upstream: FakeUpstream
) -> None:
    """A job socket dropped mid-job reconnects with ?after=<last seq>: no gap, no duplicate."""
    page = open_page(evapo_server.url)
    connections: list[dict[str, Any]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        seen: list[int] = []
        connections.append({"url": ws.url, "seqs": seen})
        first = len(connections) == 1

        def forward(message: str | bytes) -> None:
            if first and len(seen) == 2:
                return  # dropped: nothing more reaches the page on this connection
            body = json.loads(message)
            if body.get("seq"):
                seen.append(body["seq"])
            ws.send(message)
            if first and len(seen) == 2:
                ws.close(code=4000, reason="dropped by the test")
                server.close()

        server.on_message(forward)

    page.route_web_socket(re.compile(r".*/ws/jobs/.*"), route)
    fake_upstream.slow(SLOW)
    try:
        type_point(page, "-9.4", "-40.5")
        job_id = calculate(page)
        wait_results(page, days=7)
    finally:
        fake_upstream.clear()
    assert len(connections) == 2, connections
    assert connections[0]["url"].endswith(f"/ws/jobs/{job_id}?after=0")
    assert connections[1]["url"].endswith(f"/ws/jobs/{job_id}?after=2")
    seqs = connections[0]["seqs"] + connections[1]["seqs"]
    assert seqs == list(range(1, len(seqs) + 1)), seqs


def test_polling_when_websockets_fail(
    open_page: OpenPage, evapo_server: EvapoServer, fake_upstream: FakeUpstream
) -> None:
    """Sockets that close at once: the page polls the status endpoint and still shows the result."""
    page = open_page(evapo_server.url)
    attempts: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        attempts.append(ws.url)
        ws.close(code=1011, reason="refused by the test")

    page.route_web_socket(re.compile(r".*/ws/jobs/.*"), refuse)
    polls: list[str] = []
    page.on(
        "request", lambda r: polls.append(r.url) if re.search(r"/api/v1/jobs/\w+$", r.url) else None
    )
    fake_upstream.slow(SLOW)
    try:
        type_point(page, "-6.77", "-43.02")
        job_id = calculate(page)
        expect(page.locator("#job-transport")).to_contain_text("checking the status")
        wait_results(page, days=7)
    finally:
        fake_upstream.clear()
    assert len(attempts) == 2, attempts
    assert any(url.endswith(f"/api/v1/jobs/{job_id}") for url in polls)


def test_my_location_button(browser: Browser, evapo_server: EvapoServer) -> None:
    """ "My location" fills the fields from the browser's geolocation."""
    context = browser.new_context(
        geolocation={"latitude": -15.7801, "longitude": -47.9292}, permissions=["geolocation"]
    )
    try:
        page = context.new_page()
        page.goto(evapo_server.url)
        page.click("#locate-btn")
        expect(page.locator("#lat")).to_have_value("-15.78010")
        expect(page.locator("#lon")).to_have_value("-47.92920")
        expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
    finally:
        context.close()


def test_scenario_6_console_is_clean(
    console_record: ConsoleRecord,
    open_page: OpenPage,
    evapo_server: EvapoServer,
    fake_upstream: FakeUpstream,
) -> None:
    """No console error or warning in any page of scenarios 1-5 (tiles are served locally)."""
    ran = {name for name in console_record.scenarios if name.startswith("test_scenario_")}
    if len(ran) < 5:
        # Run alone (or with some scenarios deselected): drive the happy path here.
        page = open_page(evapo_server.url)
        happy_path(page, evapo_server, fake_upstream, "scenario-6-happy-path", at=(120, 250))
    problems = [
        f"{e.scenario}: [{e.kind}] {e.text}"
        for e in console_record.problems()
        if e.scenario.startswith("test_scenario_")  # the extra tests may provoke a 4xx on purpose
    ]
    assert problems == []
