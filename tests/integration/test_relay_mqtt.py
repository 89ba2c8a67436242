"""The relay to MQTT with a real broker (mosquitto): after a burst of concurrent changes, and
across a broker kill during it (retained messages lost), a fresh subscriber gets each SKU's final
figures as the retained message; MQTT_EVENTS publishes every ledger entry in order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiomqtt
import asyncpg
import orjson
import pytest

from bootstrap.lifespan import open_services
from feed.cloudevents import sku_token
from settings import Settings
from settings.partners import PartnerSettings
from tests.ledger_checks import assert_consistent
from tests.mqtt_broker import MqttBroker, mosquitto_binary, retained
from tests.relay_checks import SKUS, burst, catalogue, until
from web.state import Services

PREFIX = "invtest"
FIGURES = """
SELECT s.code, e.sequence, e.available, e.status, e.sku_on_hand, e.sku_reserved
FROM skus s JOIN stock_events e ON e.sku_id = s.id AND e.sequence = s.last_sequence
"""


@pytest.fixture
def broker() -> Iterator[MqttBroker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("no mosquitto binary (apt-get install mosquitto)")
    with MqttBroker(binary) as running:
        yield running


def relay_settings(settings: Settings, url: str, events: bool = False) -> Settings:
    return dataclasses.replace(settings, partners=PartnerSettings(
        mqtt_url=url, mqtt_topic_prefix=PREFIX, mqtt_events=events,
        tail_sweep_interval=0.2, relay_lock_retry=0.2))


async def final_figures(pool: asyncpg.Pool) -> dict[str, dict[str, object]]:
    """Each SKU's figures after its last entry, as the retained message should say them (also
    when that entry moved only onHand and reserved, a commit)."""
    async with pool.acquire() as conn:
        found = await conn.fetch(FIGURES)
    return {f"{PREFIX}/availability/{sku_token(r['code'])}": {
        "sku": r["code"], "available": r["available"], "status": r["status"],
        "onHand": r["sku_on_hand"], "reserved": r["sku_reserved"], "sequence": r["sequence"],
    } for r in found}


async def retained_figures(url: str, count: int) -> dict[str, dict[str, object]]:
    found = await retained(url, f"{PREFIX}/availability/+", count, wait=1.0)
    out = {}
    for topic, payload in found.items():
        assert isinstance(payload, dict)
        assert set(payload) == {"sku", "available", "status", "onHand", "reserved", "sequence",
                                "updatedAt"}
        out[topic] = {k: v for k, v in payload.items() if k != "updatedAt"}
    return out


async def until_retained(services: Services, url: str) -> dict[str, dict[str, object]]:
    want = await final_figures(services.inventory.pool)

    async def check() -> bool:
        return await retained_figures(url, len(want)) == want
    with contextlib.suppress(TimeoutError):
        await until(check, timeout=20, every=0.2)
    assert await retained_figures(url, len(want)) == want  # shows what differs
    return want


async def relay_started(services: Services) -> None:
    async def check() -> bool:
        async with services.inventory.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM sink_starts"))
    await until(check)


async def test_after_a_burst_each_retained_value_is_the_final_figures(
    settings: Settings, broker: MqttBroker
) -> None:
    async with open_services(relay_settings(settings, broker.url), None) as services:
        await relay_started(services)
        await catalogue(services.inventory)
        await burst(services.inventory, rounds=15, sales=True)
        want = await until_retained(services, broker.url)
        await assert_consistent(services.inventory.pool)
        async with services.inventory.pool.acquire() as conn:
            last = await conn.fetch("""SELECT e.kind, e.available, p.available AS before
                FROM skus s JOIN stock_events e ON e.sku_id = s.id AND e.sequence = s.last_sequence
                JOIN stock_events p ON p.sku_id = s.id AND p.sequence = s.last_sequence - 1""")
    assert len(want) == len(SKUS)
    # the burst ends each SKU with a commit, which moves onHand and reserved but not available
    assert {(r["kind"], r["available"] == r["before"]) for r in last} == {("COMMITTED", True)}
    assert f"{PREFIX}/availability/R%2F4%20%C3%BC" in want


async def test_a_broker_kill_during_the_burst_ends_with_the_final_figures(
    settings: Settings, broker: MqttBroker
) -> None:
    async with open_services(relay_settings(settings, broker.url), None) as services:
        await relay_started(services)
        await catalogue(services.inventory)
        work = asyncio.create_task(burst(services.inventory, rounds=60, pause=0.03, sales=True))
        await until(lambda: retained_figures(broker.url, 3), every=0.1)
        broker.kill()  # persistence is off: the retained messages are gone
        await asyncio.sleep(1.0)
        broker.start()
        await work  # whatever its pace, a second burst makes changes after the restart
        await burst(services.inventory, rounds=15, pause=0.01, sales=True)
        await until_retained(services, broker.url)
        await assert_consistent(services.inventory.pool)


async def test_mqtt_events_carries_every_entry_in_order(
    settings: Settings, broker: MqttBroker
) -> None:
    parts = urlsplit(broker.url)
    seen: dict[str, list[int]] = {}
    async with aiomqtt.Client(parts.hostname or "", parts.port or 1883,
                              identifier=f"t-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(f"{PREFIX}/events/+", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                event = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
                assert not message.retain and event["specversion"] == "1.0"
                assert str(message.topic) == f"{PREFIX}/events/{sku_token(event['subject'])}"
                seen.setdefault(event["subject"], []).append(event["sequence"])

        reader = asyncio.create_task(collect())
        try:
            async with open_services(relay_settings(settings, broker.url, events=True),
                                     None) as services:
                await relay_started(services)
                await catalogue(services.inventory)
                await burst(services.inventory, rounds=10)
                async with services.inventory.pool.acquire() as conn:
                    heads = {r["code"]: r["last_sequence"]
                             for r in await conn.fetch("SELECT code, last_sequence FROM skus")}

                async def complete() -> bool:
                    return all(len(seen.get(c, [])) >= n for c, n in heads.items())
                await until(complete)
                await asyncio.sleep(0.3)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    assert seen == {code: list(range(1, n + 1)) for code, n in heads.items()}
