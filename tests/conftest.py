"""Shared fixtures: paths to the reference data and a clean environment for settings."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "brazil-eto-validation"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real 12-city Brazilian validation data (read-only)."""
    assert SHARED_DATA.is_dir(), f"reference data not found at {SHARED_DATA}"
    return SHARED_DATA


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for as long as its session fixtures live, which breaks ``asyncio.run`` in later tests."""
    items.sort(key=lambda item: "tests/e2e/" in item.nodeid.replace("\\", "/"))
