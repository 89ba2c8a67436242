"""The webhook API through the real server: every query and mutation, every refusal (scope, URL,
private address, event type, SKU list, endpoint cap, ids, replay limits), the secret."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from standardwebhooks import Webhook

from domain.access import Scope
from domain.webhook_rules import MAX_REPLAY_EVENTS
from settings import Settings
from store import keys
from tests.api.conftest import set_stock
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent
from tests.webhook_receiver import Receiver

MAX_ENDPOINTS = 3
OVERLAP = 90.0  # WEBHOOK_SECRET_OVERLAP, seconds
ENDPOINT = "id url eventTypes skus enabled disabledReason createdAt"
ERRORS = "userErrors { code field message }"
CREATE = f"""mutation($i: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $i) {{
  endpoint {{ {ENDPOINT} }} secret {ERRORS} }} }}"""
UPDATE = f"""mutation($i: UpdateWebhookEndpointInput!) {{ updateWebhookEndpoint(input: $i) {{
  endpoint {{ {ENDPOINT} }} {ERRORS} }} }}"""
DELETE = f"""mutation($id: ID!) {{ deleteWebhookEndpoint(id: $id) {{
  endpoint {{ {ENDPOINT} }} {ERRORS} }} }}"""
ROTATE = f"""mutation($id: ID!) {{ rotateWebhookSecret(id: $id) {{
  endpoint {{ id }} secret {ERRORS} }} }}"""
REPLAY = f"""mutation($i: ReplayWebhookEventsInput!) {{ replayWebhookEvents(input: $i) {{
  queued {ERRORS} }} }}"""
RETRY = f"""mutation($id: ID!) {{ retryDeadDeliveries(endpointId: $id) {{ queued {ERRORS} }} }}"""
LIST = f"{{ webhookEndpoints {{ {ENDPOINT} }} }}"
GET = f"query($id: ID!) {{ webhookEndpoint(id: $id) {{ {ENDPOINT} }} }}"
DELIVERIES = """query($id: ID!, $status: WebhookDeliveryStatus, $first: Int) {
  webhookEndpoint(id: $id) { deliveries(status: $status, first: $first) {
    id eventId eventType sku sequence status attempts responseStatus error nextAttemptAt
    deliveredAt createdAt } } }"""
URL = "http://127.0.0.1:9/hooks/a"  # nothing listens on the discard port


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Private addresses allowed (the receiver of a test is local), a small endpoint cap."""
    return dataclasses.replace(settings, partners=dataclasses.replace(
        settings.partners, webhook_allow_private_networks=True,
        webhook_max_endpoints=MAX_ENDPOINTS, webhook_secret_overlap=OVERLAP,
    ))


async def create(client: GraphQLClient, **given: Any) -> dict[str, Any]:
    data = await client.data(CREATE, {"i": {"url": URL, **given}})
    payload: dict[str, Any] = data["createWebhookEndpoint"]
    return payload


async def created(client: GraphQLClient, **given: Any) -> dict[str, Any]:
    payload = await create(client, **given)
    assert payload["userErrors"] == [], payload
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def endpoint_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM webhook_endpoints")
    return count


