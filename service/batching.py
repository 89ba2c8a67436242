"""Group commit of concurrent reserves, across SKUs (see store/hold_batch.py).

Requests of every SKU queue together; up to `max_drains` drain tasks each take whatever has
queued (at most `max_batch`) and run it in one transaction. There is no waiting window: a
batch is whatever queued while the previous ones committed, so a lone request goes straight
through, a flash sale on one SKU turns into few transactions, and 200 shoppers on 200 SKUs
into a few transactions rather than 200. Two drains keep one transaction working while the
other waits for its commit to reach the disk; both lock rows in the global (sku, location)
order, so they never deadlock with each other or with carts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from domain.outcome import Outcome
from service.inventory import Inventory, record
from store.hold_batch import HoldRequest, hold_many


@dataclass(eq=False, slots=True)
class _Pending:
    sku: str
    request: HoldRequest
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ReserveBatcher:
    def __init__(self, inventory: Inventory, max_batch: int = 256, max_drains: int = 2) -> None:
        self.inventory = inventory
        self.max_batch = max_batch
        self.max_drains = max_drains
        self._queue: list[_Pending] = []
        self._drains: set[asyncio.Task[None]] = set()

    async def reserve(self, sku: str, request: HoldRequest) -> Outcome:
        pending = _Pending(sku, request)
        self._queue.append(pending)
        if len(self._drains) < self.max_drains:
            drain = asyncio.create_task(self._drain(), name="reserve-batch")
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await asyncio.shield(pending.future)

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                outcomes = await self._commit(batch)
            except Exception as exc:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, outcome in zip(batch, outcomes, strict=True):
                if not p.future.done():
                    p.future.set_result(outcome)

    async def _commit(self, batch: list[_Pending]) -> list[Outcome]:
        async with self.inventory.pool.acquire() as conn, conn.transaction():
            outcomes = await hold_many(conn, [(p.sku, p.request) for p in batch])
        for outcome in outcomes:
            record("reserve", outcome)
        events = [event for outcome in outcomes for event in outcome.events]
        if events:
            await self.inventory.publish_committed(events)
        return outcomes
