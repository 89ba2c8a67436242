from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SETUP = """
mutation Setup {
  a: upsertLocation(input: {code: "WH-A", name: "Warehouse A", kind: WAREHOUSE}) { userErrors { code } }
  b: upsertLocation(input: {code: "ST-B", name: "Store B", kind: STORE}) { userErrors { code } }
  s: upsertSku(input: {code: "SKU-1", name: "Widget", lowStockThreshold: 3}) { userErrors { code } }
  t: upsertSku(input: {code: "SKU-2", name: "Gadget"}) { userErrors { code } }
}
"""


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[GraphQLClient]:
    async with aiohttp.ClientSession() as session:
        yield GraphQLClient(server.graphql_url, session, ADMIN)


async def set_stock(client: GraphQLClient, sku: str, location: str, on_hand: int) -> None:
    data = await client.data(
        """mutation($i: SetStockInput!) { setStock(input: $i) { userErrors { code message } } }""",
        {"i": {"sku": sku, "location": location, "onHand": on_hand}},
    )
    assert data["setStock"]["userErrors"] == []


@pytest.fixture
async def catalogue(client: GraphQLClient) -> GraphQLClient:
    """Two locations, two SKUs; SKU-1 has 10 at WH-A and 4 at ST-B."""
    data = await client.data(SETUP)
    assert all(v["userErrors"] == [] for v in data.values())
    await set_stock(client, "SKU-1", "WH-A", 10)
    await set_stock(client, "SKU-1", "ST-B", 4)
    return client
