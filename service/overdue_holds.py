"""Sets inventory_holds_overdue at each /metrics scrape (web/ops_routes.py): read apart from
the expiry loop, so an expiry that stalls or keeps failing still shows."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from ops.metrics import HOLDS_OVERDUE
from store import overdue_holds

log = logging.getLogger(__name__)
READ_SECONDS = 1.0  # a scrape during a database outage answers with the last figures


async def observe(pool: asyncpg.Pool) -> None:
    """Set the gauge; a failed read leaves the last figures (the scrape goes on)."""
    try:
        async with asyncio.timeout(READ_SECONDS), pool.acquire() as conn:
            count, oldest = await overdue_holds.overdue(conn)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("reading overdue holds failed: %s", error)
        return
    HOLDS_OVERDUE.labels("count").set(count)
    HOLDS_OVERDUE.labels("oldest_seconds").set(oldest)
