"""Read-your-own-writes with the read model on (feed/own_writes.py): server processes on one
PostgreSQL and a real Redis. A read on the instance that committed a change shows it, at once,
every time, with the read model warm; with writers and readers at once, no read on the writing
instance is older than that client's own last write there, whatever the other instance writes
meanwhile; with READ_MODEL_WAIT_MS=0, or a feed that does not deliver (Redis refusing
publishes), such reads go to PostgreSQL and are just as fresh."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.api.conftest import SETUP
from tests.client import GraphQLClient
from tests.conftest import ADMIN, ADMIN_KEY, database_name
from tests.ledger_checks import assert_consistent
from tests.processes import ServerProcess

READ = """query($c: String!) { sku(code: $c) { onHand sequence
  levels { onHand version location { code } } } }"""
READ_MANY = """query($c: [String!]!) { skusByCode(codes: $c) { code onHand sequence } }"""
ADJUST = """mutation($s: String!, $d: Int!, $r: AdjustmentReason!) { adjustStock(input: {
  sku: $s, location: "WH-A", delta: $d, reason: $r}) { level { onHand version }
  userErrors { code } } }"""
CODES = ["SKU-1", "SKU-2"]


def env_for(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ADMIN_API_KEY": ADMIN_KEY,
            "FEED_CHANNEL_PREFIX": database_name(database_url), "DB_POOL_MAX_SIZE": "4",
            "READ_MODEL": "on", "RATE_LIMIT_PER_KEY": "0", **extra}


async def metric(session: aiohttp.ClientSession, server: ServerProcess, name: str) -> float:
    async with session.get(f"{server.url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


HITS = 'inventory_read_model_reads_total{outcome="hit"}'
MISSES = 'inventory_read_model_reads_total{outcome="miss"}'


async def adjust(client: GraphQLClient, code: str, delta: int = 1) -> dict[str, Any]:
    data = await client.data(ADJUST, {"s": code, "d": delta,
                                      "r": "RESTOCK" if delta > 0 else "DAMAGE"})
    assert data["adjustStock"]["userErrors"] == []
    level: dict[str, Any] = data["adjustStock"]["level"]
    return level


async def warm(session: aiohttp.ClientSession, server: ServerProcess,
               client: GraphQLClient) -> None:
    """Reads until the instance's read model answers every SKU of CODES (bounded)."""
    async with asyncio.timeout(20):
        while True:
            before = await metric(session, server, HITS)
            await client.data(READ_MANY, {"c": CODES})
            if await metric(session, server, HITS) - before == len(CODES):
                return
            await asyncio.sleep(0.02)  # the fill runs in the background; nothing to await


async def offsets(client: GraphQLClient) -> dict[str, int]:
    """sequence - WH-A's version per SKU: every change of these SKUs is at WH-A, so a level
    version a mutation answers is the SKU's sequence less this."""
    found = {}
    for code in CODES:
        sku = (await client.data(READ, {"c": code}))["sku"]
        [level] = [lv for lv in sku["levels"] if lv["location"]["code"] == "WH-A"]
        found[code] = sku["sequence"] - level["version"]
    return found


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start(*servers: ServerProcess) -> None:
    await asyncio.gather(*(s.start() for s in servers))


async def prepare(client: GraphQLClient) -> None:
    data = await client.data(SETUP)
    assert all(v["userErrors"] == [] for v in data.values())
    for code in CODES:
        await adjust(client, code, 1000)


@pytest.mark.parametrize("wait_ms", ["100", "0"])
async def test_a_read_right_after_a_write_on_the_same_instance_shows_it(
    database_url: str, redis_url: str, session: aiohttp.ClientSession, wait_ms: str,
) -> None:
    server = ServerProcess(env_for(database_url, redis_url, READ_MODEL_WAIT_MS=wait_ms))
    try:
        await start(server)
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await prepare(client)
        await warm(session, server, client)
        hits, misses = await metric(session, server, HITS), await metric(session, server, MISSES)
        for i in range(300):
            code = CODES[i % 2]
            level = await adjust(client, code)
            if i % 3 == 2:
                [sku] = (await client.data(READ_MANY, {"c": [code]}))["skusByCode"]
            else:
                sku = (await client.data(READ, {"c": code}))["sku"]
            assert sku["onHand"] == level["onHand"], f"round {i}: read {sku}, wrote {level}"
        hits = await metric(session, server, HITS) - hits
        misses = await metric(session, server, MISSES) - misses
        assert hits + misses >= 300
        if wait_ms != "0":
            # the model answered (it waited for the feed), not PostgreSQL alone
            assert hits > 0
        # with no wait, a read the feed has not caught up with goes to PostgreSQL; how many do
        # depends on the machine's pace (none on a fast run), so only the answers are checked,
        # and the fallback itself by test_a_feed_that_does_not_deliver_sends_own_reads_to_postgresql
        assert await metric(session, server, "inventory_read_model_skus") == len(CODES)
    finally:
        server.stop()


