"""The bundle step of the ledger tails (feed/bundle_feed.py): a handler that stops part-way loses
and repeats no bundle change; a round without bundles reads nothing more; a hanging partner's
round over a component holds up neither upsertBundle nor a group-committed reserve."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from domain.changes import LedgerChange
from feed.bundle_feed import BundleRound, attach
from feed.cloudevents import availability_fields
from feed.tail import LedgerTail
from service import cataloguing, stocking
from service.inventory import Inventory
from store import cursors
from tests.bundle_checks import (
    KIT,
    PART_1,
    PART_2,
    assert_chain,
    caught_up,
    churn,
    data_figures,
    kit_catalogue,
    view_figures,
)
from tests.integration.test_tail import Recording, Stalled
from tests.ledger_checks import assert_consistent
from tests.relay_checks import until

SINK = "recording"


class OnePerSku:
    """Hands on the first entry of each SKU of a round, like a peer that acknowledged no more."""

    name = SINK

    def __init__(self, seen: list[LedgerChange]) -> None:
        self.seen = seen

    async def handle(self, conn: asyncpg.Connection,
                     changes: Sequence[LedgerChange]) -> Mapping[int, int]:
        taken = {}
        for change in changes:
            taken.setdefault(change.sku_id, change)
        self.seen.extend(taken.values())
        return {sku_id: change.event.sequence for sku_id, change in taken.items()}


def kit_documents(seen: Sequence[LedgerChange]) -> list[dict[str, Any]]:
    """The kit's availability events among what a handler was handed, as partners get them."""
    return [{"id": f"{m.sku}/availability/{m.cause_sku}/{m.cause_sequence}",
             "data": availability_fields(m)}
            for change in seen for m in change.availability_changes if m.sku == KIT]


async def stock_both(inventory: Inventory, on_hand: int = 8) -> None:
    for sku in (PART_1, PART_2):
        await stocking.set_stock(inventory, sku=sku, location="W", on_hand=on_hand,
                                 safety_stock=None, expected_version=None, reference=None)


