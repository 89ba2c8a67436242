"""The ledger tails (feed/tail.py): every entry committed after a sink started is handed on once,
per SKU in sequence order, by two tails on one sink (two instances) under concurrent changes;
availability changes carry what they were before; a handler that stops part-way loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import asyncpg

from domain.changes import LedgerChange
from domain.model import AvailabilityStatus, LocationKind
from feed.tail import LedgerTail
from service import cataloguing, reserving, stocking
from service.inventory import Inventory
from tests.ledger_checks import assert_consistent

SKUS = ("T-1", "T-2", "T-3", "T/4 ü")
HELD = 3600  # holds outlive the slowest run: an expiry mid-test is a ledger entry the test did not expect


class Recording:
    """Keeps what it is handed; with `stop_after`, hands on at most that many per round."""

    def __init__(self, name: str, seen: list[LedgerChange], stop_after: int | None = None) -> None:
        self.name = name
        self.seen = seen
        self.stop_after = stop_after

    async def handle(self, conn: asyncpg.Connection,
                     changes: Sequence[LedgerChange]) -> Mapping[int, int]:
        taken = list(changes)[: self.stop_after] if self.stop_after is not None else list(changes)
        await asyncio.sleep(0.005)  # a peer that takes time: rounds of both tails overlap
        self.seen.extend(taken)
        return {c.sku_id: c.event.sequence for c in taken}


async def ledger(pool: asyncpg.Pool) -> dict[str, list[int]]:
    async with pool.acquire() as conn:
        found = await conn.fetch("""SELECT s.code, e.sequence FROM stock_events e
                                    JOIN skus s ON s.id = e.sku_id ORDER BY s.code, e.sequence""")
    out: dict[str, list[int]] = {}
    for r in found:
        out.setdefault(r["code"], []).append(r["sequence"])
    return out


async def catalogue(inventory: Inventory) -> None:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in SKUS:
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=2)


async def churn(inventory: Inventory, code: str, rounds: int) -> None:
    await stocking.set_stock(inventory, sku=code, location="W", on_hand=3, safety_stock=None,
                             expected_version=None, reference=None)
    for n in range(rounds):
        outcome = await reserving.reserve(inventory, sku=code, location="W", quantity=1,
                                          ttl=HELD, reference=f"r{n}")
        if outcome.error is None and n % 2:
            await reserving.release(inventory, reservation_id=outcome.reservations[0].id)


def by_sku(seen: list[LedgerChange]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for change in seen:
        out.setdefault(change.event.sku, []).append(change.event.sequence)
    return out


async def until(predicate: object, timeout: float = 20) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_two_tails_hand_every_entry_on_once_in_order(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue(inventory)
    await stocking.set_stock(inventory, sku="T-1", location="W", on_hand=9, safety_stock=None,
                             expected_version=None, reference="before the start")
    seen: list[LedgerChange] = []
    tails = [LedgerTail(pool, Recording("test", seen), sweep_interval=0.05, skus_per_round=2)
             for _ in range(2)]
    tasks = [asyncio.create_task(t.run()) for t in tails]
    try:
        await until(lambda: True)
        async with pool.acquire() as conn:  # started: T-1's first entry is before it
            await until_started(conn)
        await asyncio.gather(*(churn(inventory, code, 12) for code in SKUS))
        committed = await ledger(pool)
        committed["T-1"] = committed["T-1"][1:]
        total = sum(len(v) for v in committed.values())
        await until(lambda: len(seen) >= total)
        await asyncio.sleep(0.2)  # nothing more arrives (a duplicate would)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert by_sku(seen) == committed
    await assert_consistent(pool)


async def until_started(conn: asyncpg.Connection) -> None:
    async with asyncio.timeout(10):
        while not await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = 'test'"):
            await asyncio.sleep(0.02)


async def test_availability_changes_carry_the_figures_before_them(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue(inventory)
    seen: list[LedgerChange] = []
    tail = LedgerTail(pool, Recording("avail", seen), sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            async with asyncio.timeout(10):
                while not await conn.fetchval("SELECT count(*) FROM sink_starts"):
                    await asyncio.sleep(0.02)
        await stocking.set_stock(inventory, sku="T-2", location="W", on_hand=5, safety_stock=None,
                                 expected_version=None, reference=None)
        await stocking.set_stock(inventory, sku="T-2", location="W", on_hand=5, safety_stock=1,
                                 expected_version=None, reference=None)
        hold = await reserving.reserve(inventory, sku="T-2", location="W", quantity=4, ttl=60,
                                       reference=None)
        assert hold.error is None
        await until(lambda: len(seen) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    changes = [c.availability for c in seen]
    assert changes[0] is not None and (changes[0].previous_available, changes[0].previous_status,
                                       changes[0].available, changes[0].status) == (
        0, AvailabilityStatus.OUT_OF_STOCK, 5, AvailabilityStatus.IN_STOCK)
    assert changes[1] is not None and (changes[1].previous_available, changes[1].available,
                                       changes[1].status) == (5, 4, AvailabilityStatus.IN_STOCK)
    assert changes[2] is not None and (changes[2].previous_available, changes[2].available,
                                       changes[2].status) == (4, 0, AvailabilityStatus.OUT_OF_STOCK)


async def test_a_handler_that_stops_part_way_loses_nothing(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue(inventory)
    seen: list[LedgerChange] = []
    handler = Recording("partial", seen, stop_after=1)
    tail = LedgerTail(pool, handler, sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            async with asyncio.timeout(10):
                while not await conn.fetchval("SELECT count(*) FROM sink_starts"):
                    await asyncio.sleep(0.02)
        await asyncio.gather(*(churn(inventory, code, 4) for code in SKUS[:2]))
        committed = await ledger(pool)
        total = sum(len(v) for v in committed.values())
        await until(lambda: len(seen) >= total)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert by_sku(seen) == committed


class Stalled:
    """A handler whose peer hangs: it holds its round (and the cursors' transaction) open."""

    name = "stalled"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, conn: asyncpg.Connection,
                     changes: Sequence[LedgerChange]) -> Mapping[int, int]:
        self.entered.set()
        await self.release.wait()
        return {c.sku_id: c.event.sequence for c in changes}


