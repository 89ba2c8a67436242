"""The read model (feed/read_model.py) across two instances on one PostgreSQL and Redis: A
writes with READ_MODEL=off (its reads are PostgreSQL's), B reads from its read model. Once a
change's event reached B, B's read shows it; after a Redis outage B never serves a stale
entry; a catalogue change on either instance reaches B's reads; random interleavings of
changes and reads agree with PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from feed.read_model import ReadModel
from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.redis_server import RedisServer

READ = """query($c: String!) { sku(code: $c) { code name lowStockThreshold onHand reserved
  available status sequence isBundle incoming
  levels { sku onHand reserved safetyStock available version updatedAt incoming
           location { code name kind } } } }"""
ADJUST = """mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code } } }"""
SET = """mutation($i: SetStockInput!) { setStock(input: $i) { userErrors { code } } }"""
RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id } userErrors { code } } }"""
RELEASE = """mutation($i: ReleaseReservationInput!) { releaseReservation(input: $i) {
  userErrors { code } } }"""
RENAME = """mutation($c: String!, $n: String!) { upsertSku(input: {code: $c, name: $n,
  lowStockThreshold: 7}) { userErrors { code } } }"""
LOCATION = """mutation($c: String!, $n: String!) { upsertLocation(input: {code: $c, name: $n,
  kind: STORE}) { userErrors { code } } }"""


def model_of(server: RunningServer) -> ReadModel:
    model = server.server.lifespan.state["services"].feed.read_model
    assert isinstance(model, ReadModel)
    return model


