"""The ingester in process against a real nats-server and PostgreSQL: each message applied as
its mutation under INGEST_API_KEY (a duplicate replayed, not applied twice), each refusal in the
dead-letter stream with its code and reason; a refused key consumes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from domain.access import Scope
from domain.model import LocationKind
from service import cataloguing, ingesting, keys
from service.inventory import Inventory
from tests.ingest_checks import (
    cloudevent,
    dead_letters,
    drained,
    encoded,
    ingest_settings,
    ingesters,
    ledger_count,
    levels,
    pending,
    publish,
)
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer
from tests.relay_checks import until


async def shop(inventory: Inventory) -> None:
    for code in ("S1", "S2"):
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.STORE)
    for code in ("A", "B"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=0)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_messages_apply_once_and_refusals_are_dead_lettered_with_their_reason(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    await shop(inventory)
    token, _ = await keys.create_key(pool, "pos", [Scope.WRITE], locations=["S1"])
    happened = "2026-12-06T18:30:00+01:00"
    adjust = encoded(cloudevent("inventory.adjust", "1", sku="A", location="S1", delta=5,
                                reason="RESTOCK"))
    bodies = [
        ("stores.s1.stock", adjust),
        ("stores.s1.stock", adjust),  # the same event resent: replayed, not applied again
        ("stores.s1.stock", encoded(cloudevent("inventory.set", "2", sku="B", location="S1",
                                               onHand=7))),
        ("stores.s1.stock", encoded(cloudevent("inventory.set", "3", sku="B", location="S1",
                                               onHand=1, expectedVersion=9))),
        ("stores.s1.stock", encoded(cloudevent("inventory.adjust", "4", sku="NOPE",
                                               location="S1", delta=1, reason="RESTOCK"))),
        ("stores.s2.stock", encoded(cloudevent("inventory.adjust", "5", sku="A", location="S2",
                                               delta=1, reason="RESTOCK"))),
        ("stores.s1.stock", b"{oops"),
        ("stores.s1.stock", encoded(cloudevent("inventory.count", "6", sku="A"))),
        ("stores.s1.stock", encoded(cloudevent("inventory.sale", "7", sku="A", location="S1",
                                               quantity=2, happenedAt=happened,
                                               reference="till 3"))),
        ("stores.s1.stock", encoded(cloudevent("inventory.adjust", "8", sku="A", location="S1",
                                               delta=0, reason="RESTOCK"))),
    ]
    applied_before = sample("inventory_ingest_applied_total", type="inventory.adjust")
    await publish(nats_server.url, bodies)
    s = ingest_settings(nats_server.url, token)
    async with ingesters(database_url, inventory, s):
        await until(lambda: drained(nats_server.url), timeout=20)
    assert await levels(pool) == {("A", "S1"): (3, 2), ("B", "S1"): (7, 1)}
    assert await ledger_count(pool) == 3  # the adjust once, the set, the sale
    async with pool.acquire() as conn:
        sold = await conn.fetchrow("SELECT happened_at, reference, on_hand_delta FROM "
                                   "stock_events WHERE reason = 'SALE'")
    assert sold is not None, "the sale has no ledger entry"
    assert sold["on_hand_delta"] == -2
    assert sold["happened_at"] == datetime(2026, 12, 6, 17, 30, tzinfo=UTC)
    assert sold["reference"] == "till 3"
    letters = await dead_letters(nats_server.url)
    found = {(letter["streamSequence"], code, letter["code"]) for _, code, letter in letters}
    assert found == {(4, "VERSION_CONFLICT", "VERSION_CONFLICT"), (5, "NOT_FOUND", "NOT_FOUND"),
                     (6, "FORBIDDEN", "FORBIDDEN"), (7, "MALFORMED", "MALFORMED"),
                     (8, "UNKNOWN_TYPE", "UNKNOWN_TYPE"), (10, "INVALID_QUANTITY",
                                                           "INVALID_QUANTITY")}
    by_sequence = {letter["streamSequence"]: (msg_id, letter) for msg_id, _, letter in letters}
    assert "version" in by_sequence[4][1]["reason"]
    assert "unknown SKU 'NOPE'" in by_sequence[5][1]["reason"]
    assert "may not touch location 'S2'" in by_sequence[6][1]["reason"]
    assert by_sequence[7][1]["message"] == "{oops"
    assert by_sequence[6][1]["subject"] == "stores.s2.stock"
    assert by_sequence[7][0] == "INGEST:7"  # the dead letter's id: the original's sequence
    assert sample("inventory_ingest_applied_total", type="inventory.adjust") \
        - applied_before == 2  # the first and its replayed duplicate
    await assert_consistent(pool)


async def test_a_key_without_write_scope_has_every_message_dead_lettered_forbidden(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    await shop(inventory)
    token, _ = await keys.create_key(pool, "reader", [Scope.READ, Scope.RESERVE])
    await publish(nats_server.url, [("stores.s1.stock", encoded(cloudevent(
        "inventory.adjust", str(n), sku="A", location="S1", delta=1, reason="RESTOCK")))
        for n in range(3)])
    async with ingesters(database_url, inventory, ingest_settings(nats_server.url, token)):
        await until(lambda: drained(nats_server.url), timeout=20)
    letters = await dead_letters(nats_server.url)
    assert [(code, "lacks scope inventory:write" in letter["reason"])
            for _, code, letter in letters] == [("FORBIDDEN", True)] * 3
    assert await ledger_count(pool) == 0


async def test_a_revoked_key_consumes_nothing_and_messages_wait(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    await shop(inventory)
    token, principal = await keys.create_key(pool, "pos", [Scope.WRITE])
    await keys.revoke_key(pool, str(principal.key_id))
    await publish(nats_server.url, [("stores.s1.stock", encoded(cloudevent(
        "inventory.adjust", "1", sku="A", location="S1", delta=1, reason="RESTOCK")))])
    async with ingesters(database_url, inventory, ingest_settings(nats_server.url, token)):
        await until(lambda: _gauge_is("inventory_ingest_key_refused", 1.0), timeout=10)
        await until(lambda: _gauge_is("inventory_ingest_leader", 1.0), timeout=10)
        # a negative: leading with the key refused, three key re-checks later (0.3 s each)
        # nothing was consumed (no consumer even made) and the message waits in the stream
        await asyncio.sleep(1.0)
        assert await pending(nats_server.url) is None
    assert await dead_letters(nats_server.url) == []
    assert await ledger_count(pool) == 0


async def _gauge_is(name: str, value: float) -> bool:
    return REGISTRY.get_sample_value(name) == value



async def test_a_message_that_keeps_failing_is_dead_lettered_internal_alone(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug (an exception that is not an outage) on one message: the batch is handed back
    and redelivered a message at a time, so its neighbours are applied and the message alone
    is dead-lettered INTERNAL on its INGEST_MAX_DELIVERIES-th delivery."""
    original = ingesting._apply_run

    async def buggy(inventory: Inventory, principal: Any, run: Any) -> Any:
        if any(item.line is not None and item.line.reference == "boom" for _, item in run.items):
            raise RuntimeError("injected bug")
        return await original(inventory, principal, run)

    monkeypatch.setattr(ingesting, "_apply_run", buggy)
    await shop(inventory)
    token, _ = await keys.create_key(pool, "pos", [Scope.WRITE])
    await publish(nats_server.url, [("stores.s1.stock", encoded(cloudevent(
        "inventory.adjust", str(n), sku="A", location="S1", delta=1, reason="RESTOCK",
        reference="boom" if n == 1 else None))) for n in range(3)])
    s = ingest_settings(nats_server.url, token, max_deliveries=3)
    async with ingesters(database_url, inventory, s):
        await until(lambda: drained(nats_server.url), timeout=20)
    letters = await dead_letters(nats_server.url)
    assert [(code, letter["streamSequence"]) for _, code, letter in letters] == [("INTERNAL", 2)]
    assert "failed on each of 3 deliveries: RuntimeError" in letters[0][2]["reason"]
    assert await levels(pool) == {("A", "S1"): (2, 2)}
    await assert_consistent(pool)


async def test_dead_letters_go_to_the_stream_that_already_captures_their_subject(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    """With the relay on, its stream `inventory.>` captures the default dead-letter subject
    (`inventory.ingest.dead`): no second stream can, so the dead letters are kept there."""
    await shop(inventory)
    token, _ = await keys.create_key(pool, "pos", [Scope.WRITE])
    await publish(nats_server.url, [], stream="INVENTORY", subjects=["inventory.>"])
    await publish(nats_server.url, [("stores.s1.stock", b"not json")])
    async with ingesters(database_url, inventory, ingest_settings(nats_server.url, token)):
        await until(lambda: drained(nats_server.url), timeout=20)
    letters = await dead_letters(nats_server.url, stream="INVENTORY")
    assert [(code, letter["message"]) for _, code, letter in letters] == [
        ("MALFORMED", "not json")]
    assert await dead_letters(nats_server.url) == []  # no INGEST_DEAD made
