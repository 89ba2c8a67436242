"""Group commit of concurrent reserves of one SKU (see store/hold_batch.py).

Requests queue per SKU; one drain task per SKU runs them in batches, one transaction each.
There is no waiting window: a batch is whatever queued while the previous one committed, so a
lone request goes straight through and a flash sale on one SKU turns into few transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.errors import StockError
from domain.outcome import Outcome
from service.inventory import Inventory, record
from store.hold_batch import HoldRequest, hold_batch


@dataclass(eq=False)
class _Pending:
    request: HoldRequest
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ReserveBatcher:
    def __init__(self, inventory: Inventory, max_batch: int = 256) -> None:
        self.inventory = inventory
        self.max_batch = max_batch
        self._queues: dict[str, list[_Pending]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}

    async def reserve(self, sku: str, request: HoldRequest) -> Outcome:
        pending = _Pending(request)
        self._queues.setdefault(sku, []).append(pending)
        if sku not in self._drains:
            self._drains[sku] = asyncio.create_task(self._drain(sku), name=f"reserve:{sku}")
        return await asyncio.shield(pending.future)

    async def _drain(self, sku: str) -> None:
        try:
            while queue := self._queues.get(sku):
                batch, queue[:] = queue[: self.max_batch], queue[self.max_batch :]
                try:
                    outcomes = await self._commit(sku, [p.request for p in batch])
                except Exception as exc:
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                for p, outcome in zip(batch, outcomes, strict=True):
                    if not p.future.done():
                        p.future.set_result(outcome)
        finally:
            del self._drains[sku]
            if not self._queues.get(sku):
                self._queues.pop(sku, None)

    async def _commit(self, sku: str, requests: Sequence[HoldRequest]) -> list[Outcome]:
        try:
            async with self.inventory.pool.acquire() as conn, conn.transaction():
                outcomes = await hold_batch(conn, sku, requests)
        except StockError as error:  # e.g. an unknown SKU: the same answer for every request
            outcomes = [Outcome(error=error) for _ in requests]
        for outcome in outcomes:
            record("reserve", outcome)
        events = [event for outcome in outcomes for event in outcome.events]
        if events:
            await self.inventory.publish_committed(events)
        return outcomes
