"""A lost PostgreSQL connection answers SERVICE_UNAVAILABLE (safe to retry), logs one line
without traceback, and the server serves again once the database is back (found by the chaos
test: it was INTERNAL_SERVER_ERROR with two tracebacks per request)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys

import aiohttp
import pytest

from settings import Settings
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.pg_proxy import TcpProxy

SKU = '{ sku(code: "NONE") { code } }'
RESERVE = """mutation { reserve(input: {sku: "NONE", quantity: 1, idempotencyKey: "k1"}) {
  userErrors { code } } }"""


async def test_a_lost_database_is_unavailable_not_an_internal_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.database_url
    proxy = TcpProxy.to(settings.database_url)
    await proxy.start()
    proxied = dataclasses.replace(settings, database_url=proxy.url(settings.database_url))
    async with RunningServer(proxied) as server, aiohttp.ClientSession() as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        assert (await client.data(SKU))["sku"] is None
        await proxy.close()  # every connection cut, and no new one accepted
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for document in (SKU, RESERVE):
                body = await client.post(document)
                codes = [e["extensions"]["code"] for e in body["errors"]]
                assert codes == ["SERVICE_UNAVAILABLE"], body
                assert body["errors"][0]["extensions"]["retryAfter"] == 1
            async with asyncio.timeout(10):  # the expiry loop meets the outage too
                while not any("expiry: database unavailable" in r.getMessage()
                              for r in caplog.records):
                    await asyncio.sleep(0.05)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        # asyncpg's pool logs its own retries; ops.logs.configure makes those one line too
        assert not [r for r in caplog.records
                    if r.exc_info and not r.name.startswith("asyncpg")], caplog.text
        lost = [r for r in caplog.records if "database connection was lost" in r.getMessage()]
        assert len(lost) == 2
        back = TcpProxy.to(settings.database_url)
        back.port = proxy.port
        await back.start()
        try:
            assert (await client.data(SKU))["sku"] is None
            reply = await client.data(RESERVE)
            assert reply["reserve"]["userErrors"] == [{"code": "NOT_FOUND"}]
        finally:
            await back.close()


def test_asyncpg_pool_retries_log_one_line() -> None:
    from ops.logs import one_line

    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        record = logging.LogRecord("asyncpg.pool", logging.WARNING, __file__, 1,
                                   "Failed to restore the pool connection floor; retrying",
                                   None, sys.exc_info())
    assert one_line(record) and record.exc_info is None
    assert record.getMessage() == ("Failed to restore the pool connection floor; retrying "
                                   "(ConnectionRefusedError: [Errno 111] Connect call failed)")
