"""The unit of work every stock command runs in: one transaction, idempotency, metrics, and
publishing after commit (used by the use cases in service/, the batcher and expiry)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from domain.errors import IdempotencyKeyReused, StockError
from domain.model import StockEvent, StockEventKind
from domain.outcome import Outcome
from domain.rules import Limits
from ops.metrics import RESERVATIONS, STOCK_EVENTS
from store import errors as store_errors
from store import idempotency

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[StockEvent]], Awaitable[None]]
Work = Callable[[asyncpg.Connection], Awaitable[Outcome]]


async def _publish_nothing(events: Sequence[StockEvent]) -> None:
    return None


@dataclass(frozen=True)
class Inventory:
    """What every request shares: the pool, the limits and where committed events go."""

    pool: asyncpg.Pool
    limits: Limits
    publish: Publish = _publish_nothing

    async def mutate(
        self,
        work: Work,
        *,
        field: str,
        arguments: dict[str, Any],
        idempotency_key: str | None = None,
        principal: str = "-",
    ) -> Outcome:
        """Run `work` in one transaction; business failures roll back and come back in the
        outcome. With a key, the first outcome is stored and returned to every retry.

        `field` names the command in idempotency scopes, metrics and logs, `principal` is the
        caller's idempotency scope, and `arguments` is what a retry must repeat (hashed): both
        are stored, so a command keeps its name and its arguments' keys."""
        scope = f"{principal}:{field}"
        digest = idempotency.request_hash(arguments)
        async with self.pool.acquire() as conn, conn.transaction():
            if idempotency_key is not None and not await idempotency.claim(
                conn, scope, idempotency_key, digest
            ):
                return await self._replay(conn, scope, idempotency_key, digest)
            outcome = await _attempt(conn, work)
            if idempotency_key is not None:
                await idempotency.save(conn, scope, idempotency_key, outcome)
        record(field, outcome)
        if outcome.events:
            await self.publish_committed(outcome.events)
        return outcome

    async def _replay(
        self, conn: asyncpg.Connection, scope: str, key: str, digest: str
    ) -> Outcome:
        stored_digest, response = await idempotency.fetch(conn, scope, key)
        if stored_digest != digest:
            return Outcome(error=IdempotencyKeyReused(
                "this idempotency_key was used with a different input", ["idempotency_key"]
            ))
        return idempotency.decode(response)

    async def publish_committed(self, events: Sequence[StockEvent]) -> None:
        try:
            await self.publish(events)
        except Exception:  # the ledger has them; subscribers fill gaps from it
            log.exception("publishing %d committed events failed", len(events))


HOLDING_FIELDS = frozenset({"reserve", "reserveLines"})
OUTCOME_BY_KIND = {
    StockEventKind.RESERVED: "held", StockEventKind.COMMITTED: "committed",
    StockEventKind.RELEASED: "released", StockEventKind.EXPIRED: "expired",
}


def record(field: str, outcome: Outcome) -> None:
    """Metrics and one log line per committed stock change."""
    if outcome.error is not None:
        if field in HOLDING_FIELDS and outcome.error.code == "INSUFFICIENT_STOCK":
            RESERVATIONS.labels("insufficient").inc()
        return
    logging_changes = log.isEnabledFor(logging.INFO)
    for event in outcome.events:
        STOCK_EVENTS.labels(event.kind.value).inc()
        if event.kind in OUTCOME_BY_KIND:
            RESERVATIONS.labels(OUTCOME_BY_KIND[event.kind]).inc()
        if logging_changes:
            log.info("stock %s %s #%d", event.kind.value, event.sku, event.sequence, extra={
                "operation": field, "sku": event.sku, "sequence": event.sequence,
                "kind": event.kind.value, "location": event.location,
                "changes": {"onHand": event.on_hand_delta, "reserved": event.reserved_delta},
                "reservation": event.reservation_id,
            })


async def _attempt(conn: asyncpg.Connection, work: Work) -> Outcome:
    try:
        async with conn.transaction():  # a savepoint: a failure leaves nothing behind
            return await work(conn)
    except StockError as error:
        return Outcome(error=error)
    except asyncpg.PostgresError as exc:
        translated = store_errors.translate(exc)
        if translated is None:
            raise
        return Outcome(error=translated)
