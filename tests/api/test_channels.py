"""Sales channels through real HTTP: upsertChannel and its refusals, the channel queries, a
SKU's figures through a channel, reserve and reserveLines through one (sourcing priority, every
refusal, idempotency, location-bound keys) and many reserves racing through one channel."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from domain.access import Scope
from store import keys
from tests.api.conftest import set_stock
from tests.api.test_access import as_key
from tests.api.test_mutations import call, codes
from tests.client import GraphQLClient
from tests.ledger_checks import assert_channel_holds, assert_consistent

__all__ = ["as_key"]  # the fixture, shared with the access tests

UPSERT = """mutation($i: UpsertChannelInput!) { upsertChannel(input: $i) {
  channel { code name locations { code } } userErrors { code field message } } }"""
CHANNELS = """query($c: String!) { channel(code: $c) { code name locations { code kind } }
  channels { code locations { code } } }"""
FIGURES = """query($c: String) { sku(code: "SKU-1") { available status
  web: available(channel: "web") webStatus: status(channel: "web")
  market: available(channel: "market") marketStatus: status(channel: "market")
  mine: available(channel: $c) } }"""
RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id quantity location { code } channel { code } }
  reservations { id location { code } channel { code name } }
  level { location { code } reserved } userErrors { code field message } } }"""
RESERVE_LINES = """mutation($i: ReserveLinesInput!) { reserveLines(input: $i) {
  reservations { id sku quantity location { code } channel { code } }
  userErrors { code field message } } }"""
RESERVATION = """query($id: ID!) { reservation(id: $id) { id channel { code } location { code } } }"""
LEVELS = """{ sku(code: "SKU-1") { reserved levels { location { code } reserved } } }"""


@pytest.fixture
async def channels(catalogue: GraphQLClient) -> GraphQLClient:
    """SKU-1: 4 at ST-B, 10 at WH-A, 6 at WH-C. web sells from ST-B first, then WH-A; market
    only from WH-C."""
    data = await catalogue.data("""mutation { upsertLocation(input: {code: "WH-C", name: "East",
      kind: WAREHOUSE}) { userErrors { code } } }""")
    assert data["upsertLocation"]["userErrors"] == []
    await set_stock(catalogue, "SKU-1", "WH-C", 6)
    for code, locations in (("web", ["ST-B", "WH-A"]), ("market", ["WH-C"])):
        p = await call(catalogue, UPSERT, "upsertChannel",
                       {"code": code, "name": code.title(), "locations": locations})
        assert p["userErrors"] == [], p
    return catalogue


async def _reserve(client: GraphQLClient, **i: Any) -> Any:
    return await call(client, RESERVE, "reserve", i)


async def test_upsert_channel_creates_and_replaces(channels: GraphQLClient) -> None:
    data = await channels.data(CHANNELS, {"c": "web"})
    assert data["channel"] == {"code": "web", "name": "Web", "locations": [
        {"code": "ST-B", "kind": "STORE"}, {"code": "WH-A", "kind": "WAREHOUSE"}]}
    assert [c["code"] for c in data["channels"]] == ["market", "web"]
    p = await call(channels, UPSERT, "upsertChannel",
                   {"code": "web", "name": "Web shop", "locations": ["WH-C", "WH-A", "ST-B"]})
    assert p == {"channel": {"code": "web", "name": "Web shop", "locations": [
        {"code": "WH-C"}, {"code": "WH-A"}, {"code": "ST-B"}]}, "userErrors": []}
    p = await call(channels, UPSERT, "upsertChannel",
                   {"code": "web", "name": "Web shop", "locations": ["WH-A"]})
    assert p["channel"]["locations"] == [{"code": "WH-A"}]
    assert (await channels.data(CHANNELS, {"c": "nope"}))["channel"] is None