async def until(condition: Any, timeout: float = 10) -> None:
    """Polls a condition the server offers no event for (its read model's state)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@dataclasses.dataclass
class Pair:
    a: GraphQLClient
    b: GraphQLClient
    server_a: RunningServer
    server_b: RunningServer

    async def read(self, client: GraphQLClient, code: str = "SKU-1") -> dict[str, Any]:
        return await client.data(READ, {"c": code})

    async def filled(self, code: str = "SKU-1") -> None:
        """B keeps `code` (a read is a miss until then, and asks for it)."""
        model = model_of(self.server_b)
        async with asyncio.timeout(10):
            while model.sku(code) is None:
                await self.read(self.b, code)
                # a read per 50 ms: the key's rate budget (200/s, shared by A and B through
                # Redis) must still admit what the test does next
                await asyncio.sleep(0.05)

    async def same(self, code: str = "SKU-1") -> dict[str, Any]:
        """B's read (which must be a hit) equals A's (PostgreSQL's)."""
        assert model_of(self.server_b).sku(code) is not None, "B's read model missed"
        on_b, on_a = await self.read(self.b, code), await self.read(self.a, code)
        assert on_b == on_a
        return on_b


@pytest.fixture
async def pair(settings: Settings, redis_url: str) -> AsyncIterator[Pair]:
    shared = dataclasses.replace(settings, redis_url=redis_url, feed_sweep_interval=30,
                                 read_model=True)
    async with (RunningServer(dataclasses.replace(shared, read_model=False)) as server_a,
                RunningServer(shared) as server_b, aiohttp.ClientSession() as session):
        a = GraphQLClient(server_a.graphql_url, session, ADMIN)
        b = GraphQLClient(server_b.graphql_url, session, ADMIN)
        data = await a.data(SETUP)
        assert all(v["userErrors"] == [] for v in data.values())
        await set_stock(a, "SKU-1", "WH-A", 10)
        yield Pair(a, b, server_a, server_b)


async def adjust(client: GraphQLClient, delta: int, location: str = "WH-A",
                 sku: str = "SKU-1") -> None:
    data = await client.data(ADJUST, {"i": {"sku": sku, "location": location, "delta": delta,
                                            "reason": "RESTOCK" if delta > 0 else "DAMAGE"}})
    assert data["adjustStock"]["userErrors"] == []


async def test_a_change_whose_event_reached_b_is_in_bs_next_read(pair: Pair) -> None:
    await pair.filled()
    before = await pair.same()
    async with Feed(pair.server_b.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
        assert (await feed.next())["stockEvents"]["kind"] == "SNAPSHOT"
        for delta in (5, -2, 3):
            await adjust(pair.a, delta)
            event = (await feed.next())["stockEvents"]
            after = await pair.same()  # no wait between the event and the read
            assert after["sku"]["sequence"] == event["sequence"]
        # a level at a new location arrives by its event too
        await set_stock(pair.a, "SKU-1", "ST-B", 4)
        await feed.next()
        after = await pair.same()
    assert after["sku"]["onHand"] == before["sku"]["onHand"] + 6 + 4
    assert [lv["location"]["code"] for lv in after["sku"]["levels"]] == ["WH-A", "ST-B"]


async def test_no_stale_read_after_a_redis_outage(pair: Pair, redis_server: RedisServer) -> None:
    await pair.filled()
    model = model_of(pair.server_b)
    redis_server.stop()
    try:
        await until(lambda: model.sku("SKU-1") is None)  # the lost connection drops it
        await adjust(pair.a, 7)  # not published: Redis is down
        on_b, on_a = await pair.read(pair.b), await pair.read(pair.a)
        assert on_b == on_a  # read from PostgreSQL
    finally:
        redis_server.start()
    await pair.filled()  # refilled after the RESYNC
    async with Feed(pair.server_b.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
        await feed.next()
        await adjust(pair.a, 1)
        await feed.next()
        await pair.same()


async def test_catalogue_changes_reach_the_read_model(pair: Pair) -> None:
    await pair.filled()
    model = model_of(pair.server_b)
    # on the reading instance itself: dropped before the mutation answers
    await pair.b.data(RENAME, {"c": "SKU-1", "n": "Renamed on B"})
    assert (await pair.read(pair.b))["sku"]["name"] == "Renamed on B"
    await pair.filled()
    # on another instance: dropped when its notice arrives
    await pair.a.data(RENAME, {"c": "SKU-1", "n": "Renamed on A"})
    await until(lambda: (found := model.sku("SKU-1")) is None or found.name == "Renamed on A")
    assert (await pair.read(pair.b))["sku"]["name"] == "Renamed on A"
    await pair.filled()
    await pair.a.data(LOCATION, {"c": "WH-A", "n": "Main warehouse"})
    await until(lambda: model.location(1) is None or model.location(1).name == "Main warehouse")
    found = await pair.read(pair.b)
    assert found["sku"]["levels"][0]["location"]["name"] == "Main warehouse"
    # the locations come back by themselves, no SKU fill needed
    await until(lambda: (found := model.location(1)) is not None
                and found.name == "Main warehouse")
    await pair.filled()
    await pair.same()


async def test_random_interleavings_agree_with_postgresql(pair: Pair) -> None:
    rng = random.Random(20261207)
    await set_stock(pair.a, "SKU-2", "ST-B", 5)
    for code in ("SKU-1", "SKU-2"):
        await pair.filled(code)
    holds: list[str] = []
    async with (Feed(pair.server_b.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as one,
                Feed(pair.server_b.ws_url, EVENTS, {"sku": "SKU-2"}, PROTOCOLS[0]) as two):
        feeds = {"SKU-1": one, "SKU-2": two}
        for feed in feeds.values():
            await feed.next()
        for _ in range(40):
            code = rng.choice(["SKU-1", "SKU-2"])
            location = rng.choice(["WH-A", "ST-B"])
            step = rng.randrange(4)
            if step == 0:
                await adjust(pair.a, rng.randint(1, 5), location, code)
            elif step == 1:
                data = await pair.a.data(SET, {"i": {
                    "sku": code, "location": location, "onHand": rng.randint(0, 20),
                    "safetyStock": rng.randint(0, 3)}})
                if data["setStock"]["userErrors"]:
                    continue
            elif step == 2:
                data = await pair.a.data(RESERVE, {"i": {"sku": code, "quantity": 1}})
                if data["reserve"]["userErrors"]:
                    continue
                holds.append(data["reserve"]["reservation"]["id"])
            else:
                if not holds:
                    continue
                code = (await pair.a.data(
                    "query($i: ID!) { reservation(id: $i) { sku } }",
                    {"i": holds[-1]}))["reservation"]["sku"]
                data = await pair.a.data(RELEASE, {"i": {"reservationId": holds.pop()}})
                assert data["releaseReservation"]["userErrors"] == []
            await feeds[code].next()
            for other in ("SKU-1", "SKU-2"):
                await pair.same(other)


async def test_a_consistent_read_skips_the_read_model(pair: Pair) -> None:
    """`consistent: true` reads PostgreSQL (resolvers/routing.py), as does every operation that
    is not a plain query: B's kept entry is planted with a name only the model knows."""
    await pair.filled()
    keeper = model_of(pair.server_b)._kept["SKU-1"]
    assert keeper.sku is not None
    keeper.sku = dataclasses.replace(keeper.sku, name="only in the read model")
    name = "query($c: String!, $p: Boolean) { sku(code: $c, consistent: $p) { name } }"
    plain = await pair.b.data(name, {"c": "SKU-1"})
    assert plain["sku"]["name"] == "only in the read model"  # the hit the test planted
    hinted = await pair.b.data(name, {"c": "SKU-1", "p": True})
    assert hinted["sku"]["name"] == "Widget"  # PostgreSQL's


async def test_a_subscribers_snapshot_comes_from_the_read_model(pair: Pair) -> None:
    """B keeps SKU-1 at its stream's last delivery: a new subscriber's snapshot is that entry
    (a read model hit, no SQL), and every later event follows it once, in order."""
    await pair.filled()
    await adjust(pair.a, 2)
    model = model_of(pair.server_b)
    expected = await pair.read(pair.a)
    await until(lambda: (sku := model.sku("SKU-1")) is not None
                and sku.sequence == expected["sku"]["sequence"])
    hits = REGISTRY.get_sample_value("inventory_read_model_reads_total", {"outcome": "hit"})
    async with Feed(pair.server_b.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
        snapshot = (await feed.next())["stockEvents"]
        after = REGISTRY.get_sample_value("inventory_read_model_reads_total", {"outcome": "hit"})
        await adjust(pair.a, 3)
        event = (await feed.next())["stockEvents"]
    assert (after or 0) - (hits or 0) == 1
    assert snapshot["kind"] == "SNAPSHOT"
    assert snapshot["sequence"] == expected["sku"]["sequence"]
    assert snapshot["available"] == expected["sku"]["available"]
    assert event["sequence"] == snapshot["sequence"] + 1
    assert event["available"] == snapshot["available"] + 3
