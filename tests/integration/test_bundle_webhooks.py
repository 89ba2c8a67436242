"""A bundle's `inventory.availability.changed` by webhook, to a real receiver verifying Standard
Webhooks signatures: one per component entry that moves the kit, to the endpoints that name it,
in order across components, across two instances and retries, ending with the kit's figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from bootstrap.lifespan import open_services
from domain.model import AdjustmentReason
from feed import cloudevents
from service import reserving, stocking
from settings import Settings
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
from tests.integration.test_webhook_delivery import (
    add_endpoint,
    settled,
    sink_started,
    with_partners,
)
from tests.ledger_checks import assert_consistent
from tests.relay_checks import until
from tests.webhook_receiver import Receiver, new_secret


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


async def sent(pool: asyncpg.Pool, endpoint_id: int, sku: str) -> list[dict[str, Any]]:
    """The CloudEvents queued for the endpoint under `sku`, in queue order (as POSTed)."""
    async with pool.acquire() as conn:
        found = await conn.fetch("""SELECT body FROM webhook_deliveries
                                    WHERE endpoint_id = $1 AND sku = $2 ORDER BY id""",
                                 endpoint_id, sku)
    return [orjson.loads(bytes(r["body"])) for r in found]


async def test_a_move_of_the_kit_is_one_event_to_each_endpoint_naming_it(
    settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    secret = new_secret()
    kit = await add_endpoint(pool, receiver.add("kit", secret), secret, skus=[KIT])
    part = await add_endpoint(pool, receiver.add("part", secret), secret, skus=[PART_1])
    moves = await add_endpoint(pool, receiver.add("moves", secret), secret,
                               event_types=[cloudevents.AVAILABILITY_TYPE])
    sets = await add_endpoint(pool, receiver.add("sets", secret), secret,
                              event_types=["inventory.stock.set"], skus=[KIT])
    async with open_services(with_partners(settings), None) as services:
        inventory = services.inventory
        await sink_started(pool)
        await kit_catalogue(inventory)

        async def kit_events(count: int) -> None:
            await receiver.until(lambda: len(
                [r for r in receiver.delivered("kit") if r.type.startswith("inventory.a")])
                >= count)

        await stocking.set_stock(inventory, sku=PART_1, location="W", on_hand=10,
                                 safety_stock=None, expected_version=None, reference=None)
        await stocking.set_stock(inventory, sku=PART_2, location="W", on_hand=3,
                                 safety_stock=None, expected_version=None, reference=None)
        await kit_events(1)  # K-1 alone made no kit (no K-2 at W); K-2's first entry did: 3
        hold = await reserving.reserve(inventory, sku=PART_1, location="W", quantity=1, ttl=600,
                                       reference=None)  # K-1: 9 available, 4 kits: still 3
        assert hold.error is None
        hold = await reserving.reserve(inventory, sku=PART_2, location="W", quantity=1, ttl=600,
                                       reference=None)  # K-2: 2 available: 2 kits
        assert hold.error is None
        await kit_events(2)
        await stocking.adjust(inventory, sku=PART_1, location="W", delta=-6,
                              reason=AdjustmentReason.DAMAGE, reference=None)  # 1 kit: LOW
        await kit_events(3)
        await settled(pool, [kit, part, moves])
        final = await view_figures(pool)
    documents = await sent(pool, kit, KIT)
    assert [d["id"] for d in documents] == [
        f"{KIT}/availability/{PART_2}/1", f"{KIT}/availability/{PART_2}/2",
        f"{KIT}/availability/{PART_1}/3"]
    assert [r.event_id for r in receiver.delivered("kit")] == [d["id"] for d in documents]
    assert all(r.verified and r.sku == KIT for r in receiver.at("kit"))
    assert [(d["type"], d["subject"], d["sequence"]) for d in documents] == [
        (cloudevents.AVAILABILITY_TYPE, KIT, 1), (cloudevents.AVAILABILITY_TYPE, KIT, 2),
        (cloudevents.AVAILABILITY_TYPE, KIT, 3)]
    assert [{k: v for k, v in d["data"].items() if k != "updatedAt"} for d in documents] == [
        {"sku": KIT, "available": 3, "status": "IN_STOCK", "onHand": 3, "reserved": 0,
         "sequence": 0, "previousAvailable": 0, "previousStatus": "OUT_OF_STOCK"},
        {"sku": KIT, "available": 2, "status": "IN_STOCK", "onHand": 3, "reserved": 0,
         "sequence": 0, "previousAvailable": 3, "previousStatus": "IN_STOCK"},
        {"sku": KIT, "available": 1, "status": "LOW_STOCK", "onHand": 2, "reserved": 0,
         "sequence": 0, "previousAvailable": 2, "previousStatus": "IN_STOCK"}]
    assert data_figures(documents[-1]["data"]) == final
    # the SKU filter matches the event's subject: the component's endpoint gets none of the
    # kit's; an endpoint for every availability change gets them (and the components' own)
    assert {r.sku for r in receiver.delivered("part")} == {PART_1}
    assert [d["id"] for d in await sent(pool, moves, KIT)] == [d["id"] for d in documents]
    assert {r.sku for r in receiver.delivered("moves")} == {KIT, PART_1, PART_2}
    assert await sent(pool, sets, KIT) == []  # its types: no availability change
    await assert_consistent(pool)


async def test_two_instances_send_one_kit_in_order_through_retries_to_its_final_figures(
    settings: Settings, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    """Both components change at once, each through another instance (two fan-out tails on one
    sink), and the receiver fails a third of the first attempts: the endpoint gets every kit
    event once, in queue order, each one's previous figures the last one's."""
    secret = new_secret()
    firsts: list[str] = []

    def flaky(event_id: str, attempt: int) -> str:  # the 1st, 4th, 7th... event fails once
        if attempt == 1:
            firsts.append(event_id)
            return "500" if len(firsts) % 3 == 1 else "200"
        return "200"

    kit = await add_endpoint(pool, receiver.add("kit", secret, answer=flaky), secret, skus=[KIT])
    partners = with_partners(settings)
    async with open_services(partners, None) as one, open_services(partners, None) as two:
        await sink_started(pool)
        await kit_catalogue(one.inventory)
        for sku in (PART_1, PART_2):
            await stocking.set_stock(one.inventory, sku=sku, location="W", on_hand=8,
                                     safety_stock=None, expected_version=None, reference=None)
        await asyncio.gather(churn(one.inventory, PART_1, 12), churn(two.inventory, PART_2, 12))
        await until(lambda: caught_up(pool, "webhooks"))
        final = await view_figures(pool)

        async def arrived() -> bool:
            documents = await sent(pool, kit, KIT)
            return bool(documents) and data_figures(documents[-1]["data"]) == final
        await until(arrived)
        await settled(pool, [kit])
    documents = await sent(pool, kit, KIT)
    assert len(documents) >= 3  # the churn moved the kit up and down
    assert_chain(documents)
    assert data_figures(documents[-1]["data"]) == final
    delivered = [r.event_id for r in receiver.delivered("kit")]
    assert delivered == [d["id"] for d in documents]  # once each, in queue order
    assert any(r.answer == "500" for r in receiver.at("kit"))  # retries were in the way
    async with pool.acquire() as conn:  # every cause is a real component entry
        entries = {f"{r['code']}/{r['sequence']}" for r in await conn.fetch(
            "SELECT s.code, e.sequence FROM stock_events e JOIN skus s ON s.id = e.sku_id")}
    assert {d["id"].split("/availability/")[1] for d in documents} <= entries
    await assert_consistent(pool)
