"""The outbox's sinks: a sink open_feed is given gets every committed event in commit order, and
one that fails stops neither the backbone nor the sinks after it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import asyncpg
import pytest
from prometheus_client import REGISTRY

from bootstrap.resources import open_feed
from domain.model import StockEvent
from feed.outbox import BackboneSink, Outbox
from service import stocking
from service.batching import ReserveBatcher
from service.inventory import Inventory
from settings import Settings
from store.hold_batch import HoldRequest
from tests.integration.test_group_commit import stocked


class Collecting:
    """A sink that keeps what it is sent, batch by batch."""

    on_failure = "a test sink: nothing resends them"

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[list[StockEvent]] = []
        self._sent = asyncio.Condition()

    @property
    def events(self) -> list[tuple[str, int]]:
        return [(e.sku, e.sequence) for batch in self.batches for e in batch]

    async def send(self, events: Sequence[StockEvent]) -> None:
        async with self._sent:
            self.batches.append(list(events))
            self._sent.notify_all()

    async def holding(self, count: int) -> None:
        async with asyncio.timeout(10), self._sent:
            await self._sent.wait_for(lambda: len(self.events) >= count)


class Broken:
    """A sink that is always down."""

    name = "broken"
    on_failure = "a test sink: they are lost"

    async def send(self, events: Sequence[StockEvent]) -> None:
        raise ConnectionError("the broken sink is down")


OUTCOMES = (("backbone", "ok"), ("broken", "failed"), ("collecting", "ok"))


def sent(sink: str, outcome: str) -> float:
    found = REGISTRY.get_sample_value("inventory_sink_events_total",
                                      {"sink": sink, "outcome": outcome})
    return found or 0.0


async def ledger(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("""SELECT s.code, e.sequence FROM stock_events e
                                   JOIN skus s ON s.id = e.sku_id ORDER BY s.code, e.sequence""")
    return [(r["code"], r["sequence"]) for r in rows]


async def test_every_sink_gets_every_committed_event_in_order_despite_a_broken_one(
    settings: Settings, pool: asyncpg.Pool,
) -> None:
    collecting = Collecting("collecting")
    before = {sink: sent(sink, outcome) for sink, outcome in OUTCOMES}
    quiet = dataclasses.replace(settings, feed_sweep_interval=600)  # live events: the backbone
    async with open_feed(quiet, pool, None, sinks=[Broken(), collecting]) as feed:
        inventory = Inventory(pool=pool, limits=settings.limits, publish=feed.publish)
        await stocked(inventory, A=40, B=40)
        async with feed.follow("HOT", None) as follow:
            batcher = ReserveBatcher(inventory)
            async with asyncio.timeout(30):
                await asyncio.gather(*(
                    batcher.reserve("HOT", HoldRequest(None, 1, 60, f"c{n}")) for n in range(60)))
            await stocking.set_stock(inventory, sku="HOT", location="A", on_hand=50,
                                     safety_stock=None, expected_version=None, reference=None)
            committed = await ledger(pool)
            await collecting.holding(len(committed))
            head = committed[-1][1]
            async with asyncio.timeout(10):  # the backbone delivered them, not the sweep
                while follow.last < head:
                    await follow.live()
    assert sorted(collecting.events) == committed  # each one once
    assert collecting.events == sorted(collecting.events)  # one SKU: commit order
    assert any(len(batch) > 1 for batch in collecting.batches)  # group commits arrive whole
    assert {s: sent(s, o) - before[s] for s, o in OUTCOMES} == dict.fromkeys(
        ("backbone", "broken", "collecting"), len(committed))


def test_sinks_need_names_of_their_own() -> None:
    with pytest.raises(ValueError, match="share a name"):
        Outbox(BackboneSink(None, str), [Collecting("backbone")])
