"""Expire reservations whose hold ran out, one failing hold never stopping the others; several
instances may run this at once (bootstrap/lifespan.py runs run_expiry in the background)."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from domain.outcome import Outcome
from service.inventory import Inventory
from service.recording import Command
from store import idempotency, reservations
from store.errors import log_failure

log = logging.getLogger(__name__)

RETRY_FAILED_AFTER = 300.0  # seconds a hold that failed to expire is left alone


class Quarantine:
    """Holds that failed to expire, left out of the sweep for `retry_after` seconds: the sweep
    picks the earliest due hold first, so a bad one would otherwise block the rest forever."""

    def __init__(self, retry_after: float = RETRY_FAILED_AFTER) -> None:
        self.retry_after = retry_after
        self._since: dict[str, float] = {}

    def add(self, reservation_id: str) -> None:
        self._since[reservation_id] = time.monotonic()

    def ids(self) -> list[str]:
        now = time.monotonic()
        self._since = {r: t for r, t in self._since.items() if now - t < self.retry_after}
        return list(self._since)


async def expire_due(
    inventory: Inventory, batch: int = 500, quarantine: Quarantine | None = None
) -> int:
    """Expire up to `batch` due reservations, one transaction each; returns how many. A hold
    whose expiry fails is logged (one line), quarantined and skipped; the sweep goes on."""
    quarantine = quarantine or Quarantine()
    failed: list[str] = []  # never twice in one round, however short the quarantine
    expired = 0
    while expired < batch:
        picked: list[str] = []
        skip = [*quarantine.ids(), *failed]
        failure: str | None = None
        try:
            outcome: Outcome | None = await inventory.mutate(
                partial(reservations.expire_next, skip=skip, picked=picked),
                command=Command.EXPIRE, arguments={})
        except Exception as exc:  # noqa: BLE001 - one hold's failure, whatever it is
            if not picked:  # the sweep itself failed, not one hold: run_expiry retries
                raise
            outcome, failure = None, type(exc).__name__
        if outcome is not None and outcome.error is not None:
            if not picked:
                break
            failure = outcome.error.code
        if failure is not None:
            log.warning("reservation %s could not expire (%s); skipped for %.0f s",
                        picked[0], failure, quarantine.retry_after)
            quarantine.add(picked[0])
            failed.append(picked[0])
            continue
        if outcome is None or not outcome.events:
            break
        expired += 1
    return expired


async def run_expiry(inventory: Inventory, interval: float, retention_hours: int) -> None:
    purge_every = max(1, int(3600 / interval))
    quarantine = Quarantine()
    rounds = 0
    while True:
        try:
            await expire_due(inventory, quarantine=quarantine)
            rounds += 1
            if rounds % purge_every == 1:
                async with inventory.pool.acquire() as conn:
                    await idempotency.purge(conn, retention_hours)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_failure(log, exc, "reservation expiry")
        await asyncio.sleep(interval)
