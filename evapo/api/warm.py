"""Pooled connections opened before the API serves (distributed mode).

Connection pools grow on demand, so the first burst of work after a start paid for opening them
on the request path: a TCP connect and a handshake of a few round trips per Redis connection,
more per PostgreSQL one. In bench.load's first phase (200 sockets at once) that doubled the
delivery p99 compared with a later, identical burst.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from evapo.api.limits import ClientLimits, SharedLimits
from evapo.events.redis_streams import RedisStreamEventLog
from evapo.logging import get_logger
from evapo.services import Services

log = get_logger(__name__)

WARM_CONNECTIONS = 8
"""Connections opened in each Redis pool (event log, limits), and at most this many in the
PostgreSQL pool (no more than it keeps open: its overflow connections close when returned)."""


async def _at_once(n: int, open_one: Any) -> int:
    """Run ``open_one()`` ``n`` times concurrently (each holds its own connection); how many
    answered True."""
    results = await asyncio.gather(*(open_one() for _ in range(n)), return_exceptions=True)
    return sum(result is True for result in results)


async def warm_connections(services: Services, limits: ClientLimits) -> dict[str, int]:
    """Open ``WARM_CONNECTIONS`` connections in each pool of a distributed API process.

    Failures are not errors here (``/ready`` reports a dependency that is down); returns the
    connections opened per pool.
    """
    opened: dict[str, int] = {}
    if isinstance(services.events, RedisStreamEventLog):
        opened["events"] = await _at_once(WARM_CONNECTIONS, services.events.ping)
    if isinstance(limits, SharedLimits):
        opened["limits"] = await _at_once(WARM_CONNECTIONS, limits.ping)
    if services.engine.dialect.name == "postgresql":

        async def select_one() -> bool:
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(0.01)  # hold it while the others open theirs
            return True

        kept = getattr(services.engine.sync_engine.pool, "size", lambda: WARM_CONNECTIONS)()
        opened["database"] = await _at_once(min(WARM_CONNECTIONS, kept), select_one)
    log.info("connections_warmed", **opened)
    return opened
