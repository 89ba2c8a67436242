"""The SSE feed of several SKUs, `GET /skus/events?sku=...` (web/sse_skus.py): snapshots then
every named SKU's events on one connection holding one feed slot, refused as the per-SKU feed
(401/403/429) and past SSE_MAX_SKUS (400 TOO_MANY_SKUS). Real uvicorn, real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest

from domain.access import Scope
from settings import Settings
from store import keys
from tests.api.conftest import set_stock
from tests.api.test_bundle_reads import kits
from tests.api.test_feed_slots import open_feeds, until_no_feeds
from tests.client import GraphQLClient
from tests.conftest import RunningServer

__all__ = ["kits"]  # the fixture: KIT-1, a bundle
CAP = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, sse_max_skus=CAP, max_connections_per_key=2,
                               anonymous_scopes=frozenset(), rate_limit_per_key=0,
                               rate_limit_anonymous=0)


async def key(pool: asyncpg.Pool, *scopes: Scope) -> tuple[str, int]:
    async with pool.acquire() as conn:
        token, made = await keys.create(conn, "console", list(scopes))
    assert made.key_id is not None
    return token, made.key_id


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """Each SSE message's fields (comments and the `retry:` line left out)."""
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def refused(session: aiohttp.ClientSession, url: str, status: int, code: str,
                  headers: dict[str, str] | None = None) -> None:
    async with session.get(url, headers=headers) as r:
        body = orjson.loads(await r.read())
    assert (r.status, body["error"]["code"]) == (status, code), body


async def test_one_connection_carries_every_named_skus_events(
    server: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    token, key_id = await key(pool, Scope.READ)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{server.url}/skus/events?sku=SKU-1,SKU-2&sku=SKU-1"  # a comma list, a repeat
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert open_feeds(server, f"key:{key_id}") == 1  # one slot for both SKUs
        stream = frames(r)
        async with asyncio.timeout(10):
            first, second = await anext(stream), await anext(stream)
            assert [(f["event"], f["id"]) for f in (first, second)] == [
                ("snapshot", "SKU-1/2"), ("snapshot", "SKU-2/0")]
            assert orjson.loads(first["data"])["onHand"] == 14
            await set_stock(catalogue, "SKU-2", "ST-B", 7)
            await set_stock(catalogue, "SKU-1", "WH-A", 12)
            events = [await anext(stream), await anext(stream)]
    assert [(e["event"], e["id"]) for e in events] == [("stock", "SKU-2/1"), ("stock", "SKU-1/3")]
    sku2, sku1 = (orjson.loads(e["data"]) for e in events)
    assert (sku2["sku"], sku2["location"], sku2["level"]["onHand"]) == ("SKU-2", "ST-B", 7)
    assert (sku1["kind"], sku1["onHand"], sku1["level"]["available"]) == ("SET", 16, 12)
    await until_no_feeds(server, f"key:{key_id}")  # given back when the client left


async def test_refusals_change_nothing_and_hold_no_slot(
    server: RunningServer, kits: GraphQLClient, pool: asyncpg.Pool
) -> None:
    reader, reader_id = await key(pool, Scope.READ)
    writer, _ = await key(pool, Scope.WRITE)
    events = f"{server.url}/skus/events"
    as_reader = {"Authorization": f"Bearer {reader}"}
    async with aiohttp.ClientSession() as session:
        await refused(session, f"{events}?sku=SKU-1", 401, "UNAUTHENTICATED")
        await refused(session, f"{events}?sku=NOPE", 401, "UNAUTHENTICATED")  # no probing
        await refused(session, f"{events}?sku=SKU-1", 403, "FORBIDDEN",
                      {"Authorization": f"Bearer {writer}"})
        await refused(session, f"{events}?sku=SKU-1", 401, "UNAUTHENTICATED",
                      {"Authorization": "Bearer inv_nope_nope"})
        await refused(session, f"{events}?sku=A,B,C&sku=D", 400, "TOO_MANY_SKUS", as_reader)
        await refused(session, events, 400, "BAD_USER_INPUT", as_reader)
        await refused(session, f"{events}?sku=SKU-1&sku=NOPE", 404, "NOT_FOUND", as_reader)
        await refused(session, f"{events}?sku=%00", 400, "BAD_USER_INPUT", as_reader)
        await refused(session, f"{events}?sku=SKU-1,KIT-1", 400, "BAD_USER_INPUT", as_reader)
        assert open_feeds(server, f"key:{reader_id}") == 0
        # the per-SKU feed and this one share the key's cap (2 here)
        held = [await session.get(f"{server.url}/skus/SKU-1/events", headers=as_reader),
                await session.get(f"{events}?sku=SKU-1,SKU-2", headers=as_reader)]
        assert [r.status for r in held] == [200, 200]
        await refused(session, f"{events}?sku=SKU-2", 429, "TOO_MANY_CONNECTIONS", as_reader)
        for r in held:
            r.close()
    await until_no_feeds(server, f"key:{reader_id}")


async def test_a_revoked_key_ends_the_feed(
    server: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    token, key_id = await key(pool, Scope.READ)
    url = f"{server.url}/skus/events?sku=SKU-1&sku=SKU-2"
    async with aiohttp.ClientSession() as session, session.get(
        url, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        stream = frames(r)
        async with asyncio.timeout(10):
            assert (await anext(stream))["event"] == "snapshot"
            async with pool.acquire() as conn:
                assert await keys.revoke(conn, str(key_id))
            seen = [frame async for frame in stream]  # ends: KEY_RECHECK_INTERVAL_MS is 200
    assert seen[-1] == {"event": "error", "data": '{"code":"FORBIDDEN"}'}
    await until_no_feeds(server, f"key:{key_id}")
