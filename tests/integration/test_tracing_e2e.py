"""One reserve's trace end to end, exported by real server processes (two instances on a Redis
backbone, a webhook endpoint, a relayed subscriber on each) to an OTLP/HTTP receiver in the
test: the caller's traceparent
continued through the HTTP span, the GraphQL span and its SQL, the Redis publish in the same
trace, the live and webhook deliveries linked to the mutation; no argument value in any span;
the request's log lines carrying its trace and span ids. Through the fast path and the full
Starlette path alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
import websockets

from service import stocking
from service.inventory import Inventory
from tests.conftest import database_name
from tests.integration.test_webhook_delivery import add_endpoint, catalogue, sink_started
from tests.otlp_receiver import OtlpReceiver, Span
from tests.processes import ServerProcess
from tests.webhook_receiver import Receiver, new_secret

SKU = "SKU-inline-7731"  # written inline in the document: an argument value
REFERENCE = "ref-variable-5519"  # sent as a variable
SECRETS = (SKU, REFERENCE)
RESERVE = ('mutation Reserve($ref: String) { reserve(input: {sku: "' + SKU + '", location: "W", '
           'quantity: 1, reference: $ref}) { reservation { id } userErrors { code } } }')
SERVER, CLIENT, PRODUCER = 2, 3, 4  # opentelemetry.proto Span.SpanKind


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
async def webhooks() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def server(database_url: str, redis_url: str, otlp: OtlpReceiver, tmp_path: Path,
                 inventory: Inventory, pool: asyncpg.Pool, webhooks: Receiver,
                 ) -> AsyncIterator[ServerProcess]:
    await catalogue(inventory, [SKU])
    await stocking.set_stock(inventory, sku=SKU, location="W", on_hand=10, safety_stock=None,
                             expected_version=None, reference=None)
    secret = new_secret()
    await add_endpoint(pool, webhooks.add("erp", secret), secret)
    env = server_env(database_url, redis_url, otlp)
    process = ServerProcess(env, log=tmp_path / "server.log")
    try:
        await process.start()
        await sink_started(pool)
        yield process
    finally:
        process.stop()


@pytest.fixture
async def replica(database_url: str, redis_url: str, otlp: OtlpReceiver,
                  server: ServerProcess) -> AsyncIterator[ServerProcess]:
    """Another instance on the same database and Redis. Its webhook tail sweeps once at start
    only, so the fan-out of what `server` commits is `server`'s (woken by its outbox)."""
    env = server_env(database_url, redis_url, otlp)
    env |= {"OTEL_SERVICE_NAME": "inventory-replica", "PARTNER_SWEEP_INTERVAL": "600s"}
    process = ServerProcess(env)
    try:
        await process.start()
        yield process
    finally:
        process.stop()


def server_env(database_url: str, redis_url: str, otlp: OtlpReceiver) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "FEED_CHANNEL_PREFIX": database_name(database_url),
        "ANONYMOUS_SCOPES": "inventory:read,inventory:reserve,inventory:write,admin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true", "WEBHOOK_POLL_INTERVAL": "100ms",
        "PARTNER_SWEEP_INTERVAL": "100ms", "LOG_LEVEL": "INFO", "LOG_FORMAT": "json",
    }


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


async def reserve(server: ServerProcess, trace_id: str, parent: str, request_id: str,
                  *, full_path: bool = False) -> None:
    headers = {"traceparent": traceparent(trace_id, parent), "X-Request-ID": request_id}
    if full_path:  # an Origin header sends it through the Starlette stack (CORS)
        headers["Origin"] = "http://127.0.0.1"
    async with aiohttp.ClientSession() as session, session.post(
            server.graphql_url, json={"query": RESERVE, "variables": {"ref": REFERENCE}},
            headers=headers) as response:
        assert response.status == 200
        body = await response.json()
    assert body["data"]["reserve"]["userErrors"] == []


def one(spans: list[Span], **wanted: Any) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in wanted.items())]
    assert len(found) == 1, (wanted, found)
    return found[0]


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.trace_id == parent.trace_id and s.parent_id == parent.span_id]


def descendants(spans: list[Span], parent: Span) -> Iterator[Span]:
    for child in children(spans, parent):
        yield child
        yield from descendants(spans, child)


def request_spans(spans: list[Span], trace_id: str, parent: str) -> tuple[Span, Span]:
    """The HTTP server span (a child of the caller's) and the GraphQL span under it."""
    http = one(spans, trace_id=trace_id, parent_id=parent)
    assert http.kind == SERVER
    assert http.name == "POST /graphql"
    graphql = one(children(spans, http), scope="inventory.graphql")
    assert graphql.name == "mutation Reserve"
    assert graphql.attributes == {"graphql.operation.type": "mutation",
                                  "graphql.operation.name": "Reserve"}  # no document
    return http, graphql


