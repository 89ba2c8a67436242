"""A bundle's `inventory.availability.changed` through the real server: delivered to an endpoint
made with the API, its data is what the API answers for the bundle; a bundle's replay is refused."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import orjson
import pytest

from settings import Settings
from tests.api.conftest import set_stock
from tests.api.test_webhooks_api import fanned_out
from tests.bundle_checks import assert_chain, data_figures, view_figures
from tests.client import GraphQLClient
from tests.webhook_receiver import Receiver

ERRORS = "userErrors { code field message }"
CREATE = f"""mutation($i: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $i) {{
  endpoint {{ id }} secret {ERRORS} }} }}"""
BUNDLE = f"""mutation {{ upsertBundle(input: {{code: "KIT", name: "Kit", lowStockThreshold: 1,
  components: [{{sku: "SKU-1", quantity: 2}}, {{sku: "SKU-2", quantity: 1}}]}}) {{ {ERRORS} }} }}"""
RESERVE = f"""mutation {{ reserve(input: {{sku: "SKU-1", location: "WH-A", quantity: 5}}) {{
  {ERRORS} }} }}"""
REPLAY = f"""mutation($i: ReplayWebhookEventsInput!) {{ replayWebhookEvents(input: $i) {{
  queued {ERRORS} }} }}"""
SKU = "query { sku(code: \"KIT\") { sku: code available status onHand reserved sequence } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver is local; deliveries are looked for often."""
    return dataclasses.replace(settings, partners=dataclasses.replace(
        settings.partners, webhook_allow_private_networks=True, webhook_poll_interval=0.1,
        tail_sweep_interval=0.2))


async def endpoint(client: GraphQLClient, url: str, **filters: Any) -> tuple[str, str]:
    made = (await client.data(CREATE, {"i": {"url": url, **filters}}))["createWebhookEndpoint"]
    assert made["userErrors"] == [], made
    return made["endpoint"]["id"], made["secret"]


async def queued(pool: asyncpg.Pool, endpoint_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT body FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id",
                            int(endpoint_id))
    return [orjson.loads(bytes(r["body"])) for r in rows]


async def test_the_kits_event_data_is_what_the_api_answers(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    client = catalogue  # SKU-1: 10 at WH-A, 4 at ST-B; SKU-2: none
    async with Receiver() as receiver:
        kit, secret = await endpoint(client, receiver.url("kit"), skus=["KIT"])
        receiver.add("kit", secret)
        assert (await client.data(BUNDLE))["upsertBundle"]["userErrors"] == []
        await set_stock(client, "SKU-2", "WH-A", 3)  # 3 kits at WH-A, none at ST-B
        await receiver.until(lambda: len(receiver.delivered("kit")) >= 1)
        assert (await client.data(RESERVE))["reserve"]["userErrors"] == []  # SKU-1: 2 kits
        await receiver.until(lambda: len(receiver.delivered("kit")) >= 2)
        await set_stock(client, "SKU-2", "ST-B", 9)  # 2 more at ST-B
        await receiver.until(lambda: len(receiver.delivered("kit")) >= 3)
    documents = await queued(pool, kit)
    assert [d["id"] for d in documents] == [
        "KIT/availability/SKU-2/1", "KIT/availability/SKU-1/3", "KIT/availability/SKU-2/2"]
    assert [r.event_id for r in receiver.delivered("kit")] == [d["id"] for d in documents]
    assert all(r.verified for r in receiver.at("kit"))
    assert [d["data"]["available"] for d in documents] == [3, 2, 4]
    assert_chain(documents)
    last = data_figures(documents[-1]["data"])
    assert last == await view_figures(pool)
    assert last == (await client.data(SKU))["sku"]


async def test_replaying_a_bundle_is_refused_naming_sku(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    client = catalogue
    await fanned_out(pool)  # the catalogue's entries, before the endpoint: queued for none
    assert (await client.data(BUNDLE))["upsertBundle"]["userErrors"] == []
    everything, _ = await endpoint(client, "http://127.0.0.1:9/nowhere")
    before = await pool.fetchval("SELECT count(*) FROM webhook_deliveries")
    payload = (await client.data(REPLAY, {"i": {"endpointId": everything, "sku": "KIT",
                                                "afterSequence": 0}}))["replayWebhookEvents"]
    assert payload["queued"] == 0
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", ["input", "sku"])]
    assert "bundle availability events are not replayable" in payload["userErrors"][0]["message"]
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == before
    component = (await client.data(REPLAY, {"i": {"endpointId": everything, "sku": "SKU-1",
                                                  "afterSequence": 0}}))["replayWebhookEvents"]
    assert component["userErrors"] == [] and component["queued"] == 4  # its own events only
    assert {d["subject"] for d in await queued(pool, everything)} == {"SKU-1"}
