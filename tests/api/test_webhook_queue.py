"""WebhookEndpoint.queue (the operator console's webhooks tab): the backlog, dead deliveries and
last error counted per endpoint, admin only like the rest of the webhook API."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from tests.api.test_webhooks_api import as_key, disabled_endpoint, insert_deliveries, settings
from tests.client import GraphQLClient

__all__ = ["as_key", "settings"]  # the fixtures

QUEUE = """query($id: ID!) { webhookEndpoint(id: $id) {
  queue { pending dead oldestPendingAt lastError } } }"""
LIST = "{ webhookEndpoints { id queue { pending dead lastError } } }"


async def test_each_endpoint_counts_its_own_deliveries(
    client: GraphQLClient, pool: asyncpg.Pool
) -> None:
    endpoint_id = await disabled_endpoint(client)
    other = await disabled_endpoint(client)
    empty = (await client.data(QUEUE, {"id": endpoint_id}))["webhookEndpoint"]["queue"]
    assert empty == {"pending": 0, "dead": 0, "oldestPendingAt": None, "lastError": None}
    await insert_deliveries(pool, int(endpoint_id),
                            ["DELIVERED", "DEAD", "PENDING", "DEAD", "PENDING", "DELIVERED"])
    await insert_deliveries(pool, int(other), ["PENDING"])
    await pool.execute("UPDATE webhook_deliveries SET error = 'HTTP 503 from the endpoint' "
                       "WHERE endpoint_id = $1 AND sequence = 4", int(endpoint_id))
    queue = (await client.data(QUEUE, {"id": endpoint_id}))["webhookEndpoint"]["queue"]
    oldest = await pool.fetchval("SELECT min(created_at) FROM webhook_deliveries "
                                 "WHERE endpoint_id = $1 AND status = 'PENDING'", int(endpoint_id))
    assert queue == {"pending": 2, "dead": 2, "oldestPendingAt": oldest.isoformat(),
                     "lastError": "HTTP 503 from the endpoint"}
    listed = {e["id"]: e["queue"] for e in (await client.data(LIST))["webhookEndpoints"]}
    assert listed == {endpoint_id: {"pending": 2, "dead": 2,
                                    "lastError": "HTTP 503 from the endpoint"},
                      other: {"pending": 1, "dead": 0, "lastError": None}}


async def test_only_admins_read_an_endpoints_queue(
    client: GraphQLClient, as_key: Callable[[str | None], GraphQLClient], pool: asyncpg.Pool
) -> None:
    endpoint_id = await disabled_endpoint(client)
    await insert_deliveries(pool, int(endpoint_id), ["DEAD"])
    for caller, code in [(None, "UNAUTHENTICATED"), ("read", "FORBIDDEN"), ("write", "FORBIDDEN")]:
        for query, variables in ((QUEUE, {"id": endpoint_id}), (LIST, {})):
            body = await as_key(caller).post(query, variables)
            assert not any((body["data"] or {}).values()), (caller, body)
            assert [e["extensions"]["code"] for e in body["errors"]] == [code], (caller, body)
    queue = (await as_key("admin").data(QUEUE, {"id": endpoint_id}))["webhookEndpoint"]["queue"]
    assert (queue["dead"], queue["lastError"]) == (1, "HTTP 500 from the endpoint")
