"""Group commit of concurrent reserves, across SKUs (see store/hold_batch.py); the unit of work
(service.inventory) makes the ReserveBatcher, service.reserving sends it single reserves.

Requests of every SKU queue together; up to `max_drains` drain tasks each take whatever has
queued (at most `max_batch`) and run it in one transaction. There is no waiting window: a
batch is whatever queued while the previous ones committed, so a lone request goes straight
through, a flash sale on one SKU turns into few transactions, and 200 shoppers on 200 SKUs
into a few transactions rather than 200. Two drains keep one transaction working while the
other waits for its commit to reach the disk. Batches in flight share no SKU: a request whose
SKU is in a batch being committed waits for the next one, so a hot SKU's requests pile into
one batch instead of splitting between drains that would only queue on the same rows, and a
SKU's batches commit and publish in turn. Each batch locks rows in the global (sku, location)
order anyway, like carts, so nothing deadlocks.

A batch holds plain SKUs only: a bundle's request comes back as None (service.reserving then
holds it alone) and its code is remembered, so later ones skip the batch. A SKU's kind is
fixed when it is created, so the memory never goes stale; plain reserves pay nothing for it.

While tracing is on, the batch's statements are spans of the request whose reserve started the
drain, and each request's events keep their own request's span as their origin
(ops/trace_links.py): the deliveries link to the reserve that made them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domain.outcome import Outcome
from ops import trace_links
from service.recording import Command, record
from store.hold_batch import HoldRequest, hold_many

if TYPE_CHECKING:
    from service.inventory import Inventory

MAX_BUNDLE_CODES = 100_000  # past it, a bundle's reserve costs one more (batched) transaction


@dataclass(eq=False, slots=True)
class _Pending:
    sku: str
    request: HoldRequest
    origin: trace_links.Origin | None = field(default_factory=trace_links.current)
    future: asyncio.Future[Outcome | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ReserveBatcher:
    def __init__(self, inventory: Inventory, max_batch: int = 256, max_drains: int = 2) -> None:
        self.inventory = inventory
        self.max_batch = max_batch
        self.max_drains = max_drains
        self._queue: list[_Pending] = []
        self._in_flight: Counter[str] = Counter()  # SKU codes of the batches being committed
        self._drains = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._bundles: set[str] = set()  # codes the batches found to be bundles

    def holds(self, sku: str) -> bool:
        """False for a code known to be a bundle's, which a batch would hand back."""
        return sku not in self._bundles

    async def reserve(self, sku: str, request: HoldRequest) -> Outcome | None:
        """The request's outcome, committed with the batch it joined; None for a bundle's,
        which was not held."""
        pending = _Pending(sku, request)
        self._queue.append(pending)
        # a drain committing this SKU takes the request next; otherwise start one if allowed
        if sku not in self._in_flight and self._drains < self.max_drains:
            self._drains += 1
            task = asyncio.create_task(self._drain(), name="reserve-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(pending.future)

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        waiting: list[_Pending] = []
        for p in self._queue:
            if len(batch) < self.max_batch and p.sku not in self._in_flight:
                batch.append(p)
            else:
                waiting.append(p)
        self._queue = waiting
        self._in_flight.update(p.sku for p in batch)
        return batch

    def _landed(self, batch: list[_Pending]) -> None:
        for p in batch:
            self._in_flight[p.sku] -= 1
            if not self._in_flight[p.sku]:
                del self._in_flight[p.sku]

    async def _drain(self) -> None:
        try:
            while batch := self._take():
                outcomes: list[Outcome | None] | Exception
                try:
                    outcomes = await self._commit(batch)
                except Exception as exc:  # every request of the batch gets it
                    outcomes = exc
                finally:
                    self._landed(batch)
                for n, p in enumerate(batch):
                    if p.future.done():
                        continue
                    if isinstance(outcomes, Exception):
                        p.future.set_exception(outcomes)
                    else:
                        if outcomes[n] is None and len(self._bundles) < MAX_BUNDLE_CODES:
                            self._bundles.add(p.sku)
                        p.future.set_result(outcomes[n])
        finally:
            # in the step of the last (empty) take, so that no request is left without a drain
            self._drains -= 1

    async def _commit(self, batch: list[_Pending]) -> list[Outcome | None]:
        async with self.inventory.pool.acquire() as conn, conn.transaction():
            outcomes = await hold_many(conn, [(p.sku, p.request) for p in batch])
        for p, outcome in zip(batch, outcomes, strict=True):
            if outcome is not None:
                record(Command.RESERVE, outcome)
                trace_links.remember(outcome.events, p.origin)
        events = [event for outcome in outcomes if outcome is not None
                  for event in outcome.events]
        if events:
            await self.inventory.publish_committed(events)
        return outcomes
