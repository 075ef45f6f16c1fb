"""Alembic migrations, run programmatically (``evapo migrate``) on SQLite or PostgreSQL."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from evapo.logging import get_logger

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
TABLE_MODULES = ("evapo.store.jobs", "evapo.store.cache", "evapo.store.batches")
"""Modules declaring tables on :class:`~evapo.store.db.Base` (all tracked by the migrations)."""


def load_table_modules() -> None:
    """Import every module that declares tables, so ``Base.metadata`` holds them all."""
    for name in TABLE_MODULES:
        importlib.import_module(name)


def sync_url(url: str) -> str:
    """The blocking-driver form of an async database URL (Alembic runs synchronously)."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url.removeprefix("sqlite+aiosqlite://")
    if url.startswith("postgresql+psycopg://"):
        return url  # psycopg 3 serves both the sync and the async dialect
    raise ValueError(
        f"database_url: expected sqlite+aiosqlite:// or postgresql+psycopg://, got {url!r}"
    )


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and ``database_url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Evapo."""
    head = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None when never migrated)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_head(database_url: str) -> str:
    """Upgrade the database to the newest revision; return it."""
    load_table_modules()
    command.upgrade(alembic_config(database_url), "head")
    revision = current_revision(database_url)
    log.info("database_migrated", revision=revision)
    return revision or ""
