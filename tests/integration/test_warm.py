"""A distributed API process opens its pooled connections before it serves (real Redis, PG)."""

from __future__ import annotations

import pytest

from evapo.api.limits import client_limits
from evapo.api.warm import WARM_CONNECTIONS, warm_connections
from evapo.config import Settings
from evapo.services import close_services, open_services
from evapo.store.migrate import upgrade_head
from tests.integration.distributed_support import TEST_REDIS_DB, free_port, temp_database, unique

pytestmark = pytest.mark.integration


def _settings(db_url: str, redis_url: str) -> Settings:
    return Settings(
        mode="distributed",
        database_url=db_url,
        redis_url=redis_url,
        broker_url="redis://127.0.0.1:6379/14",
        job_queue=unique("evapo.warm."),
    )


async def test_pools_hold_open_connections_before_the_first_request() -> None:
    with temp_database() as db_url:
        upgrade_head(db_url)
        settings = _settings(db_url, f"redis://127.0.0.1:6379/{TEST_REDIS_DB}")
        services = await open_services(settings, runner=False)
        limits = client_limits(settings)
        try:
            pool = services.engine.sync_engine.pool
            assert pool.checkedin() == 0
            opened = await warm_connections(services, limits)
            kept = min(WARM_CONNECTIONS, pool.size())  # type: ignore[attr-defined]
            n = WARM_CONNECTIONS
            assert opened == {"events": n, "limits": n, "database": kept}
            assert pool.checkedin() == kept  # open, idle, ready for the first requests
        finally:
            await limits.aclose()
            await close_services(services)


async def test_a_dependency_that_is_down_does_not_stop_the_start() -> None:
    with temp_database() as db_url:
        upgrade_head(db_url)
        settings = _settings(db_url, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
        services = await open_services(settings, runner=False)
        limits = client_limits(settings)
        try:
            opened = await warm_connections(services, limits)
            assert opened["events"] == opened["limits"] == 0 and opened["database"] > 0
        finally:
            await limits.aclose()
            await close_services(services)
