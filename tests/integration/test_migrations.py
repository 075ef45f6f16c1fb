"""Alembic migrations on a fresh PostgreSQL database (and SQLite): they build ``Base.metadata``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from evapo.store.db import Base
from evapo.store.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    load_table_modules,
    sync_url,
    upgrade_head,
)
from tests.integration.distributed_support import ROOT, child_env, temp_database

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_database() -> Iterator[str]:
    with temp_database() as url:
        yield url


def schema_diff(url: str) -> list[object]:
    load_table_modules()
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_head_builds_every_table_with_no_autogenerate_difference(pg_database: str) -> None:
    assert current_revision(pg_database) is None
    assert upgrade_head(pg_database) == head_revision()
    assert schema_diff(pg_database) == []
    load_table_modules()
    engine = create_engine(sync_url(pg_database))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_is_idempotent_and_downgrade_round_trips(pg_database: str) -> None:
    upgrade_head(pg_database)
    assert upgrade_head(pg_database) == head_revision()
    command.downgrade(alembic_config(pg_database), "base")
    engine = create_engine(sync_url(pg_database))
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_head(pg_database)
    assert schema_diff(pg_database) == []


def test_migrations_also_build_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'evapo.db'}"
    assert upgrade_head(url) == head_revision()
    assert schema_diff(url) == []


def test_evapo_migrate_command(pg_database: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evapo", "migrate"],
        cwd=ROOT,
        env=child_env(EVAPO_MODE="distributed", EVAPO_DATABASE_URL=pg_database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"database at revision {head_revision()}" in done.stdout
    assert current_revision(pg_database) == head_revision()


def test_bad_database_url_is_named() -> None:
    with pytest.raises(ValueError, match="database_url"):
        sync_url("mysql://x/y")


def test_evapo_migrate_names_a_bad_setting() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evapo", "migrate"],
        cwd=ROOT,
        env=child_env(EVAPO_MODE="distributed", EVAPO_DATABASE_URL="mysql://db/evapo"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "EVAPO_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
