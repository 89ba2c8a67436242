"""The in-server ledger check (LEDGER_CHECK_INTERVAL): `check`'s drift count, one instance at a
time, into inventory_ledger_drift_levels for the alert rules; bootstrap/lifespan.py runs it."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import asyncpg

from ops.metrics import LEDGER_CHECKED, LEDGER_DRIFT
from store import audit, leases
from store.errors import log_failure

log = logging.getLogger(__name__)
STATEMENT_LIMIT = "300s"  # the scan of the ledger gives up past this, never holding on for hours


async def check_once(pool: asyncpg.Pool) -> int | None:
    """Drifting levels, with the gauges set; None (gauges unchanged) when another instance is
    running the check right now."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        if not await leases.try_xact_lock(conn, leases.LEDGER_CHECK_LOCK):
            return None
        await conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_LIMIT}'")
        drifting = await audit.count_drift(conn)
    LEDGER_DRIFT.set(drifting)
    LEDGER_CHECKED.set(time.time())
    if drifting:
        log.warning("ledger check: %d level(s) differ from the ledger; run `check`", drifting)
    return drifting


async def run_ledger_check(pool: asyncpg.Pool, interval: float) -> None:
    """Every `interval` seconds, the first within one interval (at most 5 minutes) of starting,
    at a random point so that instances started together do not all queue for the lock."""
    await asyncio.sleep(random.uniform(0, min(interval, 300.0)))
    while True:
        try:
            await check_once(pool)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_failure(log, exc, "ledger check")
        await asyncio.sleep(interval)
