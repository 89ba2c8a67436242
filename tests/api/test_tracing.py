"""OpenTelemetry: spans reach an OTLP/HTTP collector when the endpoint is set, without the
values of any argument (in a POST body or a GET's query string), and with the document only
when OTEL_GRAPHQL_DOCUMENT=true. The whole trace of a reserve: tests/integration/
test_tracing_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from tests.otlp_receiver import OtlpReceiver, Span
from tests.processes import ServerProcess

QUERY = ('query ProductPage($c: String!) { locations { code } sku(code: $c) { code } '
         'other: sku(code: "inline-secret-42") { code } }')


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as receiver:
        yield receiver


async def traced(database_url: str, otlp: OtlpReceiver, **env: str) -> list[Span]:
    """Sends QUERY as a POST and as a GET; the two GraphQL spans and their server spans."""
    server = ServerProcess({"DATABASE_URL": database_url,
                            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
                            "OTEL_BSP_SCHEDULE_DELAY": "50", **env})
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            async with session.post(server.graphql_url, json={
                    "query": QUERY, "variables": {"c": "variable-secret-17"}}) as r:
                assert r.status == 200
            get = server.graphql_url + "?" + urlencode({
                "query": QUERY, "variables": orjson.dumps({"c": "get-secret-23"}).decode()})
            async with session.get(get, headers={"Accept": "application/json"}) as r:
                assert r.status == 200
        await otlp.until(lambda: len(_named(otlp.spans, "query ProductPage")) == 2)
    finally:
        server.stop()
    operations = _named(otlp.spans, "query ProductPage")
    servers = [s for o in operations for s in otlp.spans if s.span_id == o.parent_id]
    assert sorted(s.name for s in servers) == ["GET /graphql", "POST /graphql"]
    assert {r["service.name"] for r in otlp.resources} == {"inventory-server"}
    # no argument value reaches a span, inline, variable or in a URL (Strawberry's extension
    # sent the first two, the ASGI middleware's URL attributes the third)
    for secret in (b"variable-secret-17", b"get-secret-23"):
        assert all(secret not in body for body in otlp.bodies)
    for server_span in servers:
        assert all("?" not in str(value) for value in server_span.attributes.values())
    return operations


def _named(spans: list[Span], name: str) -> list[Span]:
    return [s for s in spans if s.name == name]


async def test_spans_carry_no_argument_value_nor_the_document_by_default(
    database_url: str, otlp: OtlpReceiver
) -> None:
    operations = await traced(database_url, otlp)
    assert [o.attributes for o in operations] == [
        {"graphql.operation.type": "query", "graphql.operation.name": "ProductPage"}] * 2
    assert all(b"inline-secret-42" not in body for body in otlp.bodies)


async def test_the_document_is_recorded_only_when_asked(
    database_url: str, otlp: OtlpReceiver
) -> None:
    operations = await traced(database_url, otlp, OTEL_GRAPHQL_DOCUMENT="true")
    assert [o.attributes["graphql.document"] for o in operations] == [QUERY] * 2
