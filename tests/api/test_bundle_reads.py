"""Every read of a bundle through real HTTP against figures computed by hand: its totals, derived
levels, channel figures, incoming, available-to-promise by date, next restock, status
thresholds and the skus page's filters; stockEvents of a bundle is empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import set_stock
from tests.api.test_bundles_catalogue import UPSERT
from tests.api.test_channels import UPSERT as UPSERT_CHANNEL
from tests.api.test_incoming import EXPECT
from tests.api.test_mutations import RESERVE, call
from tests.client import GraphQLClient

NOW = datetime.now(UTC).replace(microsecond=0)
T0, T1, T2, T3 = (NOW + timedelta(hours=h) for h in (12, 24, 48, 72))
SET = """mutation($i: SetStockInput!) { setStock(input: $i) { userErrors { code } } }"""
FIGURES = """query($c: String!) { sku(code: $c) { code isBundle onHand reserved available
  status sequence incoming lowStockThreshold
  levels { sku location { code } onHand reserved safetyStock available incoming version }
  web: available(channel: "web") webStatus: status(channel: "web")
  store: available(channel: "store") storeStatus: status(channel: "store")
  market: available(channel: "market") marketStatus: status(channel: "market") } }"""


def at(moment: datetime) -> str:
    return moment.isoformat()


async def put(client: GraphQLClient, sku: str, location: str, on_hand: int,
              safety: int = 0) -> None:
    p = await call(client, SET, "setStock",
                   {"sku": sku, "location": location, "onHand": on_hand, "safetyStock": safety})
    assert p["userErrors"] == []


async def hold(client: GraphQLClient, sku: str, location: str, quantity: int) -> str:
    p = await call(client, RESERVE, "reserve",
                   {"sku": sku, "location": location, "quantity": quantity})
    assert p["userErrors"] == [], p
    reservation: str = p["reservation"]["id"]
    return reservation


@pytest.fixture
async def kits(catalogue: GraphQLClient) -> GraphQLClient:
    await add_kits(catalogue)
    return catalogue


async def add_kits(client: GraphQLClient) -> None:
    """On the catalogue fixture's stock (SKU-1: 10 at WH-A, 4 at ST-B):
    KIT-1 = 2 x SKU-1 + 1 x SKU-2 (threshold 2); KIT-2 = SKU-1 + SKU-3 (no stock anywhere).

    level            SKU-1 onHand/avail    SKU-2 onHand/avail    KIT-1 onHand/avail
    WH-A             10 / 7 (3 held)       8 / 8                 min(5, 8)=5 / min(3, 8)=3
    ST-B              4 / 4                7 / 6 (safety 1)      min(2, 7)=2 / min(2, 6)=2
    WH-C              6 / 6                -                     no level (SKU-2 has none)
    KIT-1: onHand 7, available 5 (IN_STOCK); web (ST-B, WH-A) 5, store (ST-B) 2 LOW_STOCK,
    market (WH-C) 0 OUT_OF_STOCK."""
    data = await client.data("""mutation {
      c: upsertLocation(input: {code: "WH-C", name: "East", kind: WAREHOUSE}) { userErrors { code } }
      s: upsertSku(input: {code: "SKU-3", name: "Gizmo"}) { userErrors { code } } }""")
    assert all(v["userErrors"] == [] for v in data.values())
    await set_stock(client, "SKU-1", "WH-C", 6)
    await put(client, "SKU-2", "WH-A", 8)
    await put(client, "SKU-2", "ST-B", 7, safety=1)
    await hold(client, "SKU-1", "WH-A", 3)
    for code, locations in (("web", ["ST-B", "WH-A"]), ("store", ["ST-B"]),
                            ("market", ["WH-C"])):
        p = await call(client, UPSERT_CHANNEL, "upsertChannel",
                       {"code": code, "name": code, "locations": locations})
        assert p["userErrors"] == [], p
    for code, parts in (("KIT-1", [("SKU-1", 2), ("SKU-2", 1)]),
                        ("KIT-2", [("SKU-1", 1), ("SKU-3", 1)])):
        p = await call(client, UPSERT, "upsertBundle", {
            "code": code, "name": f"Kit {code}", "lowStockThreshold": 2,
            "components": [{"sku": s, "quantity": q} for s, q in parts]})
        assert p["userErrors"] == [], p


def level(location: str, on_hand: int, available: int, incoming: int = 0) -> dict[str, Any]:
    return {"sku": "KIT-1", "location": {"code": location}, "onHand": on_hand, "reserved": 0,
            "safetyStock": 0, "available": available, "incoming": incoming, "version": 0}


async def test_a_bundles_figures_are_derived_from_its_components(kits: GraphQLClient) -> None:
    sku = (await kits.data(FIGURES, {"c": "KIT-1"}))["sku"]
    assert sku == {
        "code": "KIT-1", "isBundle": True, "onHand": 7, "reserved": 0, "available": 5,
        "status": "IN_STOCK", "sequence": 0, "incoming": 0, "lowStockThreshold": 2,
        "levels": [level("WH-A", 5, 3), level("ST-B", 2, 2)],
        "web": 5, "webStatus": "IN_STOCK", "store": 2, "storeStatus": "LOW_STOCK",
        "market": 0, "marketStatus": "OUT_OF_STOCK",
    }
    empty = (await kits.data(FIGURES, {"c": "KIT-2"}))["sku"]
    assert (empty["onHand"], empty["available"], empty["status"], empty["levels"]) == (
        0, 0, "OUT_OF_STOCK", [])


async def test_levels_of_one_location(kits: GraphQLClient) -> None:
    query = """query($l: String!) { sku(code: "KIT-1") { levels(location: $l) {
      sku onHand available version location { code } } } }"""
    found = {place: (await kits.data(query, {"l": place}))["sku"]["levels"]
             for place in ("ST-B", "WH-C", "NOWHERE")}
    assert found == {"ST-B": [{"sku": "KIT-1", "onHand": 2, "available": 2, "version": 0,
                               "location": {"code": "ST-B"}}],
                     "WH-C": [], "NOWHERE": []}


async def test_status_follows_the_bundles_own_threshold(kits: GraphQLClient) -> None:
    query = '{ sku(code: "KIT-1") { available status } }'
    await hold(kits, "SKU-2", "WH-A", 6)  # SKU-2 at WH-A: 2 available, so KIT-1 there: 2
    assert (await kits.data(query))["sku"] == {"available": 4, "status": "IN_STOCK"}
    await hold(kits, "SKU-1", "ST-B", 3)  # SKU-1 at ST-B: 1, so KIT-1 there: 0
    assert (await kits.data(query))["sku"] == {"available": 2, "status": "LOW_STOCK"}
    await put(kits, "SKU-2", "WH-A", 6)  # 6 on hand, 6 held: nothing left
    assert (await kits.data(query))["sku"] == {"available": 0, "status": "OUT_OF_STOCK"}


async def test_sku_and_skus_by_code_agree_and_keep_the_order(kits: GraphQLClient) -> None:
    data = await kits.data("""{ skusByCode(codes: ["KIT-1", "SKU-1", "NOPE", "KIT-2"]) {
      code onHand reserved available sequence } }""")
    assert data["skusByCode"] == [
        {"code": "KIT-1", "onHand": 7, "reserved": 0, "available": 5, "sequence": 0},
        {"code": "SKU-1", "onHand": 20, "reserved": 3, "available": 17, "sequence": 4},
        {"code": "KIT-2", "onHand": 0, "reserved": 0, "available": 0, "sequence": 0},
    ]


async def test_the_skus_page_filters_see_bundles_figures(kits: GraphQLClient) -> None:
    query = """query($f: SkuFilter, $n: Int, $a: String) { skus(first: $n, after: $a,
      filter: $f) { edges { node { code available status } } pageInfo { hasNextPage endCursor } } }"""

    async def codes(f: dict[str, Any], n: int = 50) -> list[str]:
        page = (await kits.data(query, {"f": f, "n": n}))["skus"]
        return [e["node"]["code"] for e in page["edges"]]

    assert await codes({}) == ["KIT-1", "KIT-2", "SKU-1", "SKU-2", "SKU-3"]
    assert await codes({"status": "IN_STOCK"}) == ["KIT-1", "SKU-1", "SKU-2"]
    assert await codes({"status": "OUT_OF_STOCK"}) == ["KIT-2", "SKU-3"]
    assert await codes({"location": "ST-B"}) == ["KIT-1", "SKU-1", "SKU-2"]
    assert await codes({"location": "WH-C"}) == ["SKU-1"]  # KIT-1 lacks SKU-2 there
    assert await codes({"search": "Kit"}) == ["KIT-1", "KIT-2"]
    await hold(kits, "SKU-1", "WH-A", 5)  # SKU-1 at WH-A: 2 left, KIT-1 there 1: 3 in all
    assert await codes({"status": "LOW_STOCK"}) == []  # KIT-1 has 3 > 2
    await hold(kits, "SKU-1", "ST-B", 2)  # ST-B: 2 left, KIT-1 there 1: 2 in all
    assert await codes({"status": "LOW_STOCK"}) == ["KIT-1"]
    first = (await kits.data(query, {"n": 1}))["skus"]
    assert first["edges"][0]["node"] == {"code": "KIT-1", "available": 2, "status": "LOW_STOCK"}
    after = await kits.data(query, {"n": 1, "a": first["pageInfo"]["endCursor"]})
    assert after["skus"]["edges"][0]["node"]["code"] == "KIT-2"


async def expect(client: GraphQLClient, sku: str, location: str, quantity: int,
                 when: datetime) -> None:
    p = await call(client, EXPECT, "expectIncoming", {
        "sku": sku, "location": location, "quantity": quantity, "expectedAt": at(when)})
    assert p["userErrors"] == [], p


PROMISE = """query($c: String!, $t0: DateTime!, $t1: DateTime!, $t2: DateTime!, $t3: DateTime!)
{ sku(code: $c) { available incoming nextRestockAt levels { location { code } incoming }
  now: availableToPromise(at: $t0) t1: availableToPromise(at: $t1)
  t2: availableToPromise(at: $t2) t3: availableToPromise(at: $t3)
  storeT1: availableToPromise(at: $t1, channel: "store")
  marketT3: availableToPromise(at: $t3, channel: "market") } }"""


async def test_available_to_promise_and_next_restock_per_location(kits: GraphQLClient) -> None:
    """KIT-1 by date (T0 < T1 < T2 < T3), per location min((available + due) / quantity):
    T0 SKU-1 +9 at WH-C: no KIT-1 level there, nothing changes: 5
    T1 SKU-1 +4 at ST-B: ST-B min(8/2, 6) = 4 (was 2): 7
    T2 SKU-2 +10 at WH-A: WH-A min(7/2, 18) = 3, SKU-1 is what lacks: 7
    T3 SKU-1 +6 at WH-A: WH-A min(13/2, 18) = 6: 10.
    nextRestockAt is T1: the first moment KIT-1's promise rises, not T0."""
    variables = {"c": "KIT-1", "t0": at(NOW), "t1": at(T1), "t2": at(T2), "t3": at(T3)}
    before = (await kits.data(PROMISE, variables))["sku"]
    assert (before["nextRestockAt"], before["now"], before["t3"]) == (None, 5, 5)
    await expect(kits, "SKU-1", "WH-C", 9, T0)
    await expect(kits, "SKU-2", "WH-A", 10, T2)
    assert (await kits.data(PROMISE, variables))["sku"]["nextRestockAt"] is None
    await expect(kits, "SKU-1", "ST-B", 4, T1)
    await expect(kits, "SKU-1", "WH-A", 6, T3)
    sku = (await kits.data(PROMISE, variables))["sku"]
    assert sku == {
        "available": 5, "nextRestockAt": at(T1),
        # incoming per location: WH-A min(6/2, 10) = 3; ST-B min(4/2, 0) = 0
        "incoming": 3, "levels": [{"location": {"code": "WH-A"}, "incoming": 3},
                                  {"location": {"code": "ST-B"}, "incoming": 0}],
        "now": 5, "t1": 7, "t2": 7, "t3": 10, "storeT1": 4, "marketT3": 0,
    }
    # KIT-2's SKU-3 has no stock anywhere: SKU-1's incoming promises nothing of it
    empty = (await kits.data(PROMISE, {**variables, "c": "KIT-2"}))["sku"]
    assert (empty["nextRestockAt"], empty["t3"], empty["incoming"]) == (None, 0, 0)


async def test_an_unknown_channel_is_refused_for_a_bundle_too(kits: GraphQLClient) -> None:
    body = await kits.post("""{ sku(code: "KIT-1") {
      availableToPromise(at: "2030-01-01T00:00:00Z", channel: "nope") } }""")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    body = await kits.post('{ sku(code: "KIT-1") { available(channel: "nope") } }')
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]


async def test_stock_events_of_a_bundle_is_empty(kits: GraphQLClient) -> None:
    data = await kits.data("""{ b: stockEvents(sku: "KIT-1") { sequence }
      p: stockEvents(sku: "SKU-2", first: 1) { sequence } }""")
    assert data == {"b": [], "p": [{"sequence": 1}]}
