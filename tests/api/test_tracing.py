"""OpenTelemetry: spans reach an OTLP/HTTP collector when the endpoint is set, without the
values of any argument."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.conftest import free_port
from tests.processes import ServerProcess


async def test_spans_are_exported_when_an_endpoint_is_set(database_url: str) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def traces(request: web.Request) -> web.Response:
        await received.put(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = ServerProcess({"DATABASE_URL": database_url,
                            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                            "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            async with session.post(server.graphql_url, json={
                    "query": 'query ProductPage($c: String!) { locations { code } '
                             'sku(code: $c) { code } other: sku(code: "inline-secret-42") '
                             '{ code } }',
                    "variables": {"c": "variable-secret-17"}}) as r:
                assert r.status == 200
        async with asyncio.timeout(15):
            body = b""
            while b"ProductPage" not in body:
                body += await received.get()
    finally:
        server.stop()
        await runner.cleanup()
    assert b"inventory-server" in body  # the service name resource
    # no argument value reaches a span, inline or variable (Strawberry's extension sent both)
    assert b"inline-secret-42" not in body
    assert b"variable-secret-17" not in body