async def test_create_read_update_delete(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    made = await created(catalogue, eventTypes=["inventory.stock.set",
                                                "inventory.availability.changed"],
                         skus=["SKU-1", "SKU-2"])
    endpoint = made["endpoint"]
    assert endpoint["url"] == URL and endpoint["enabled"] is True
    assert endpoint["eventTypes"] == ["inventory.stock.set", "inventory.availability.changed"]
    assert endpoint["skus"] == ["SKU-1", "SKU-2"] and endpoint["disabledReason"] is None
    assert endpoint["id"].isdigit()
    age = datetime.now(UTC) - datetime.fromisoformat(endpoint["createdAt"])
    assert timedelta(0) <= age < timedelta(seconds=30)
    row = await pool.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", int(endpoint["id"]))
    assert row["secret"] == made["secret"] and row["created_by"] is None  # ADMIN_API_KEY

    everything = await created(catalogue)  # no filters: every type, every SKU
    assert everything["endpoint"]["eventTypes"] == [] and everything["endpoint"]["skus"] == []
    listed = (await catalogue.data(LIST))["webhookEndpoints"]
    assert [e["id"] for e in listed] == [endpoint["id"], everything["endpoint"]["id"]]
    assert (await catalogue.data(GET, {"id": endpoint["id"]}))["webhookEndpoint"] == endpoint

    # partial: only what is given changes
    changed = (await catalogue.data(UPDATE, {"i": {"id": endpoint["id"], "skus": ["SKU-2"]}})
               )["updateWebhookEndpoint"]
    assert changed["userErrors"] == []
    assert changed["endpoint"] == {**endpoint, "skus": ["SKU-2"]}
    changed = (await catalogue.data(UPDATE, {"i": {
        "id": endpoint["id"], "url": "https://127.0.0.1:8443/other", "eventTypes": [],
    }}))["updateWebhookEndpoint"]["endpoint"]
    assert changed["url"] == "https://127.0.0.1:8443/other" and changed["eventTypes"] == []
    assert changed["skus"] == ["SKU-2"]

    # an admin disables: the reason says so; a server's reason (set here in SQL) is kept
    off = (await catalogue.data(UPDATE, {"i": {"id": endpoint["id"], "enabled": False}})
           )["updateWebhookEndpoint"]["endpoint"]
    assert off["enabled"] is False and off["disabledReason"] == "disabled by an admin"
    await pool.execute("""UPDATE webhook_endpoints SET disabled_reason = 'HTTP 410 Gone',
                          failing_since = now() WHERE id = $1""", int(endpoint["id"]))
    off = (await catalogue.data(UPDATE, {"i": {"id": endpoint["id"], "enabled": False}})
           )["updateWebhookEndpoint"]["endpoint"]
    assert off["disabledReason"] == "HTTP 410 Gone"
    # re-enabling clears the reason and the failure clock
    on = (await catalogue.data(UPDATE, {"i": {"id": endpoint["id"], "enabled": True}})
          )["updateWebhookEndpoint"]["endpoint"]
    assert on["enabled"] is True and on["disabledReason"] is None
    assert await pool.fetchval("SELECT failing_since FROM webhook_endpoints WHERE id = $1",
                               int(endpoint["id"])) is None

    # delete: the history goes with it
    await insert_deliveries(pool, int(endpoint["id"]), ["DELIVERED", "DEAD"])
    gone = (await catalogue.data(DELETE, {"id": endpoint["id"]}))["deleteWebhookEndpoint"]
    assert gone["userErrors"] == [] and gone["endpoint"]["id"] == endpoint["id"]
    assert (await catalogue.data(GET, {"id": endpoint["id"]}))["webhookEndpoint"] is None
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1",
                               int(endpoint["id"])) == 0
    again = (await catalogue.data(DELETE, {"id": endpoint["id"]}))["deleteWebhookEndpoint"]
    assert codes(again) == [("NOT_FOUND", ["id"])] and again["endpoint"] is None
    assert [e["id"] for e in (await catalogue.data(LIST))["webhookEndpoints"]] == [
        everything["endpoint"]["id"]]
    await assert_consistent(pool)


