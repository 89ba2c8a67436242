"""allowSplit through real HTTP: a hold spread over locations in the channel's priority order
(or most available first), all or nothing, its refusals, idempotent retries, and split holds
racing single holds."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.api.test_channels import LEVELS, RESERVE, channels
from tests.api.test_mutations import call, codes
from tests.client import GraphQLClient
from tests.ledger_checks import assert_channel_holds, assert_consistent

__all__ = ["channels"]  # the fixture

SPLIT = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id location { code } }
  reservations { id quantity status location { code } channel { code } }
  level { location { code } reserved available } userErrors { code field message } } }"""


async def _split(client: GraphQLClient, **i: Any) -> Any:
    return await call(client, SPLIT, "reserve", {"sku": "SKU-1", "allowSplit": True, **i})


def _shares(p: Any) -> list[tuple[str, int]]:
    return [(r["location"]["code"], r["quantity"]) for r in p["reservations"]]


async def test_split_fills_the_channels_locations_in_priority_order(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    p = await _split(channels, quantity=3, channel="web")  # ST-B can hold it all: one hold
    assert p["userErrors"] == [] and _shares(p) == [("ST-B", 3)]
    p = await _split(channels, quantity=11, channel="web")  # ST-B's last 1, then all of WH-A
    assert p["userErrors"] == [] and _shares(p) == [("ST-B", 1), ("WH-A", 10)]
    p = await _split(channels, quantity=1, channel="web")
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_split_takes_the_first_of_them_as_reservation_and_level(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    p = await _split(channels, quantity=12, channel="web")
    assert _shares(p) == [("ST-B", 4), ("WH-A", 8)]
    assert p["reservation"] == {"id": p["reservations"][0]["id"], "location": {"code": "ST-B"}}
    assert p["level"] == {"location": {"code": "ST-B"}, "reserved": 4, "available": 0}
    assert {r["channel"]["code"] for r in p["reservations"]} == {"web"}
    assert {r["status"] for r in p["reservations"]} == {"ACTIVE"}
    # without a channel: most available first (WH-C 6, WH-A 2 left), WH-C never in web
    p = await _split(channels, quantity=7)
    assert _shares(p) == [("WH-C", 6), ("WH-A", 1)]
    assert [r["channel"] for r in p["reservations"]] == [None, None]
    levels = (await channels.data(LEVELS))["sku"]
    assert levels["reserved"] == 19
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_split_refusals_change_nothing(channels: GraphQLClient, pool: asyncpg.Pool) -> None:
    before = (await channels.data(LEVELS))["sku"]
    cases = [
        ({"quantity": 15, "channel": "web"}, [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"quantity": 21}, [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"quantity": 1, "location": "WH-A"}, [("INVALID_INPUT", ["input", "allowSplit"])]),
        ({"quantity": 1, "location": "WH-A", "channel": "web"},
         [("INVALID_INPUT", ["input", "allowSplit"])]),
        ({"quantity": 1, "channel": "nope"}, [("NOT_FOUND", ["input", "channel"])]),
        ({"quantity": 0, "channel": "web"}, [("INVALID_QUANTITY", ["input", "quantity"])]),
        ({"quantity": 1, "sku": "NOPE"}, [("NOT_FOUND", ["input", "sku"])]),
    ]
    for i, expected in cases:
        p = await _split(channels, **i)
        assert (p["reservation"], p["reservations"], p["level"], codes(p)) == (
            None, [], None, expected), i
    assert (await channels.data(LEVELS))["sku"] == before
    p = await call(channels, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 1,
                                                  "location": "WH-A", "allowSplit": False})
    assert p["userErrors"] == []
    await assert_consistent(pool)


async def test_split_retries_return_the_same_reservations(channels: GraphQLClient) -> None:
    i = {"quantity": 12, "channel": "web", "idempotencyKey": "split-1"}
    first = await _split(channels, **i)
    again = await _split(channels, **i)
    assert len(first["reservations"]) == 2 and again == first
    other = await _split(channels, **{**i, "quantity": 11})
    assert codes(other) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    single = await call(channels, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 12,
                                                       "channel": "web", "idempotencyKey": "split-1"})
    assert codes(single) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    assert (await channels.data(LEVELS))["sku"]["reserved"] == 12


async def test_split_holds_racing_single_holds_never_oversell(
    channels: GraphQLClient, pool: asyncpg.Pool
) -> None:
    """30 split holds of 3 through web, 30 single holds of 1 through web and 20 plain holds of
    2 (group-committed) race for 20 units: no oversell, no partial split hold, no deadlock."""

    async def split() -> Any:
        return await _split(channels, quantity=3, channel="web")

    async def single(**i: Any) -> Any:
        return await call(channels, SPLIT, "reserve", {"sku": "SKU-1", **i})

    calls = ([split() for _ in range(30)] + [single(quantity=1, channel="web") for _ in range(30)]
             + [single(quantity=2) for _ in range(20)])
    results = await asyncio.gather(*calls)
    for p in results:
        if p["userErrors"]:
            assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])], p
            assert p["reservations"] == []
    splits = [p for p in results[:30] if not p["userErrors"]]
    assert splits and all(sum(r["quantity"] for r in p["reservations"]) == 3 for p in splits)
    assert all(r["location"]["code"] in ("ST-B", "WH-A") for p in results[:60]
               for r in p["reservations"])
    held = sum(r["quantity"] for p in results for r in p["reservations"])
    levels = (await channels.data(LEVELS))["sku"]
    assert levels["reserved"] == held <= 20
    web = {lv["location"]["code"]: lv["reserved"] for lv in levels["levels"]}
    assert web["ST-B"] <= 4 and web["WH-A"] <= 10 and web["WH-C"] <= 6
    await assert_consistent(pool)
    await assert_channel_holds(pool)
