"""Webhook delivery across real server processes (uvicorn subprocesses on one database): one
SIGKILLed mid-delivery loses nothing, two never deliver the same attempt twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.inventory import Inventory
from tests.conftest import ADMIN_KEY, database_name
from tests.integration.test_webhook_delivery import (
    SKUS,
    add_endpoint,
    catalogue,
    churn,
    delivered_by_sku,
    expected,
    settled,
    sink_started,
)
from tests.ledger_checks import assert_consistent
from tests.processes import ServerProcess
from tests.webhook_receiver import Receiver, new_secret


def partner_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY, "DB_POOL_MAX_SIZE": "4",
        "FEED_CHANNEL_PREFIX": database_name(database_url),
        "WEBHOOK_TIMEOUT_SECONDS": "2", "WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,100ms,200ms,200ms,"
        "500ms,500ms,1s,1s,1s", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "WEBHOOK_POLL_INTERVAL": "100ms", "PARTNER_SWEEP_INTERVAL": "100ms",
    }


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


async def test_a_server_killed_mid_delivery_loses_nothing(
    database_url: str, inventory: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    endpoint = await add_endpoint(pool, receiver.add("slow", secret, answer="hang"), secret)
    first = ServerProcess(partner_env(database_url))
    await first.start()
    try:
        await sink_started(pool)
        await catalogue(inventory)
        await asyncio.gather(*(churn(inventory, code, 3) for code in SKUS))
        # every SKU's queue head is claimed and hangs at the receiver: the killed process has
        # nothing more in flight, so nothing it sent is read after the answer changes
        async with asyncio.timeout(20), pool.acquire() as conn:
            while len(receiver.at("slow")) < len(SKUS) or await conn.fetchval(
                    """SELECT count(*) FROM webhook_deliveries
                       WHERE leased_until > now()""") < len(SKUS):
                await asyncio.sleep(0.02)
        assert len(receiver.at("slow")) == len(SKUS)
        assert first.process is not None
        first.process.kill()  # SIGKILL, its attempts in flight
        first.process.wait(timeout=10)
    finally:
        first.stop()
    hung = {r.event_id for r in receiver.at("slow")}
    receiver.answer("slow", "200")
    everything = await expected(pool)
    total = sum(map(len, everything.values()))
    second = ServerProcess(partner_env(database_url))
    await second.start()
    try:
        await receiver.until(lambda: len(receiver.delivered("slow")) >= total, timeout=60)
        await settled(pool, [endpoint], total)
    finally:
        second.stop()
    assert delivered_by_sku(receiver, "slow") == everything  # each once, in order
    assert hung <= {r.event_id for r in receiver.delivered("slow")}
    assert all(r.verified for r in receiver.received)
    await assert_consistent(pool)


async def test_two_instances_never_deliver_the_same_attempt_twice(
    database_url: str, inventory: Inventory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    chance = random.Random(7)
    secret = new_secret()
    paths = ("one", "two")
    endpoints = [await add_endpoint(
        pool, receiver.add(path, secret, answer=lambda _i, _n: chance.choice(
            ("200", "200", "200", "500"))), secret) for path in paths]
    servers = [ServerProcess(partner_env(database_url)) for _ in range(2)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        await sink_started(pool)
        await catalogue(inventory)
        await asyncio.gather(*(churn(inventory, code, 15) for code in SKUS))
        everything = await expected(pool)
        total = sum(map(len, everything.values()))
        for path in paths:
            await receiver.until(lambda p=path: len(receiver.delivered(p)) >= total,  # type: ignore[misc]
                                 timeout=60)
        await settled(pool, endpoints, total)
    finally:
        for server in servers:
            server.stop()
    attempts = Counter((r.path, r.event_id, r.attempt) for r in receiver.received)
    assert [key for key, n in attempts.items() if n > 1] == []
    for path in paths:
        twice = Counter(r.event_id for r in receiver.delivered(path))
        assert [event_id for event_id, n in twice.items() if n > 1] == []
        assert delivered_by_sku(receiver, path) == everything
    assert len(receiver.received) > 2 * total  # failures were retried
    await assert_consistent(pool)
