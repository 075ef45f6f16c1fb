"""Browser end-to-end fixtures: the fake upstream, ``evapo serve`` in a subprocess, Chromium.

The product runs for real (embedded mode, SQLite in a temporary folder) against the fake upstream
APIs serving the shared Brazilian data; Playwright drives Debian's headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from evapo.fakeapi.server import free_port, run_in_thread
from evapo.web import LOCAL_TILE_ROUTE

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Records every distinct value the progress bar shows (the test reads window.__evapoProgress).
PROGRESS_WATCH = """
window.__evapoProgress = [];
new MutationObserver(() => {
  const bar = document.querySelector('#job-progress [role="progressbar"]');
  if (!bar) return;
  const v = bar.getAttribute('aria-valuenow');
  const seen = window.__evapoProgress;
  if (v !== null && seen[seen.length - 1] !== v) seen.push(v);
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

pytestmark = pytest.mark.e2e
# This machine is shared: allow slow steps rather than flaky failures.
expect.set_options(timeout=30_000)


class EvapoServer:
    """``evapo serve`` in its own process; can be frozen, stopped and restarted on the same port."""

    def __init__(self, *, upstream_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            "EVAPO_MODE": "embedded",
            "EVAPO_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'evapo.db'}",
            "EVAPO_UPSTREAM_URL": upstream_url,
            "EVAPO_TILE_URL": LOCAL_TILE_ROUTE,
            "EVAPO_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the server and wait until ``/health`` answers."""
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evapo",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"evapo serve exited: {self.log_tail()}")
            try:
                if httpx2.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"evapo serve did not answer in {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the server process (and only it)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def ensure_running(self) -> None:
        """Thaw a frozen server, or start a stopped one."""
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
        else:
            self.stop()
            self.start()

    def freeze(self) -> None:
        """Suspend the process: connections are accepted by the kernel but never answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log_tail(self, n: int = 3000) -> str:
        """The end of the server's log."""
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """Call the API directly (test-side checks)."""
        return httpx2.request(method, f"{self.url}{path}", timeout=10.0, **kwargs)

    def wait_job(self, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll the job until it is final; return its public record."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.api("GET", f"/api/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "timed_out", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not final after {timeout_s} s")


@dataclass
class FakeUpstream:
    """The fake upstream APIs and their fault control endpoint."""

    url: str

    def slow(self, delays_s: dict[str, float]) -> None:
        """Make each named API answer only after its delay (until :meth:`clear`)."""
        for api, delay in delays_s.items():
            body = {"api": api, "mode": "slow", "delay_s": delay, "count": None}
            httpx2.post(f"{self.url}/_control/faults", json=body, timeout=5.0).raise_for_status()

    def clear(self) -> None:
        """Disarm every fault."""
        httpx2.delete(f"{self.url}/_control/faults", timeout=5.0).raise_for_status()


@dataclass
class ConsoleEntry:
    """One browser console message or uncaught page error."""

    scenario: str
    kind: str
    text: str
    during_outage: bool


@dataclass
class ConsoleRecord:
    """Every console message of every page opened by the scenarios (checked by scenario 6)."""

    entries: list[ConsoleEntry] = field(default_factory=list)
    scenarios: set[str] = field(default_factory=set)
    outage: bool = False
    """True while a test deliberately keeps the server unreachable."""

    def problems(self) -> list[ConsoleEntry]:
        """Errors and warnings, except the browser's own note of a refused connection during a
        deliberate outage (scenario 3 makes the server unreachable on purpose)."""
        bad = []
        for e in self.entries:
            if e.kind not in ("error", "warning", "assert", "trace", "pageerror"):
                continue
            if e.during_outage and e.text.startswith("Failed to load resource: net::ERR_"):
                continue
            bad.append(e)
        return bad


@pytest.fixture(scope="session")
def fake_upstream(shared_data: Path) -> Iterator[FakeUpstream]:
    """The fake upstream APIs serving the shared data, on a free port."""
    with run_in_thread(shared_data) as url:
        yield FakeUpstream(url)


@pytest.fixture(scope="session")
def evapo_server(
    fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EvapoServer]:
    """The running product (scenario 3 stops and restarts it on the same port and database)."""
    server = EvapoServer(upstream_url=fake_upstream.url, workdir=tmp_path_factory.mktemp("evapo"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """The Playwright driver."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium (never a downloaded browser build)."""
    executable = shutil.which("chromium")
    assert executable, "chromium not found on PATH (make chromium installs it)"
    browser = playwright_session.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def console_record() -> ConsoleRecord:
    """Console messages of every scenario's pages."""
    return ConsoleRecord()


@pytest.fixture
def open_page(
    browser: Browser, console_record: ConsoleRecord, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Page]]:
    """Open a tab on a URL in a fresh browser context, recording its console and progress."""
    contexts: list[BrowserContext] = []
    scenario = request.node.name

    def _open(url: str) -> Page:
        if not contexts:
            contexts.append(browser.new_context(viewport={"width": 1280, "height": 1000}))
            contexts[0].add_init_script(PROGRESS_WATCH)
        page = contexts[0].new_page()
        page.set_default_timeout(30_000)
        console_record.scenarios.add(scenario)

        def on_console(msg: ConsoleMessage) -> None:
            console_record.entries.append(
                ConsoleEntry(scenario, msg.type, msg.text, console_record.outage)
            )

        page.on("console", on_console)
        page.on(
            "pageerror",
            lambda exc: console_record.entries.append(
                ConsoleEntry(scenario, "pageerror", str(exc), console_record.outage)
            ),
        )
        page.goto(url)
        page.wait_for_selector(".leaflet-container")
        return page

    yield _open
    for context in contexts:
        context.close()
    console_record.outage = False


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot under ``test-artifacts/``."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