def statements(spans: list[Span], parent: Span) -> list[str]:
    return [s.attributes["db.statement"] for s in descendants(spans, parent)
            if s.scope.endswith("asyncpg") and s.kind == CLIENT]


def linked_to(spans: list[Span], name: str, origin: Span) -> list[Span]:
    return [s for s in spans if s.name == name and (origin.trace_id, origin.span_id) in s.links]


def complete(spans: list[Span], trace_id: str, parent: str) -> bool:
    try:
        _, graphql = request_spans(spans, trace_id, parent)
    except AssertionError:
        return False
    return (bool(statements(spans, graphql)) and len(linked_to(spans, "feed deliver", graphql)) >= 2
            and len(linked_to(spans, "webhook deliver", graphql)) >= 2
            and any(s.name == "feed publish" for s in children(spans, graphql)))


async def follow(server: ServerProcess) -> Any:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    assert orjson.loads(await ws.recv()) == {"type": "connection_ack"}
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription Follow($sku: String!) { stockEvents(sku: $sku) { sequence kind } }",
        "variables": {"sku": SKU}}}).decode())
    async with asyncio.timeout(10):
        snapshot = orjson.loads(await ws.recv())
    assert snapshot["payload"]["data"]["stockEvents"]["kind"] == "SNAPSHOT"
    return ws


async def test_one_reserve_is_one_trace_from_http_to_sql_redis_and_its_deliveries(
    server: ServerProcess, replica: ServerProcess, otlp: OtlpReceiver, webhooks: Receiver,
) -> None:
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    sockets = [await follow(server), await follow(replica)]
    try:
        await reserve(server, trace_id, parent, "traced-reserve-1")
        for ws in sockets:
            async with asyncio.timeout(10):
                event = orjson.loads(await ws.recv())
            assert event["payload"]["data"]["stockEvents"]["kind"] == "RESERVED"
    finally:
        for ws in sockets:
            await ws.close()
    # two webhooks: the stock event and the availability change it made
    await webhooks.until(lambda: len(webhooks.delivered("erp")) >= 2)
    await otlp.until(lambda: complete(otlp.spans, trace_id, parent))
    spans = otlp.spans

    http, graphql = request_spans(spans, trace_id, parent)
    assert graphql.parent_id == http.span_id
    sql = statements(spans, graphql)
    assert any("INSERT" in s or "UPDATE" in s for s in sql), sql
    assert all("$" in s or "SELECT" in s or s.split()[0].rstrip(";") in ("BEGIN", "COMMIT", "SET")
               for s in sql), sql
    # the backbone's publish: in the mutation's trace, the Redis command its child
    publish = one(children(spans, graphql), name="feed publish")
    assert publish.kind == PRODUCER
    commands = [s for s in children(spans, publish) if s.scope.endswith("redis")]
    assert [c.name for c in commands] == ["PUBLISH"], commands
    assert commands[0].attributes["db.statement"] == "PUBLISH ? ?"
    # the deliveries happen on their own time: their own traces, linked to the mutation
    # one live delivery on each instance: the replica got the origin with the Redis message
    live = linked_to(spans, "feed deliver", graphql)
    assert sorted(d.service for d in live) == ["inventory-replica", "inventory-server"]
    assert len(webhooks.delivered("erp")) == 2
    hooks = linked_to(spans, "webhook deliver", graphql)
    assert len(hooks) == 2, hooks
    assert all(d.trace_id != trace_id and d.parent_id == "" for d in live + hooks)

    # no argument value, inline or variable, in any span or resource attribute
    for body in otlp.bodies:
        for secret in SECRETS:
            assert secret.encode() not in body
    # every log line of the request carries its trace id and a span of it
    assert server.log is not None
    lines = [orjson.loads(line) for line in server.log.read_text().splitlines()
             if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "traced-reserve-1"]
    assert mine, lines
    ours = {s.span_id for s in spans if s.trace_id == trace_id}
    assert all(line.get("trace_id") == trace_id and line.get("span_id") in ours
               for line in mine), mine


async def test_the_full_path_is_traced_as_the_fast_path(
    server: ServerProcess, otlp: OtlpReceiver,
) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    await reserve(server, trace_id, parent, "traced-reserve-2", full_path=True)

    def done() -> bool:
        try:
            return bool(statements(otlp.spans, request_spans(otlp.spans, trace_id, parent)[1]))
        except AssertionError:
            return False

    await otlp.until(done)
    http, graphql = request_spans(otlp.spans, trace_id, parent)
    assert http.attributes.get("http.target", "/graphql") == "/graphql"
    assert any("INSERT" in s or "UPDATE" in s for s in statements(otlp.spans, graphql))
    for body in otlp.bodies:
        for secret in SECRETS:
            assert secret.encode() not in body
