"""A bundle on the relay, with a real nats-server and mosquitto: the kit's availability changes on
`<prefix>.availability.KIT` (Nats-Msg-Id = the id, one per move, in order), and its newest figures
retained on `<prefix>/availability/KIT` (the 7 fields, also when only onHand moved)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from bootstrap.lifespan import open_services
from domain.model import AdjustmentReason
from service import reserving, stocking
from service.inventory import Inventory
from settings import Settings
from settings.partners import PartnerSettings
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
from tests.ledger_checks import assert_consistent
from tests.mqtt_broker import MqttBroker, mosquitto_binary, retained
from tests.nats_server import NatsServer, stream_messages
from tests.relay_checks import until
from web.state import Services

STREAM, PREFIX = "INVKIT", "kit"



@pytest.fixture
def broker() -> Iterator[MqttBroker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("no mosquitto binary (apt-get install mosquitto)")
    with MqttBroker(binary) as running:
        yield running


def relaying(settings: Settings, **partners: Any) -> Settings:
    return dataclasses.replace(settings, partners=PartnerSettings(
        tail_sweep_interval=0.2, relay_lock_retry=0.2, **partners))


async def set_stock(inventory: Inventory, sku: str, on_hand: int) -> None:
    await stocking.set_stock(inventory, sku=sku, location="W", on_hand=on_hand, safety_stock=None,
                             expected_version=None, reference=None)


async def sink_started(services: Services, sink: str) -> None:
    async def check() -> bool:
        async with services.inventory.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM sink_starts WHERE sink = $1",
                                            sink))
    await until(check)


async def kit_messages(url: str) -> list[dict[str, Any]]:
    """The kit's CloudEvents in stream order; each one's Nats-Msg-Id is its id."""
    found = []
    for subject, msg_id, event in await stream_messages(url, STREAM):
        if event.get("subject") == KIT:
            assert subject == f"{PREFIX}.availability.{KIT}" and msg_id == event["id"]
            found.append(event)
    return found


async def test_the_stream_holds_one_message_per_move_of_the_kit_in_order(
    settings: Settings, nats_server: NatsServer
) -> None:
    url = nats_server.url

    async def published(count: int) -> None:
        async def enough() -> bool:
            return len(await kit_messages(url)) >= count
        await until(enough)

    async with open_services(relaying(
            settings, event_stream_url=url, event_stream_name=STREAM,
            event_stream_subject_prefix=PREFIX), None) as services:
        inventory, pool = services.inventory, services.inventory.pool
        await sink_started(services, "nats")
        await kit_catalogue(inventory)
        await set_stock(inventory, PART_1, 8)  # no K-2 yet: no kit
        await set_stock(inventory, PART_2, 8)  # 4 kits
        await published(1)
        hold = await reserving.reserve(inventory, sku=PART_1, location="W", quantity=1,
                                       ttl=600, reference=None)  # K-1: 7 available, 3 kits
        assert hold.error is None
        await published(2)
        hold = await reserving.reserve(inventory, sku=PART_2, location="W", quantity=1,
                                       ttl=600, reference=None)  # K-2: 7 available, still 3
        assert hold.error is None
        await stocking.adjust(inventory, sku=PART_2, location="W", delta=-5,
                              reason=AdjustmentReason.DAMAGE, reference=None)  # 2 available
        await published(3)
        await asyncio.gather(churn(inventory, PART_1, 10), churn(inventory, PART_2, 10))
        await until(lambda: caught_up(pool, "nats"))
        final = await view_figures(pool)
        messages = await kit_messages(url)
        await assert_consistent(pool)
    assert [m["id"] for m in messages[:3]] == [
        f"{KIT}/availability/{PART_2}/1", f"{KIT}/availability/{PART_1}/2",
        f"{KIT}/availability/{PART_2}/3"]
    assert [(m["data"]["previousAvailable"], m["data"]["available"], m["sequence"])
            for m in messages[:3]] == [(0, 4, 1), (4, 3, 2), (3, 2, 3)]
    assert_chain(messages)
    assert len({m["id"] for m in messages}) == len(messages)
    assert data_figures(messages[-1]["data"]) == final


async def test_the_kits_retained_figures_are_its_newest_also_when_only_onhand_moved(
    settings: Settings, broker: MqttBroker
) -> None:
    topic = f"{PREFIX}/availability/{KIT}"
    async with open_services(relaying(settings, mqtt_url=broker.url, mqtt_topic_prefix=PREFIX),
                             None) as services:
        inventory, pool = services.inventory, services.inventory.pool
        await sink_started(services, "mqtt")
        await kit_catalogue(inventory)
        await set_stock(inventory, PART_1, 8)
        await set_stock(inventory, PART_2, 8)
        await asyncio.gather(churn(inventory, PART_1, 10), churn(inventory, PART_2, 10))
        await set_stock(inventory, PART_2, 100)  # K-1 limits the kit, onHand too
        await stocking.adjust(inventory, sku=PART_1, location="W", delta=4,
                              reason=AdjustmentReason.RESTOCK, reference=None)
        hold = await reserving.reserve(inventory, sku=PART_1, location="W", quantity=2,
                                       ttl=600, reference=None)
        assert hold.error is None
        before = await view_figures(pool)
        await reserving.commit(inventory, reservation_id=hold.reservations[0].id, reference=None)
        final = await view_figures(pool)
        assert (final["onHand"], final["available"]) == (before["onHand"] - 1,
                                                         before["available"])

        async def newest() -> bool:
            found = await retained(broker.url, topic, 1, wait=1.0)
            return found.get(topic) is not None and data_figures(found[topic]) == final  # type: ignore[arg-type]
        await until(newest)
        found = await retained(broker.url, topic, 1, wait=1.0)
    assert isinstance(found[topic], dict)
    assert set(found[topic]) == {"sku", "available", "status", "onHand", "reserved",
                                 "sequence", "updatedAt"}
    assert data_figures(found[topic]) == final and final["sequence"] == 0
