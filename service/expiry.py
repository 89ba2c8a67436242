"""Expire reservations whose hold ran out; several instances may run this at once (server.py runs
run_expiry in the background)."""

from __future__ import annotations

import asyncio
import logging

from service.inventory import Inventory
from service.recording import Command
from store import idempotency, reservations

log = logging.getLogger(__name__)


async def expire_due(inventory: Inventory, batch: int = 500) -> int:
    """Expire up to `batch` due reservations, one transaction each; returns how many."""
    expired = 0
    while expired < batch:
        outcome = await inventory.mutate(
            reservations.expire_next, command=Command.EXPIRE, arguments={})
        if outcome.error is not None or not outcome.events:
            break
        expired += 1
    return expired


async def run_expiry(inventory: Inventory, interval: float, retention_hours: int) -> None:
    purge_every = max(1, int(3600 / interval))
    rounds = 0
    while True:
        try:
            await expire_due(inventory)
            rounds += 1
            if rounds % purge_every == 1:
                async with inventory.pool.acquire() as conn:
                    await idempotency.purge(conn, retention_hours)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reservation expiry failed; retrying")
        await asyncio.sleep(interval)