async def test_a_handler_that_stops_part_way_loses_and_repeats_no_bundle_change(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """One entry per SKU and round is handed on: the kit's changes of the entries left out are
    worked out again next round against what was handed on, so the chain has no gap and no
    repeat."""
    seen: list[LedgerChange] = []
    tail = LedgerTail(pool, OnePerSku(seen), sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            await started(conn, SINK)
        await kit_catalogue(inventory)
        await stock_both(inventory)
        await asyncio.gather(churn(inventory, PART_1, 8), churn(inventory, PART_2, 8))
        await until(lambda: caught_up(pool, SINK))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    documents = kit_documents(seen)
    assert len(documents) >= 2  # 4 kits, then fewer as K-1 is held
    assert_chain(documents)
    assert data_figures(documents[-1]["data"]) == await view_figures(pool)
    assert len({d["id"] for d in documents}) == len(documents)


async def started(conn: asyncpg.Connection, sink: str) -> None:
    async with asyncio.timeout(10):
        while not await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = $1", sink):
            await asyncio.sleep(0.02)


async def test_a_round_without_bundles_runs_one_statement_for_them(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await kit_catalogue(inventory)
    await stocking.set_stock(inventory, sku="OTHER", location="W", on_hand=3, safety_stock=None,
                             expected_version=None, reference=None)
    await stock_both(inventory)
    async with pool.acquire() as conn:
        rows = await conn.fetch("""SELECT s.id, s.code FROM skus s WHERE NOT s.is_bundle""")
        ids = {r["code"]: r["id"] for r in rows}
        changes = await cursors.entries(conn, {ids["OTHER"]: 0, ids[PART_1]: 0}, 10)
        statements: list[str] = []  # the attach's own (its transaction's and the test's not)
        conn.add_query_logger(lambda q: statements.append(q.query) if q.query.lstrip()[:5]
                              not in ("BEGIN", "COMMI", "INSER") else None)
        async with conn.transaction():
            alone = await attach(conn, "probe", [c for c in changes if c.sku_id == ids["OTHER"]])
        assert len(statements) == 1 and alone == BundleRound(alone.changes)
        assert all(not c.bundles for c in alone.changes)
        statements.clear()
        await conn.execute("INSERT INTO sink_starts (sink) VALUES ('probe')")
        async with conn.transaction():
            mixed = await attach(conn, "probe", changes)
        assert len(statements) == 4  # probe, bundles, lock, levels (and the ensure: an INSERT)
        assert [b.sku for b in mixed.bundles] == [KIT]
        # K-1's entry alone made no kit (K-2 handed on by no sink: nothing of it yet)
        assert [c.bundles for c in mixed.changes] == [(), ()]


async def test_a_hanging_partner_holds_up_neither_upsert_bundle_nor_a_reserve(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """The round holding a kit's figures row (its first, inserted in the round) must not lock
    the kit's SKU row (upsertBundle and holds take it), nor the components' rows (group commit
    locks them)."""
    from service.batching import ReserveBatcher
    from store.hold_batch import HoldRequest

    await kit_catalogue(inventory)
    handler = Stalled()
    tail = LedgerTail(pool, handler, sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            await started(conn, "stalled")
        await stock_both(inventory)
        async with asyncio.timeout(10):
            await handler.entered.wait()
        async with pool.acquire() as conn:  # the round has inserted the kit's row, uncommitted
            assert await conn.fetchval("""SELECT count(*) FROM pg_locks WHERE granted
                AND relation = 'sink_bundle_figures'::regclass AND pid <> pg_backend_pid()""")
            async with conn.transaction():  # as group commit locks a SKU's row (a kit hold)
                await conn.execute("SELECT 1 FROM skus WHERE code = $1 FOR UPDATE NOWAIT", KIT)
        async with asyncio.timeout(5):
            changed = await cataloguing.upsert_bundle(
                inventory, code=KIT, name="Kit", low_stock_threshold=3,
                components=[(PART_1, 1), (PART_2, 1)])
            assert changed.error is None
            held = await asyncio.gather(*(ReserveBatcher(inventory).reserve(
                PART_1, HoldRequest(None, 1, 60, f"h{n}")) for n in range(3)))
        assert [h.error for h in held] == [None] * 3
    finally:
        handler.release.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await assert_consistent(pool)


async def test_a_new_composition_goes_out_with_the_next_component_entry(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    seen: list[LedgerChange] = []
    tail = LedgerTail(pool, Recording(SINK, seen), sweep_interval=0.05)
    task = asyncio.create_task(tail.run())
    try:
        async with pool.acquire() as conn:
            await started(conn, SINK)
        await kit_catalogue(inventory)
        await stock_both(inventory, on_hand=8)  # 2 x K-1 + K-2: 4 kits
        await until(lambda: caught_up(pool, SINK))
        assert [d["data"]["available"] for d in kit_documents(seen)] == [4]
        made = await cataloguing.upsert_bundle(inventory, code=KIT, name="Kit",
                                               low_stock_threshold=1,
                                               components=[(PART_1, 1), (PART_2, 1)])
        assert made.error is None  # 8 kits now, and no entry says so
        await stocking.set_stock(inventory, sku="OTHER", location="W", on_hand=1,
                                 safety_stock=None, expected_version=None, reference=None)
        await stocking.set_stock(inventory, sku=PART_2, location="W", on_hand=7,
                                 safety_stock=None, expected_version=None, reference=None)
        await until(lambda: caught_up(pool, SINK))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    documents = kit_documents(seen)
    assert [(d["data"]["previousAvailable"], d["data"]["available"]) for d in documents] == [
        (0, 4), (4, 7)]  # from what was sent to the figures of the new composition
    assert data_figures(documents[-1]["data"]) == await view_figures(pool)


async def test_a_sink_that_skipped_while_idle_compares_with_the_figures_it_skipped_to(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    """A webhook sink without endpoints skips to the heads; the bundle figures it last handed
    on are forgotten with the skip, so the first bundle event after it wakes compares with the
    kit as it was then, not as it was before the skip (it sent 4 -> 1 for an entry that did not
    move the kit)."""
    seen: list[LedgerChange] = []
    quiet = [False]

    async def idle(conn: asyncpg.Connection) -> bool:
        return quiet[0]

    tail = LedgerTail(pool, Recording(SINK, seen), sweep_interval=0.05, idle=idle)
    task = asyncio.create_task(tail.run())

    async def skipping() -> bool:
        return tail._idle == quiet[0]

    try:
        async with pool.acquire() as conn:
            await started(conn, SINK)
        await kit_catalogue(inventory)
        await stock_both(inventory, on_hand=8)  # 2 x K-1 + K-2: 4 kits
        await until(lambda: caught_up(pool, SINK))
        quiet[0] = True
        await until(skipping)
        await stocking.set_stock(inventory, sku=PART_1, location="W", on_hand=2,  # 1 kit
                                 safety_stock=None, expected_version=None, reference=None)
        await until(lambda: caught_up(pool, SINK))  # skipped to the head, handed nothing on
        quiet[0] = False
        await until(skipping)
        for sku, on_hand in ((PART_2, 5), (PART_1, 6)):  # 1 kit still, then 3
            await stocking.set_stock(inventory, sku=sku, location="W", on_hand=on_hand,
                                     safety_stock=None, expected_version=None, reference=None)
        await until(lambda: caught_up(pool, SINK))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    documents = kit_documents(seen)
    assert [(d["id"], d["data"]["previousAvailable"], d["data"]["available"])
            for d in documents] == [(f"{KIT}/availability/{PART_2}/1", 0, 4),
                                    (f"{KIT}/availability/{PART_1}/3", 1, 3)]
    assert data_figures(documents[-1]["data"]) == await view_figures(pool)
