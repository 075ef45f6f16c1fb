"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evapo.fakeapi.server import run_in_thread as fake_apis


@pytest.fixture(scope="module")
def fake(shared_data: Path) -> Iterator[str]:
    """URL of the fake upstream APIs serving the shared data (one server per test module)."""
    with fake_apis(shared_data) as url:
        yield url
