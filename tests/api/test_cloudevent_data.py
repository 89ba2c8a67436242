"""A partner's CloudEvent `data` is the StockEvent exactly as the GraphQL API serialises
feed/cloudevents.py's STOCK_SELECTION of it, for every kind of entry and every field."""

from __future__ import annotations

import asyncpg

from feed import cloudevents
from store import ledger
from tests.client import GraphQLClient

EVENTS = f"""query($sku: String!) {{
  stockEvents(sku: $sku, first: 100) {{ {cloudevents.STOCK_SELECTION} }} }}"""


async def test_data_is_what_the_api_answers(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    client = catalogue
    held = await client.data("""mutation { reserve(input: {sku: "SKU-1", location: "WH-A",
        quantity: 2, reference: "cart-1"}) { reservation { id } userErrors { code } } }""")
    hold = held["reserve"]["reservation"]["id"]
    other = await client.data("""mutation { reserve(input: {sku: "SKU-1", location: "ST-B",
        quantity: 1}) { reservation { id } userErrors { code } } }""")
    await client.data(f"""mutation {{ commitReservation(input: {{reservationId: "{hold}"}}) {{ userErrors {{ code }} }} }}""")
    await client.data(f"""mutation {{ releaseReservation(input: {{reservationId:
        "{other['reserve']['reservation']['id']}"}})
        {{ userErrors {{ code }} }} }}""")
    await client.data("""mutation { adjustStock(input: {sku: "SKU-1", location: "ST-B", delta: -1,
        reason: DAMAGE, reference: "broken"}) { userErrors { code } } }""")
    expected = await client.data("""mutation { expectIncoming(input: {sku: "SKU-1", location:
        "WH-A", quantity: 3, expectedAt: "2030-01-01T00:00:00Z"}) { incoming { id } } }""")
    await client.data(f"""mutation {{ receiveIncoming(input: {{incomingId:
        "{expected['expectIncoming']['incoming']['id']}", quantity: 1}}) {{ userErrors {{ code }} }} }}""")
    answered = (await client.data(EVENTS, {"sku": "SKU-1"}))["stockEvents"]
    async with pool.acquire() as conn:
        events = await ledger.events_after(conn, "SKU-1", 0, 100)
    assert {e.kind.value for e in events} >= {"SET", "RESERVED", "COMMITTED", "RELEASED",
                                              "ADJUSTED", "INCOMING", "RECEIVED"}
    assert [cloudevents.stock_fields(e) for e in events] == answered
    document = cloudevents.stock_event(events[1], "inventory")
    assert document["data"] == answered[1] and document["id"] == "SKU-1/2"
    assert document["type"] == "inventory.stock." + answered[1]["kind"].lower()
