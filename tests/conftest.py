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
