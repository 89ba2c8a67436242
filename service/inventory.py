"""The unit of work every stock command runs in: one transaction, idempotency, metrics, and
publishing after commit, and the group-commit batcher (used by the use cases in service/)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.errors import IdempotencyKeyReused, StockError
from domain.model import StockEvent
from domain.outcome import Outcome
from domain.rules import Limits
from service.batching import ReserveBatcher
from service.recording import Command, record
from store import errors as store_errors
from store import idempotency

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[StockEvent]], Awaitable[None]]
Work = Callable[[asyncpg.Connection], Awaitable[Outcome]]


async def _publish_nothing(events: Sequence[StockEvent]) -> None:
    return None


@dataclass(frozen=True)
class Inventory:
    """What every request shares: the pool, the limits, where committed events go, and with
    `group_commit`, the batcher that commits concurrent reserves together."""

    pool: asyncpg.Pool
    limits: Limits
    publish: Publish = _publish_nothing
    group_commit: bool = False
    batcher: ReserveBatcher | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        if self.group_commit:  # frozen: set once, here
            object.__setattr__(self, "batcher", ReserveBatcher(self))

    async def mutate(
        self,
        work: Work,
        *,
        command: Command,
        arguments: dict[str, Any],
        idempotency_key: str | None = None,
        principal: str = "-",
    ) -> Outcome:
        """Run `work` in one transaction; business failures roll back and come back in the
        outcome. With a key, the first outcome is stored and returned to every retry.

        `principal` is the caller's idempotency scope and `arguments` what a retry must repeat
        (hashed): both are stored with the command's name, so their keys never change."""
        scope = f"{principal}:{command.value}"
        digest = idempotency.request_hash(arguments)
        async with self.pool.acquire() as conn, conn.transaction():
            if idempotency_key is not None and not await idempotency.claim(
                conn, scope, idempotency_key, digest
            ):
                return await self._replay(conn, scope, idempotency_key, digest)
            outcome = await _attempt(conn, work)
            if idempotency_key is not None:
                await idempotency.save(conn, scope, idempotency_key, outcome)
        record(command, outcome)
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
