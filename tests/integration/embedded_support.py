"""Helpers for the integration tests of an embedded server (uvicorn in a thread, SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evapo.config import Settings


def embedded_settings(tmp: Path, upstream: str, **overrides: Any) -> Settings:
    """Settings of a server on a SQLite file in ``tmp`` fetching from ``upstream`` (the fake APIs)
    without retries and with a 5 s timeout; ``overrides`` replace or add settings."""
    base: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp / 'evapo.db'}",
        "upstream_url": upstream,
        "upstream_retries": 0,
        "upstream_timeout_s": 5.0,
    }
    return Settings(**(base | overrides))