async def test_secret_is_shown_once_and_signs_as_standard_webhooks(
    client: GraphQLClient, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await created(client)
    secret, endpoint_id = made["secret"], made["endpoint"]["id"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    # the official package signs and verifies with it
    body = '{"specversion":"1.0","id":"SKU-1/1"}'
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("SKU-1/1", now, body)
    headers = {"webhook-id": "SKU-1/1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature}
    assert Webhook(secret).verify(body, headers) == {"specversion": "1.0", "id": "SKU-1/1"}

    # never shown again: no field of the endpoint carries it
    read = await client.post(f'{{ webhookEndpoints {{ {ENDPOINT} deliveries {{ id }} }} }}')
    assert secret not in str(read) and "errors" not in read
    refused = await client.post(f'{{ webhookEndpoint(id: "{endpoint_id}") {{ secret }} }}')
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    rotated = (await client.data(ROTATE, {"id": endpoint_id}))["rotateWebhookSecret"]
    assert rotated["userErrors"] == [] and rotated["endpoint"]["id"] == endpoint_id
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != secret
    row = await pool.fetchrow("""SELECT secret, previous_secret,
                                        extract(epoch FROM previous_until - now()) AS left
                                 FROM webhook_endpoints WHERE id = $1""", int(endpoint_id))
    assert (row["secret"], row["previous_secret"]) == (new, secret)
    assert OVERLAP - 30 < float(row["left"]) <= OVERLAP
    assert Webhook(new).verify(body, {**headers, "webhook-signature": Webhook(new).sign(
        "SKU-1/1", now, body)})
    # one line per change, with the id and host, never a secret
    lines = [r.getMessage() for r in caplog.records if r.name == "service.webhooks"]
    assert lines == [f"webhook endpoint {endpoint_id} created (127.0.0.1)",
                     f"webhook endpoint {endpoint_id} secret rotated (127.0.0.1)"]
    assert secret not in caplog.text and new not in caplog.text
    assert secret.removeprefix("whsec_") not in caplog.text


@pytest.fixture
async def as_key(server: RunningServer, pool: asyncpg.Pool) -> AsyncIterator[
        Callable[[str | None], GraphQLClient]]:
    async with pool.acquire() as conn:
        made = {
            "read": await keys.create(conn, "reader", [Scope.READ]),
            "write": await keys.create(conn, "erp", [Scope.READ, Scope.RESERVE, Scope.WRITE]),
            "admin": await keys.create(conn, "ops", [Scope.ADMIN]),
        }
    tokens = {name: token for name, (token, _) in made.items()}
    async with aiohttp.ClientSession() as session:
        def make(name: str | None) -> GraphQLClient:
            headers = {"Authorization": f"Bearer {tokens[name]}"} if name else {}
            return GraphQLClient(server.graphql_url, session, headers)
        yield make


async def test_only_admins_reach_the_webhook_api(
    client: GraphQLClient, as_key: Callable[[str | None], GraphQLClient], pool: asyncpg.Pool,
) -> None:
    existing = (await created(client))["endpoint"]["id"]
    await insert_deliveries(pool, int(existing), ["DEAD"])
    calls = [
        (LIST, {}), (GET, {"id": existing}),
        (CREATE, {"i": {"url": URL}}),
        (UPDATE, {"i": {"id": existing, "enabled": False}}),
        (DELETE, {"id": existing}), (ROTATE, {"id": existing}),
        (REPLAY, {"i": {"endpointId": existing, "sku": "SKU-1", "afterSequence": 0}}),
        (RETRY, {"id": existing}),
    ]
    before = await pool.fetch("SELECT * FROM webhook_endpoints ORDER BY id")
    for caller, code in [(None, "UNAUTHENTICATED"), ("read", "FORBIDDEN"), ("write", "FORBIDDEN")]:
        for query, variables in calls:
            body = await as_key(caller).post(query, variables)
            assert not any((body["data"] or {}).values()), (caller, query)
            assert [e["extensions"]["code"] for e in body["errors"]] == [code], (caller, body)
    assert await pool.fetch("SELECT * FROM webhook_endpoints ORDER BY id") == before
    assert await pool.fetchval("SELECT status FROM webhook_deliveries") == "DEAD"
    # an admin key may, and is recorded as the endpoint's creator
    made = await created(as_key("admin"))
    creator = await pool.fetchval("SELECT created_by FROM webhook_endpoints WHERE id = $1",
                                  int(made["endpoint"]["id"]))
    assert creator == await pool.fetchval("SELECT id FROM api_keys WHERE name = 'ops'")


BAD_URLS = [
    ("ftp://127.0.0.1/x", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("127.0.0.1/hooks", "only http:// and https://"),
    ("", "only http:// and https://"),
    ("http://", "needs a host"),
    ("http:///path", "needs a host"),
    ("http://user:pw@127.0.0.1/x", "user name or password"),
    ("https://user@127.0.0.1/x", "user name or password"),
    ("http://127.0.0.1:99999/x", "not a valid URL"),
    ("http://[::1/x", "not a valid URL"),
    ("http://127.0.0.1/a b", "spaces or control characters"),
    ("http://127.0.0.1/\x00", "spaces or control characters"),
    ("http://127.0.0.1/\r\nX-Evil: 1", "spaces or control characters"),
    ("http://127.0.0.1/" + "a" * 2048, "at most 2048 characters"),
]


async def test_bad_urls_are_refused(client: GraphQLClient, pool: asyncpg.Pool) -> None:
    existing = (await created(client))["endpoint"]
    for url, message in BAD_URLS:
        payload = (await client.data(CREATE, {"i": {"url": url}}))["createWebhookEndpoint"]
        assert codes(payload) == [("INVALID_INPUT", ["input", "url"])], url
        assert message in payload["userErrors"][0]["message"], (url, payload)
        assert payload["endpoint"] is None and payload["secret"] is None
        changed = (await client.data(UPDATE, {"i": {"id": existing["id"], "url": url}})
                   )["updateWebhookEndpoint"]
        assert codes(changed) == [("INVALID_INPUT", ["input", "url"])], url
    assert await endpoint_count(pool) == 1
    assert (await client.data(GET, {"id": existing["id"]}))["webhookEndpoint"] == existing
    longest = "http://127.0.0.1/" + "a" * (2048 - len("http://127.0.0.1/"))
    assert (await create(client, url=longest))["userErrors"] == []


PRIVATE = ["http://127.0.0.1/x", "http://localhost:8080/x", "http://10.1.2.3/x",
           "http://192.168.0.10/x", "http://172.16.5.4/x", "http://[::1]/x",
           "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/x",
           "http://0.0.0.0/x", "http://100.64.0.1/x", "http://[fe80::1]/x", "http://[fd00::1]/x",
           "http://2130706433/x"]  # 127.0.0.1 as one number: getaddrinfo reads it so


async def test_private_addresses_are_refused_unless_allowed(
    settings: Settings, client: GraphQLClient,
) -> None:
    strict = dataclasses.replace(settings, partners=dataclasses.replace(
        settings.partners, webhook_allow_private_networks=False))
    allowed = (await created(client, url="http://127.0.0.1:9/x"))["endpoint"]  # the fixture's
    async with RunningServer(strict) as server, aiohttp.ClientSession() as session:
        admin = GraphQLClient(server.graphql_url, session, client.headers)
        for url in PRIVATE:
            payload = await create(admin, url=url)
            assert codes(payload) == [("INVALID_INPUT", ["input", "url"])], (url, payload)
            assert "private, loopback or link-local" in payload["userErrors"][0]["message"]
            assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in payload["userErrors"][0]["message"]
            changed = (await admin.data(UPDATE, {"i": {"id": allowed["id"], "url": url}})
                       )["updateWebhookEndpoint"]
            assert codes(changed) == [("INVALID_INPUT", ["input", "url"])], url
        unknown = await create(admin, url="https://no-such-host.invalid/x")
        assert codes(unknown) == [("INVALID_INPUT", ["input", "url"])]
        assert "could not be resolved" in unknown["userErrors"][0]["message"]
        # public addresses pass (literals: no DNS needed); nothing is sent at create time
        public = await created(admin, url="https://93.184.215.14/hooks")
        moved = (await admin.data(UPDATE, {"i": {"id": allowed["id"],
                                                 "url": "http://[2606:4700::1111]:8080/x"}})
                 )["updateWebhookEndpoint"]
        assert moved["userErrors"] == [] and public["endpoint"]["url"].startswith("https://93")
        # other fields of an endpoint with a private URL still change (the URL is not rechecked)
        assert (await admin.data(UPDATE, {"i": {"id": allowed["id"], "skus": ["SKU-1"]}})
                )["updateWebhookEndpoint"]["userErrors"] == []


async def test_event_types_and_skus_are_checked(client: GraphQLClient, pool: asyncpg.Pool) -> None:
    every = ["inventory.stock.reserved", "inventory.stock.released", "inventory.stock.expired",
             "inventory.stock.committed", "inventory.stock.adjusted", "inventory.stock.set",
             "inventory.availability.changed"]
    assert (await created(client, eventTypes=every))["endpoint"]["eventTypes"] == every
    cases: list[tuple[dict[str, Any], list[tuple[str, list[str]]]]] = [
        ({"eventTypes": ["inventory.stock.snapshot"]}, [("INVALID_INPUT", ["input", "eventTypes", "0"])]),
        ({"eventTypes": ["inventory.stock.set", "Inventory.Stock.Set"]},
         [("INVALID_INPUT", ["input", "eventTypes", "1"])]),
        ({"eventTypes": ["inventory.stock.set", "inventory.stock.set"]},
         [("INVALID_INPUT", ["input", "eventTypes", "1"])]),
        ({"eventTypes": ["inventory.stock.set"] * 51}, [("INVALID_INPUT", ["input", "eventTypes"])]),
        ({"skus": [f"S-{n}" for n in range(1001)]}, [("INVALID_INPUT", ["input", "skus"])]),
        ({"skus": ["SKU-1", "bad\x00code"]}, [("INVALID_INPUT", ["input", "skus", "1"])]),
        ({"skus": ["SKU-1", "x" * 201]}, [("INVALID_INPUT", ["input", "skus", "1"])]),
        ({"skus": ["  "]}, [("INVALID_INPUT", ["input", "skus", "0"])]),
        ({"skus": ["SKU-1", "SKU-1"]}, [("INVALID_INPUT", ["input", "skus", "1"])]),
        # every fault at once
        ({"url": "ftp://x", "eventTypes": ["nope"], "skus": ["\x00"]},
         [("INVALID_INPUT", ["input", "url"]), ("INVALID_INPUT", ["input", "eventTypes", "0"]),
          ("INVALID_INPUT", ["input", "skus", "0"])]),
    ]
    endpoint_id = (await created(client))["endpoint"]["id"]
    for given, expected in cases:
        payload = await create(client, **given)
        assert codes(payload) == expected, (given, payload)
        changed = (await client.data(UPDATE, {"i": {"id": endpoint_id, **given}})
                   )["updateWebhookEndpoint"]
        assert codes(changed) == expected, given
    message = (await create(client, eventTypes=["inventory.stock.sold"]))["userErrors"][0]["message"]
    assert "inventory.stock.sold" in message and "inventory.availability.changed" in message
    assert await endpoint_count(pool) == 2
    rows = await pool.fetch("SELECT event_types, skus FROM webhook_endpoints ORDER BY id")
    assert [list(r["event_types"]) for r in rows] == [every, []]


async def test_the_endpoint_cap_holds_under_concurrent_creates(
    client: GraphQLClient, pool: asyncpg.Pool,
) -> None:
    results = await asyncio.gather(*(create(client, url=f"{URL}/{n}") for n in range(8)))
    made = [r for r in results if not r["userErrors"]]
    refused = [r for r in results if r["userErrors"]]
    assert len(made) == MAX_ENDPOINTS and await endpoint_count(pool) == MAX_ENDPOINTS
    for payload in refused:
        assert codes(payload) == [("INVALID_INPUT", ["input"])]
        assert f"at most {MAX_ENDPOINTS} webhook endpoints" in payload["userErrors"][0]["message"]
        assert payload["secret"] is None
    await client.data(DELETE, {"id": made[0]["endpoint"]["id"]})
    assert (await create(client))["userErrors"] == []  # room again


MALFORMED = ["abc", "-1", "0", "01", "1e3", " 1", "1.0", "", "99999999999999999999",
             "9223372036854775808", "9223372036854775807", "12345"]


async def test_unknown_and_malformed_ids_are_not_found(
    client: GraphQLClient, pool: asyncpg.Pool,
) -> None:
    await created(client)
    for bad in MALFORMED:
        assert (await client.data(GET, {"id": bad}))["webhookEndpoint"] is None, bad
        update = (await client.data(UPDATE, {"i": {"id": bad, "enabled": False}})
                  )["updateWebhookEndpoint"]
        assert codes(update) == [("NOT_FOUND", ["input", "id"])], (bad, update)
        assert codes((await client.data(DELETE, {"id": bad}))["deleteWebhookEndpoint"]) == [
            ("NOT_FOUND", ["id"])]
        rotate = (await client.data(ROTATE, {"id": bad}))["rotateWebhookSecret"]
        assert codes(rotate) == [("NOT_FOUND", ["id"])] and rotate["secret"] is None
        replay = (await client.data(REPLAY, {"i": {"endpointId": bad, "sku": "SKU-1",
                                                   "afterSequence": 0}}))["replayWebhookEvents"]
        assert codes(replay) == [("NOT_FOUND", ["input", "endpointId"])], bad
        assert replay["queued"] == 0
        retry = (await client.data(RETRY, {"id": bad}))["retryDeadDeliveries"]
        assert codes(retry) == [("NOT_FOUND", ["endpointId"])] and retry["queued"] == 0
    assert await endpoint_count(pool) == 1
    assert await pool.fetchval("SELECT enabled FROM webhook_endpoints") is True


async def insert_deliveries(pool: asyncpg.Pool, endpoint_id: int, statuses: list[str]) -> list[int]:
    """One delivery per status, SKU-1's sequences 1, 2, ... (ids ascending)."""
    ids = []
    for n, status in enumerate(statuses, start=1):
        ids.append(await pool.fetchval(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, sku, sequence,
                   body, status, attempts, response_status, error, next_attempt_at, delivered_at)
               VALUES ($1, 'SKU-1/' || $2::bigint, 'inventory.stock.set', 'SKU-1', $2::bigint,
                       '\\x7b7d',
                       $3::text, $4, $5, $6, CASE WHEN $3::text = 'PENDING' THEN now() END,
                       CASE WHEN $3::text = 'DELIVERED' THEN now() END)
               RETURNING id""",
            endpoint_id, n, status, 1 if status == "DELIVERED" else 10,
            {"DELIVERED": 200, "DEAD": 500}.get(status),
            "HTTP 500 from the endpoint" if status == "DEAD" else None))
    return ids


async def disabled_endpoint(client: GraphQLClient, **given: Any) -> str:
    """An endpoint the delivery leaves alone (disabled), so its rows stay as a test made them."""
    endpoint_id: str = (await created(client, **given))["endpoint"]["id"]
    changed = await client.data(UPDATE, {"i": {"id": endpoint_id, "enabled": False}})
    assert changed["updateWebhookEndpoint"]["userErrors"] == []
    return endpoint_id


async def test_deliveries_newest_first_by_status(client: GraphQLClient, pool: asyncpg.Pool) -> None:
    endpoint_id = await disabled_endpoint(client)
    other = await disabled_endpoint(client)
    statuses = ["DELIVERED", "DELIVERED", "DEAD", "PENDING", "DEAD", "PENDING"]
    ids = await insert_deliveries(pool, int(endpoint_id), statuses)
    await insert_deliveries(pool, int(other), ["DEAD"])

    async def page(status: str | None = None, first: int | None = None) -> list[dict[str, Any]]:
        variables: dict[str, Any] = {"id": endpoint_id, "status": status}
        if first is not None:
            variables["first"] = first
        found: list[dict[str, Any]] = (await client.data(DELIVERIES, variables)
                                       )["webhookEndpoint"]["deliveries"]
        return found

    every = await page()
    assert [int(d["id"]) for d in every] == ids[::-1]
    assert [d["status"] for d in every] == statuses[::-1]
    assert [d["sequence"] for d in every] == [6, 5, 4, 3, 2, 1]
    dead = every[1]
    assert dead == {**dead, "eventId": "SKU-1/5", "eventType": "inventory.stock.set",
                    "sku": "SKU-1", "attempts": 10, "responseStatus": 500,
                    "error": "HTTP 500 from the endpoint", "deliveredAt": None}
    delivered = every[-1]
    assert delivered["responseStatus"] == 200 and delivered["deliveredAt"] is not None
    assert every[0]["nextAttemptAt"] is not None and every[0]["responseStatus"] is None
    assert [int(d["id"]) for d in await page("DEAD")] == [ids[4], ids[2]]
    assert [int(d["id"]) for d in await page("PENDING", 1)] == [ids[5]]
    assert [int(d["id"]) for d in await page(first=2)] == [ids[5], ids[4]]
    assert await page(first=0) == []
    assert len(await page(first=500)) == 6
    for bad in (501, -1):
        body = await client.post(DELIVERIES, {"id": endpoint_id, "first": bad})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert "between 0 and 500" in body["errors"][0]["message"]


async def test_retry_dead_deliveries(client: GraphQLClient, pool: asyncpg.Pool) -> None:
    endpoint_id = await disabled_endpoint(client)
    other = await disabled_endpoint(client)
    ids = await insert_deliveries(pool, int(endpoint_id), ["DELIVERED", "DEAD", "DEAD", "PENDING"])
    await insert_deliveries(pool, int(other), ["DEAD"])
    await pool.execute("UPDATE webhook_deliveries SET round_attempts = 10")
    retried = (await client.data(RETRY, {"id": endpoint_id}))["retryDeadDeliveries"]
    assert retried == {"queued": 2, "userErrors": []}
    rows = await pool.fetch("""SELECT id, status, round_attempts, next_attempt_at <= now() AS due
                               FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id""",
                            int(endpoint_id))
    assert [r["status"] for r in rows] == ["DELIVERED", "PENDING", "PENDING", "PENDING"]
    assert [r["round_attempts"] for r in rows if r["id"] in ids[1:3]] == [0, 0]
    assert all(r["due"] for r in rows if r["id"] in ids[1:3])
    assert await pool.fetchval("SELECT status FROM webhook_deliveries WHERE endpoint_id = $1",
                               int(other)) == "DEAD"  # another endpoint's stay
    assert (await client.data(RETRY, {"id": endpoint_id}))["retryDeadDeliveries"]["queued"] == 0


async def test_replay_queues_again_within_its_limits(
    catalogue: GraphQLClient, pool: asyncpg.Pool,
) -> None:
    # SKU-1's ledger: two SET entries (the catalogue fixture), fanned out before the endpoints
    # exist, so that only the replays below queue anything for them
    await fanned_out(pool)
    sets = await disabled_endpoint(catalogue, eventTypes=["inventory.stock.set"])
    elsewhere = await disabled_endpoint(catalogue, skus=["SKU-2"])
    everything = await disabled_endpoint(catalogue)

    async def replay(endpoint_id: str, sku: str, after: int) -> dict[str, Any]:
        payload: dict[str, Any] = (await catalogue.data(REPLAY, {"i": {
            "endpointId": endpoint_id, "sku": sku, "afterSequence": after}}))["replayWebhookEvents"]
        return payload

    async def queued_ids(endpoint_id: str) -> list[str]:
        return [r["event_id"] for r in await pool.fetch(
            """SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'PENDING'
               ORDER BY id""", int(endpoint_id))]

    assert await queued_ids(sets) == []
    assert await replay(sets, "SKU-1", 0) == {"queued": 2, "userErrors": []}
    assert await queued_ids(sets) == ["SKU-1/1", "SKU-1/2"]
    # without a type filter: each entry and the availability change it caused, in order
    assert await replay(everything, "SKU-1", 0) == {"queued": 4, "userErrors": []}
    assert await queued_ids(everything) == ["SKU-1/1", "SKU-1/availability/SKU-1/1",
                                            "SKU-1/2", "SKU-1/availability/SKU-1/2"]
    assert await replay(sets, "SKU-1", 1) == {"queued": 1, "userErrors": []}
    assert (await queued_ids(sets))[-1] == "SKU-1/2"
    assert await replay(sets, "SKU-1", 2) == {"queued": 0, "userErrors": []}  # the head
    assert await replay(sets, "SKU-1", 50) == {"queued": 0, "userErrors": []}
    assert await replay(sets, "SKU-2", 0) == {"queued": 0, "userErrors": []}  # no events
    assert await replay(elsewhere, "SKU-1", 0) == {"queued": 0, "userErrors": []}  # not wanted

    refusals = [
        ("NOPE", 0, [("NOT_FOUND", ["input", "sku"])]),
        ("SKU-1", -1, [("INVALID_INPUT", ["input", "afterSequence"])]),
        ("bad\x00", -1, [("INVALID_INPUT", ["input", "sku"]),
                         ("INVALID_INPUT", ["input", "afterSequence"])]),
        ("", 0, [("INVALID_INPUT", ["input", "sku"])]),
    ]
    count = await pool.fetchval("SELECT count(*) FROM webhook_deliveries")
    for sku, after, expected in refusals:
        payload = await replay(sets, sku, after)
        assert codes(payload) == expected and payload["queued"] == 0, (sku, payload)
    # a call replays at most MAX_REPLAY_EVENTS ledger entries (a SKU with a long ledger, faked
    # by its head; restored below so that the ledger stays consistent)
    await pool.execute("UPDATE skus SET last_sequence = $1 WHERE code = 'SKU-2'",
                       MAX_REPLAY_EVENTS + 5)
    try:
        long = await replay(sets, "SKU-2", 4)
        assert codes(long) == [("INVALID_INPUT", ["input", "afterSequence"])]
        assert f"at most {MAX_REPLAY_EVENTS} events per call" in long["userErrors"][0]["message"]
        assert "at least 5" in long["userErrors"][0]["message"]
        assert await replay(sets, "SKU-2", 5) == {"queued": 0, "userErrors": []}
    finally:
        await pool.execute("UPDATE skus SET last_sequence = 0 WHERE code = 'SKU-2'")
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == count
    await assert_consistent(pool)


async def fanned_out(pool: asyncpg.Pool) -> None:
    """Until the webhooks' fan-out has handed on every SKU's ledger up to its head."""
    async with asyncio.timeout(10):
        while await pool.fetchval(
            """SELECT NOT EXISTS (SELECT FROM sink_starts WHERE sink = 'webhooks')
                   OR EXISTS (SELECT FROM skus s LEFT JOIN sink_cursors c
                                ON c.sink = 'webhooks' AND c.sku_id = s.id
                              WHERE coalesce(c.sequence, 0) < s.last_sequence)"""):
            await asyncio.sleep(0.02)


async def test_cost_of_webhook_reads(client: GraphQLClient) -> None:
    endpoint_id = (await created(client))["endpoint"]["id"]
    body = await client.post(
        f'{{ webhookEndpoint(id: "{endpoint_id}") {{ deliveries(first: 10) {{ id }} }} }}')
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 10
    body = await client.post("{ webhookEndpoints { deliveries { id } } }")
    assert body["extensions"]["cost"]["requestedQueryCost"] == 100 * (1 + 50)
    body = await client.post("{ webhookEndpoints { deliveries(first: 500) { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    body = await client.post(
        f'{{ webhookEndpoint(id: "{endpoint_id}") {{ deliveries(first: 500) {{ id }} }} }}')
    assert "errors" not in body


async def test_an_endpoint_made_through_the_api_receives_signed_events(
    catalogue: GraphQLClient, pool: asyncpg.Pool,
) -> None:
    """With the delivery running: the secret shown at create verifies what arrives, rotation
    signs with both, disabling holds deliveries back and enabling sends them, replay resends."""
    await fanned_out(pool)
    async with Receiver() as receiver:
        made = await created(catalogue, url=receiver.url("e2e"), skus=["SKU-2"],
                             eventTypes=["inventory.stock.set"])
        endpoint_id, secret = made["endpoint"]["id"], made["secret"]
        receiver.add("e2e", secret)
        await set_stock(catalogue, "SKU-2", "WH-A", 5)
        await set_stock(catalogue, "SKU-1", "WH-A", 7)  # not wanted (skus)
        await receiver.until(lambda: len(receiver.delivered("e2e")) == 1)
        assert [(r.event_id, r.verified) for r in receiver.at("e2e")] == [("SKU-2/1", True)]

        rotated = (await catalogue.data(ROTATE, {"id": endpoint_id}))["rotateWebhookSecret"]
        receiver.add("e2e", secret, rotated["secret"])  # each must verify the request
        await set_stock(catalogue, "SKU-2", "WH-A", 6)
        await receiver.until(lambda: len(receiver.delivered("e2e")) == 2)
        assert receiver.at("e2e")[-1].signatures == 2 and receiver.at("e2e")[-1].verified

        await catalogue.data(UPDATE, {"i": {"id": endpoint_id, "enabled": False}})
        await set_stock(catalogue, "SKU-2", "WH-A", 8)
        await fanned_out(pool)
        held = await catalogue.data(DELIVERIES, {"id": endpoint_id, "status": "PENDING"})
        assert [d["eventId"] for d in held["webhookEndpoint"]["deliveries"]] == ["SKU-2/3"]
        assert len(receiver.at("e2e")) == 2  # nothing sent while disabled
        await catalogue.data(UPDATE, {"i": {"id": endpoint_id, "enabled": True}})
        await receiver.until(lambda: len(receiver.delivered("e2e")) == 3)

        replayed = (await catalogue.data(REPLAY, {"i": {
            "endpointId": endpoint_id, "sku": "SKU-2", "afterSequence": 1}}))["replayWebhookEvents"]
        assert replayed == {"queued": 2, "userErrors": []}
        await receiver.until(lambda: len(receiver.delivered("e2e")) == 5)
        assert [r.event_id for r in receiver.delivered("e2e")] == [
            "SKU-2/1", "SKU-2/2", "SKU-2/3", "SKU-2/2", "SKU-2/3"]
        # the receiver has answered; the server records the answer right after
        async with asyncio.timeout(10):
            while await pool.fetchval("""SELECT count(*) FROM webhook_deliveries
                                         WHERE endpoint_id = $1 AND status <> 'DELIVERED'""",
                                      int(endpoint_id)):
                await asyncio.sleep(0.02)
        log = (await catalogue.data(DELIVERIES, {"id": endpoint_id}))["webhookEndpoint"]
        assert [(d["eventId"], d["status"], d["responseStatus"]) for d in log["deliveries"]] == [
            ("SKU-2/3", "DELIVERED", 200), ("SKU-2/2", "DELIVERED", 200),
            ("SKU-2/3", "DELIVERED", 200), ("SKU-2/2", "DELIVERED", 200),
            ("SKU-2/1", "DELIVERED", 200)]
    await assert_consistent(pool)
