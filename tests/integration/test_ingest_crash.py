"""THE crash test of ingestion: a server process ingesting 10,000 messages over five stores'
subjects (duplicates and invalid ones mixed in) is SIGKILLed mid-way and started again; every
valid message is applied exactly once, every invalid one dead-lettered exactly once with its
reason, and the ledger's invariants hold."""

from __future__ import annotations

import random
from collections import Counter

import asyncpg

from domain.access import Scope
from domain.model import LocationKind
from service import cataloguing, keys
from service.inventory import Inventory
from tests.conftest import ADMIN_KEY, database_name
from tests.ingest_checks import cloudevent, dead_letters, encoded, ledger_count, levels, pending
from tests.ingest_checks import publish as publish_all
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer
from tests.processes import ServerProcess
from tests.relay_checks import until

TOTAL = 10_000
STORES = [f"S{n}" for n in range(1, 6)]
SKUS = [f"K-{n}" for n in range(20)]



class Plan:
    """The messages, and what they must leave behind: the levels, how many ledger entries,
    and each invalid message's body with the code its dead letter must carry."""

    def __init__(self, seed: int = 14) -> None:
        rng = random.Random(seed)
        self.messages: list[tuple[str, bytes]] = []
        self.on_hand: Counter[tuple[str, str]] = Counter()
        self.applied = 0
        self.invalid: Counter[tuple[str, str]] = Counter()  # (body, code)
        valid: list[tuple[str, bytes]] = []
        for sku in SKUS:  # stock first, so a sale always finds some
            for store in STORES:
                self._valid(valid, store, "inventory.adjust", sku=sku, delta=100,
                            reason="RESTOCK")
        while len(self.messages) < TOTAL:
            n, roll = len(self.messages), rng.random()
            store, sku = rng.choice(STORES), rng.choice(SKUS)
            subject = f"stores.{store.lower()}.stock"
            if roll < 0.08 and valid:  # the same event again, as a second message
                self.messages.append(rng.choice(valid))
            elif roll < 0.10:
                self._invalid(subject, f"{{not json {n}".encode(), "MALFORMED")
            elif roll < 0.11:
                self._invalid(subject, encoded(cloudevent("inventory.recount", f"x{n}",
                                                          sku=sku)), "UNKNOWN_TYPE")
            elif roll < 0.12:
                self._invalid(subject, encoded(cloudevent(
                    "inventory.adjust", f"x{n}", sku="GHOST", location=store, delta=1,
                    reason="RESTOCK")), "NOT_FOUND")
            elif roll < 0.13:
                self._invalid(subject, encoded(cloudevent(
                    "inventory.adjust", f"x{n}", sku=sku, location=store, delta=1)),
                    "MALFORMED")  # no reason
            elif roll < 0.18:
                self._valid(valid, store, "inventory.sale", sku=sku, quantity=1,
                            happenedAt="2026-12-07T09:00:00Z")
            else:
                self._valid(valid, store, "inventory.adjust", sku=sku,
                            delta=rng.randint(1, 5), reason="RESTOCK")

    def _valid(self, valid: list[tuple[str, bytes]], store: str, kind: str,
               **data: object) -> None:
        n = len(self.messages)
        message = (f"stores.{store.lower()}.stock",
                   encoded(cloudevent(kind, f"e{n}", source=f"urn:pos:{store}",
                                      location=store, **data)))
        self.messages.append(message)
        valid.append(message)
        key = (str(data["sku"]), store)
        self.on_hand[key] += int(data["delta"]) if "delta" in data else -int(data["quantity"])  # type: ignore[call-overload]
        self.applied += 1

    def _invalid(self, subject: str, body: bytes, code: str) -> None:
        self.messages.append((subject, body))
        self.invalid[(body.decode(), code)] += 1


async def test_ingestion_survives_a_sigkill_mid_way_applying_each_message_once(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    for store in STORES:
        await cataloguing.upsert_location(inventory, code=store, name=store,
                                          kind=LocationKind.STORE)
    for sku in SKUS:
        await cataloguing.upsert_sku(inventory, code=sku, name=sku, low_stock_threshold=0)
    token, _ = await keys.create_key(pool, "pos-feed", [Scope.WRITE])
    plan = Plan()
    assert len(plan.messages) == TOTAL
    await publish_all(nats_server.url, plan.messages)
    env = {"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY, "DB_POOL_MAX_SIZE": "4",
           "FEED_CHANNEL_PREFIX": database_name(database_url),
           "INGEST_STREAM_URL": nats_server.url, "INGEST_SUBJECTS": "stores.*.stock",
           "INGEST_API_KEY": token, "INGEST_ACK_WAIT": "2s", "INGEST_RETRY": "300ms"}
    first, second = ServerProcess(env), ServerProcess(env)
    try:
        await first.start()
        await until(lambda: _applied_at_least(pool, plan.applied // 5), timeout=60, every=0.01)
        assert first.process is not None
        first.process.kill()  # SIGKILL: a run may be committed and not acknowledged
        first.process.wait(timeout=10)
        mid_way = await ledger_count(pool)
        assert mid_way < plan.applied, "ingestion finished before the kill: nothing tested"
        await second.start()
        await until(lambda: _drained(nats_server.url), timeout=60, every=0.1)
    finally:
        first.stop()
        second.stop()
    assert await ledger_count(pool) == plan.applied  # one entry per unique valid message
    assert {key: on_hand for key, (on_hand, _) in (await levels(pool)).items()} == dict(
        plan.on_hand)
    letters = await dead_letters(nats_server.url)
    assert Counter((letter["message"], code) for _, code, letter in letters) == plan.invalid
    assert len({msg_id for msg_id, _, _ in letters}) == len(letters)
    assert all(letter["reason"] for _, _, letter in letters)
    await assert_consistent(pool)


async def _applied_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return await ledger_count(pool) >= count


async def _drained(url: str) -> bool:
    return await pending(url) == 0