async def test_upsert_channel_refusals_change_nothing(
    channels: GraphQLClient, pool: asyncpg.Pool, as_key: Any
) -> None:
    cases = [
        ({"code": "bad code!", "name": "x", "locations": ["WH-A"]},
         [("INVALID_INPUT", ["input", "code"])]),
        ({"code": "app", "name": " ", "locations": ["WH-A"]}, [("INVALID_INPUT", ["input", "name"])]),
        ({"code": "app", "name": "App", "locations": []},
         [("INVALID_INPUT", ["input", "locations"])]),
        ({"code": "app", "name": "App", "locations": ["WH-A", "WH-A"]},
         [("INVALID_INPUT", ["input", "locations", "1"])]),
        ({"code": "app", "name": "App", "locations": ["WH-A", "bad code!"]},
         [("INVALID_INPUT", ["input", "locations", "1"])]),
        ({"code": "app", "name": "App", "locations": ["WH-A", "NOWHERE", "ALSO-NOT"]},
         [("NOT_FOUND", ["input", "locations", "1"]), ("NOT_FOUND", ["input", "locations", "2"])]),
        ({"code": "web", "name": "Web", "locations": ["NOWHERE"]},
         [("NOT_FOUND", ["input", "locations", "0"])]),
    ]
    for i, expected in cases:
        p = await call(channels, UPSERT, "upsertChannel", i)
        assert (p["channel"], codes(p)) == (None, expected), i
    data = await channels.data(CHANNELS, {"c": "web"})
    assert [c["code"] for c in data["channels"]] == ["market", "web"]
    assert [loc["code"] for loc in data["channel"]["locations"]] == ["ST-B", "WH-A"]
    async with pool.acquire() as conn:
        token, _ = await keys.create(conn, "writer", [Scope.READ, Scope.RESERVE, Scope.WRITE])
    body = await as_key(token).post(UPSERT, {"i": {"code": "app", "name": "App",
                                                   "locations": ["WH-A"]}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await as_key(None).post(UPSERT, {"i": {"code": "app", "name": "App",
                                                  "locations": ["WH-A"]}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await channels.data(CHANNELS, {"c": "app"}))["channel"] is None


async def test_availability_through_a_channel(channels: GraphQLClient) -> None:
    sku = (await channels.data(FIGURES, {"c": None}))["sku"]
    assert sku == {"available": 20, "status": "IN_STOCK", "web": 14, "webStatus": "IN_STOCK",
                   "market": 6, "marketStatus": "IN_STOCK", "mine": 20}
    await _reserve(channels, sku="SKU-1", quantity=4, location="WH-C")
    sku = (await channels.data(FIGURES, {"c": "market"}))["sku"]
    assert (sku["market"], sku["marketStatus"], sku["mine"]) == (2, "LOW_STOCK", 2)
    await _reserve(channels, sku="SKU-1", quantity=2, location="WH-C")
    sku = (await channels.data(FIGURES, {"c": "web"}))["sku"]
    assert (sku["market"], sku["marketStatus"], sku["available"], sku["mine"]) == (
        0, "OUT_OF_STOCK", 14, 14)
    body = await channels.post(FIGURES, {"c": "nope"})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    assert body["errors"][0]["path"] == ["sku", "mine"] and body["data"] == {"sku": None}
    body = await channels.post(FIGURES, {"c": "x" * 300})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_reserve_through_a_channel_follows_its_priority(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    # ST-B first although WH-A has more; then WH-A once ST-B cannot hold the whole quantity
    p = await _reserve(channels, sku="SKU-1", quantity=3, channel="web")
    assert p["userErrors"] == [] and p["reservation"]["location"]["code"] == "ST-B"
    assert p["reservation"]["channel"] == {"code": "web"}
    assert p["reservations"] == [{"id": p["reservation"]["id"], "location": {"code": "ST-B"},
                                  "channel": {"code": "web", "name": "Web"}}]
    assert p["level"] == {"location": {"code": "ST-B"}, "reserved": 3}
    p = await _reserve(channels, sku="SKU-1", quantity=2, channel="web")
    assert p["reservation"]["location"]["code"] == "WH-A"
    p = await _reserve(channels, sku="SKU-1", quantity=1, channel="web", location="WH-A")
    assert p["reservation"]["location"]["code"] == "WH-A"
    found = (await channels.data(RESERVATION, {"id": p["reservation"]["id"]}))["reservation"]
    assert found["channel"] == {"code": "web"}
    # without a channel: the v1 rule (most available: WH-A has 7, WH-C 6), no channel
    p = await _reserve(channels, sku="SKU-1", quantity=1)
    assert p["reservation"]["location"]["code"] == "WH-A"
    assert p["reservation"]["channel"] is None and len(p["reservations"]) == 1
    p = await _reserve(channels, sku="SKU-1", quantity=6, channel="market")
    assert p["reservation"]["location"]["code"] == "WH-C"
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_reserve_through_a_channel_refusals_change_nothing(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    before = (await channels.data(LEVELS))["sku"]
    cases = [
        ({"channel": "nope"}, [("NOT_FOUND", ["input", "channel"])]),
        ({"channel": "bad code!"}, [("INVALID_INPUT", ["input", "channel"])]),
        ({"channel": "web", "location": "WH-C"}, [("INVALID_INPUT", ["input", "location"])]),
        ({"channel": "web", "location": "NOWHERE"}, [("NOT_FOUND", ["input", "location"])]),
        ({"channel": "web", "quantity": 11}, [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"channel": "web", "quantity": 5, "location": "ST-B"},
         [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"channel": "market", "quantity": 7}, [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"channel": "web", "quantity": 0}, [("INVALID_QUANTITY", ["input", "quantity"])]),
    ]
    for extra, expected in cases:
        p = await _reserve(channels, **{"sku": "SKU-1", "quantity": 1, **extra})
        assert (p["reservation"], p["reservations"], codes(p)) == (None, [], expected), extra
    assert (await channels.data(LEVELS))["sku"] == before
    await assert_consistent(pool)


async def test_reserve_through_a_channel_is_idempotent(channels: GraphQLClient) -> None:
    i = {"sku": "SKU-1", "quantity": 2, "channel": "web", "idempotencyKey": "k-1"}
    first = await _reserve(channels, **i)
    again = await _reserve(channels, **i)
    assert first["userErrors"] == [] and again == first
    assert again["reservation"]["channel"] == {"code": "web"}
    other = await _reserve(channels, **{**i, "channel": "market"})
    assert codes(other) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    plain = await _reserve(channels, **{**i, "idempotencyKey": "k-2", "channel": None})
    assert plain["reservation"]["channel"] is None
    assert (await channels.data(LEVELS))["sku"]["reserved"] == 4


async def test_reserve_lines_through_a_channel(channels: GraphQLClient, pool: asyncpg.Pool) -> None:
    p = await call(channels, RESERVE_LINES, "reserveLines", {"channel": "web", "lines": [
        {"sku": "SKU-1", "quantity": 5}, {"sku": "SKU-1", "quantity": 2, "location": "ST-B"}]})
    assert p["userErrors"] == []
    assert [(r["location"]["code"], r["quantity"], r["channel"]) for r in p["reservations"]] == [
        ("WH-A", 5, {"code": "web"}), ("ST-B", 2, {"code": "web"})]
    before = (await channels.data(LEVELS))["sku"]
    cases = [
        ({"channel": "nope", "lines": [{"sku": "SKU-1", "quantity": 1}]},
         [("NOT_FOUND", ["input", "channel"])]),
        ({"channel": "web", "lines": [{"sku": "SKU-1", "quantity": 1},
                                      {"sku": "SKU-1", "quantity": 1, "location": "WH-C"}]},
         [("INVALID_INPUT", ["input", "lines", "1", "location"])]),
        ({"channel": "web", "lines": [{"sku": "SKU-1", "quantity": 1},
                                      {"sku": "SKU-2", "quantity": 1}]},
         [("INSUFFICIENT_STOCK", ["input", "lines", "1", "quantity"])]),
        ({"channel": "web", "lines": [{"sku": "SKU-1", "quantity": 1},
                                      {"sku": "SKU-1", "quantity": 6}]},
         [("INSUFFICIENT_STOCK", ["input", "lines", "0", "quantity"])]),
        ({"channel": "bad code!", "lines": [{"sku": "SKU-1", "quantity": 1}]},
         [("INVALID_INPUT", ["input", "channel"])]),
    ]
    for i, expected in cases:
        p = await call(channels, RESERVE_LINES, "reserveLines", i)
        assert (p["reservations"], codes(p)) == ([], expected), i
    assert (await channels.data(LEVELS))["sku"] == before
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_location_bound_key_reserves_at_its_own_locations_of_the_channel(
    channels: GraphQLClient, pool: asyncpg.Pool, as_key: Any
) -> None:
    async with pool.acquire() as conn:
        token, _ = await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE], ["ST-B"])
        both, _ = await keys.create(conn, "pos-ac", [Scope.READ, Scope.RESERVE], ["WH-A", "WH-C"])
    pos = as_key(token)
    # web's first location is ST-B anyway; 5 cannot be held there and WH-A is not the key's
    p = await _reserve(pos, sku="SKU-1", quantity=3, channel="web")
    assert p["reservation"]["location"]["code"] == "ST-B"
    p = await _reserve(pos, sku="SKU-1", quantity=2, channel="web")
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    for i in ({"channel": "market"}, {"channel": "web", "location": "WH-A"}, {}):
        body = await pos.post(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1, **i}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", i
    body = await pos.post(RESERVE_LINES, {"i": {"channel": "market", "lines": [
        {"sku": "SKU-1", "quantity": 1}]}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a key of WH-A and WH-C: through web only WH-A is its own, ST-B is skipped
    p = await _reserve(as_key(both), sku="SKU-1", quantity=1, channel="web")
    assert p["reservation"]["location"]["code"] == "WH-A"
    p = await call(as_key(both), RESERVE_LINES, "reserveLines", {"channel": "market", "lines": [
        {"sku": "SKU-1", "quantity": 1}]})
    assert p["reservations"][0]["location"]["code"] == "WH-C"
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_many_reserves_through_a_channel_never_oversell(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    """60 holds of 1 through web (14 there) race 20 plain holds (which may take WH-C's 6 or
    web's stock) and 10 holds through market: nothing oversold, every channel hold at one of
    its channel's locations, the ledger consistent."""

    async def one(i: dict[str, Any]) -> Any:
        return await _reserve(channels, **{"sku": "SKU-1", "quantity": 1, **i})

    calls = ([one({"channel": "web"}) for _ in range(60)] + [one({}) for _ in range(20)]
             + [one({"channel": "market"}) for _ in range(10)])
    results = await asyncio.gather(*calls)
    held = [p for p in results if p["reservation"]]
    assert all(codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
               for p in results if not p["reservation"])
    assert len(held) == 20  # all of SKU-1's stock, no more
    for p in held:
        channel = p["reservation"]["channel"]
        allowed = {"web": {"ST-B", "WH-A"}, "market": {"WH-C"}}.get(
            channel["code"] if channel else "", {"ST-B", "WH-A", "WH-C"})
        assert p["reservation"]["location"]["code"] in allowed
    levels = (await channels.data(LEVELS))["sku"]
    assert levels["reserved"] == 20
    assert {lv["location"]["code"]: lv["reserved"] for lv in levels["levels"]} == {
        "ST-B": 4, "WH-A": 10, "WH-C": 6}
    await assert_consistent(pool)
    await assert_channel_holds(pool)