async def test_concurrent_writers_never_read_older_than_their_own_last_write(
    database_url: str, redis_url: str, session: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:
    """Four clients on A each adjust a random SKU and read it (one SKU, or both) at once;
    B's writer moves the same SKUs meanwhile and two readers on A only read. A writer's read
    never shows a sequence below its own write's, nor a level version below it."""
    a, b = (ServerProcess(env_for(database_url, redis_url)) for _ in range(2))
    try:
        await start(a, b)
        on_a, on_b = (GraphQLClient(s.graphql_url, session, ADMIN) for s in (a, b))
        await prepare(on_a)
        await warm(session, a, on_a)
        offset = await offsets(on_a)
        checked = 0
        stop = asyncio.Event()

        async def writer(seed: int) -> None:
            nonlocal checked
            rng = random.Random(seed)
            for _ in range(60):
                code = rng.choice(CODES)
                level = await adjust(on_a, code, rng.randint(1, 3))
                mine = level["version"] + offset[code]
                if rng.random() < 0.5:
                    sku = (await on_a.data(READ, {"c": code}))["sku"]
                    [seen] = [lv for lv in sku["levels"] if lv["location"]["code"] == "WH-A"]
                    assert seen["version"] >= level["version"], (seen, level)
                else:
                    found = (await on_a.data(READ_MANY, {"c": CODES}))["skusByCode"]
                    [sku] = [s for s in found if s["code"] == code]
                assert sku["sequence"] >= mine, f"{code}: read #{sku['sequence']}, wrote #{mine}"
                checked += 1

        async def elsewhere() -> None:
            while not stop.is_set():
                await adjust(on_b, random.choice(CODES), -1)

        async def reader() -> None:
            while not stop.is_set():
                found = await on_a.data(READ_MANY, {"c": CODES})
                assert len(found["skusByCode"]) == len(CODES)

        hits = await metric(session, a, HITS)
        background = [asyncio.create_task(elsewhere()), asyncio.create_task(reader()),
                      asyncio.create_task(reader())]
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(*(writer(seed) for seed in range(4)))
        finally:
            stop.set()
            await asyncio.gather(*background)
        assert checked == 4 * 60
        assert await metric(session, a, HITS) - hits > 0
        # the figures the reads came from are the ledger's
        await assert_consistent(pool)
    finally:
        a.stop()
        b.stop()


async def test_a_feed_that_does_not_deliver_sends_own_reads_to_postgresql(
    database_url: str, redis_url: str, session: aiohttp.ClientSession,
) -> None:
    """Redis refuses publishes for a while (CLIENT PAUSE WRITE; subscriptions stay up, so the
    entries stay live, at the figures before the writes): each read waits its bounded time,
    then reads PostgreSQL and shows the write; once the feed delivers, reads hit again."""
    server = ServerProcess(env_for(database_url, redis_url, FEED_SWEEP_INTERVAL_MS="60000"))
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await start(server)
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await prepare(client)
        await warm(session, server, client)
        misses = await metric(session, server, MISSES)
        await redis.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
        try:
            for _ in range(5):
                level = await adjust(client, "SKU-1")
                sku = (await client.data(READ, {"c": "SKU-1"}))["sku"]
                assert sku["onHand"] == level["onHand"]
            assert await metric(session, server, MISSES) - misses >= 5
        finally:
            await redis.execute_command("CLIENT", "UNPAUSE")
        await warm(session, server, client)  # the queued events arrive: hits again
        assert (await client.data(READ, {"c": "SKU-1"}))["sku"]["onHand"] == level["onHand"]
    finally:
        server.stop()
        await redis.aclose()


async def test_a_revalidated_get_never_keeps_a_304_older_than_the_feed(
    database_url: str, redis_url: str, session: aiohttp.ClientSession,
) -> None:
    """B's read model lags A's commit (Redis refusing publishes): B's revalidated GET may
    answer 304 meanwhile (the feed's staleness), but once the event arrived B's next one
    must run and show the change, not repeat a 304 remembered under a newer token."""
    a, b = (ServerProcess(env_for(database_url, redis_url, FEED_SWEEP_INTERVAL_MS="60000"))
            for _ in range(2))
    redis = aioredis.Redis.from_url(redis_url)
    query = '{ sku(code: "SKU-1") { code onHand } }'

    async def get(tag: str | None = None) -> tuple[int, str, Any]:
        headers = {**ADMIN, **({"If-None-Match": tag} if tag else {})}
        async with session.get(b.graphql_url, params={"query": query},
                               headers=headers) as response:
            body = await response.json() if response.status == 200 else None
            return response.status, response.headers.get("ETag", ""), body

    try:
        await start(a, b)
        on_a, on_b = (GraphQLClient(s.graphql_url, session, ADMIN) for s in (a, b))
        await prepare(on_a)
        await warm(session, b, on_b)
        status, tag, body = await get()
        assert status == 200 and tag, (status, tag)
        before = body["data"]["sku"]["onHand"]
        await redis.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
        try:
            level = await adjust(on_a, "SKU-1")
            status, _, body = await get(tag)  # B has not got the event: its old figures
            assert status == 304 or body["data"]["sku"]["onHand"] == before
        finally:
            await redis.execute_command("CLIENT", "UNPAUSE")
        async with asyncio.timeout(10):
            while (await get())[2]["data"]["sku"]["onHand"] != level["onHand"]:
                await asyncio.sleep(0.05)  # B's feed delivers; a GET per 50 ms, inside the rate budget
        status, _, body = await get(tag)
        assert status == 200, "a 304 remembered under a token newer than B's read model"
        assert body["data"]["sku"]["onHand"] == level["onHand"]
    finally:
        a.stop()
        b.stop()
        await redis.aclose()