async def test_a_hanging_partner_never_holds_up_a_group_commit(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """The round holding a SKU's first cursor must not lock the SKU's row: group commit takes
    FOR UPDATE on it (found when a NATS connect hung and blocked reserves)."""
    from service.batching import ReserveBatcher
    from store.hold_batch import HoldRequest

    handler = Stalled()
    tail = LedgerTail(pool, handler, sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            async with asyncio.timeout(10):
                while not await conn.fetchval("SELECT count(*) FROM sink_starts"):
                    await asyncio.sleep(0.02)
        await catalogue(inventory)  # after the start: the round inserts T-3's first cursor
        await stocking.set_stock(inventory, sku="T-3", location="W", on_hand=5, safety_stock=None,
                                 expected_version=None, reference=None)
        async with asyncio.timeout(10):
            await handler.entered.wait()
        batcher = ReserveBatcher(inventory)
        async with asyncio.timeout(5):
            outcomes = await asyncio.gather(*(
                batcher.reserve("T-3", HoldRequest(None, 1, 60, f"h{n}")) for n in range(3)))
        assert [o.error for o in outcomes] == [None] * 3
    finally:
        handler.release.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await assert_consistent(pool)


async def test_an_idle_fan_out_skips_to_the_heads_and_misses_nothing_after_an_endpoint(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """Without endpoints the webhook fan-out reads no entries (its sweep moves the cursors to
    the heads); an endpoint created meanwhile, even racing that sweep, gets every entry
    committed after its creation."""
    import dataclasses

    from feed.webhook_fanout import WebhookFanout
    from service import webhooks
    from settings.partners import PartnerSettings

    await catalogue(inventory)
    fanout = WebhookFanout("test")
    handed: list[int] = []
    tail = LedgerTail(pool, fanout, sweep_interval=0.02, idle=fanout.idle,
                      committed=lambda: handed.append(1))
    task = asyncio.create_task(tail.run())
    partners = dataclasses.replace(PartnerSettings(), webhook_allow_private_networks=True)
    try:
        await asyncio.gather(*(churn(inventory, code, 6) for code in SKUS))  # idle: skipped
        async with pool.acquire() as conn:
            async with asyncio.timeout(10):
                while await conn.fetchval("""SELECT count(*) FROM skus s LEFT JOIN sink_cursors c
                        ON c.sink = 'webhooks' AND c.sku_id = s.id
                        WHERE s.last_sequence > coalesce(c.sequence, 0)"""):
                    await asyncio.sleep(0.02)
        assert not handed  # no round read the ledger
        created = await webhooks.create_endpoint(
            inventory, partners, url="http://127.0.0.1:9/x", event_types=[], skus=[],
            created_by=None)
        assert created.error is None
        async with pool.acquire() as conn:
            heads = dict(await conn.fetch("SELECT code, last_sequence FROM skus"))
        await asyncio.gather(*(churn(inventory, code, 3) for code in SKUS))
        committed = await ledger(pool)
        after = {code: [n for n in seqs if n > heads[code]] for code, seqs in committed.items()}
        wanted = sum(len(v) for v in after.values())
        async with pool.acquire() as conn:
            async with asyncio.timeout(20):
                while await conn.fetchval("""SELECT count(*) FROM webhook_deliveries
                        WHERE event_type LIKE 'inventory.stock.%'""") < wanted:
                    await asyncio.sleep(0.02)
            queued = await conn.fetch("""SELECT sku, sequence FROM webhook_deliveries
                    WHERE event_type LIKE 'inventory.stock.%' ORDER BY id""")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    got: dict[str, list[int]] = {}
    for r in queued:
        got.setdefault(r["sku"], []).append(r["sequence"])
    for code, seqs in after.items():  # every entry after the creation, once, in order
        assert [n for n in got.get(code, []) if n > heads[code]] == seqs
