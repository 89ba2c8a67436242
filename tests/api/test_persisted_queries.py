"""Automatic persisted queries (Apollo's protocol) over POST and GET, shared through Redis, never
storing a document over the limits; and the registered-documents mode with each refusal, on
HTTP (web/persisted.py) and WebSockets (resolvers/registered.py). tests/api/test_fast_path.py checks both paths answer these alike."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from redis.asyncio import Redis
from websockets.typing import Subprotocol

from settings import Settings
from settings.caching import CacheSettings
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from web.persisted import load_manifest

LOCATIONS = "{ locations { code } }"
SKU = "query($code: String!) { sku(code: $code) { code available } }"
TOKENS = "{ " + " ".join(f"a{i}: __typename" for i in range(1100)) + " }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha(text)}}


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body, headers=headers or {}) as response:
        return response.status, await response.json(content_type=None)


def code(body: dict[str, Any]) -> str:
    found: str = body["errors"][0]["extensions"]["code"]
    return found


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
async def test_apq_over_post_registers_runs_and_refuses(
    catalogue: GraphQLClient, settings: Settings, fast: bool
) -> None:
    async with RunningServer(dataclasses.replace(settings, http_fast_path=fast)) as running, \
            aiohttp.ClientSession() as session:
        url = running.graphql_url
        status, body = await post(session, url, {"extensions": apq(LOCATIONS)})
        assert status == 200 and code(body) == "PERSISTED_QUERY_NOT_FOUND"
        assert body["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo matches
        status, body = await post(session, url, {"extensions": apq(LOCATIONS)},
                                  {"Accept": "application/graphql-response+json"})
        assert status == 200 and code(body) == "PERSISTED_QUERY_NOT_FOUND"

        status, body = await post(session, url, {"query": LOCATIONS, "extensions": apq(LOCATIONS)})
        assert status == 200 and body["data"]["locations"][0]["code"] == "ST-B"
        status, body = await post(session, url, {"extensions": apq(LOCATIONS)})
        assert status == 200 and len(body["data"]["locations"]) == 2

        status, body = await post(session, url, {"query": SKU, "extensions": apq(LOCATIONS)})
        assert status == 400 and code(body) == "PERSISTED_QUERY_HASH_MISMATCH"
        status, body = await post(session, url, {"extensions": apq(SKU)})
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"  # the mismatch stored nothing
        status, body = await post(session, url, {"extensions": apq(LOCATIONS, version=2)})
        assert status == 400 and code(body) == "PERSISTED_QUERY_INVALID"
        bad = {"persistedQuery": {"version": 1, "sha256Hash": "x" * 64}}
        status, body = await post(session, url, {"extensions": bad})
        assert status == 400 and code(body) == "PERSISTED_QUERY_INVALID"

        # over the limits: refused as usual, and never stored
        status, body = await post(session, url, {"query": TOKENS, "extensions": apq(TOKENS)})
        assert code(body) == "QUERY_TOO_COMPLEX"
        status, body = await post(session, url, {"extensions": apq(TOKENS)})
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"
        # over 16 KiB: runs, is not stored
        long = "{ __typename }\n" + "#" * (16 * 1024)
        status, body = await post(session, url, {"query": long, "extensions": apq(long)})
        assert body["data"] == {"__typename": "Query"}
        status, body = await post(session, url, {"extensions": apq(long)})
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


async def test_apq_over_get_with_304_and_no_ide_page(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    params = {"extensions": json.dumps(apq(SKU)), "variables": json.dumps({"code": "SKU-1"})}
    async with aiohttp.ClientSession() as session:
        # Accept */* and no `query` is GraphiQL's page for a plain GET, not for a hash
        async with session.get(server.graphql_url, params=params,
                               headers={"Accept": "*/*"}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert code(await r.json()) == "PERSISTED_QUERY_NOT_FOUND"
        status, _ = await post(session, server.graphql_url,
                               {"query": SKU, "extensions": apq(SKU)})
        async with session.get(server.graphql_url, params=params) as r:
            assert r.status == 200 and (await r.json())["data"]["sku"]["available"] == 14
            tag = r.headers["ETag"]
        async with session.get(server.graphql_url, params=params,
                               headers={"If-None-Match": tag}) as r:
            assert r.status == 304 and await r.read() == b""


async def test_apq_registrations_are_shared_through_redis_and_the_lru_is_bounded(
    catalogue: GraphQLClient, settings: Settings, redis_url: str
) -> None:
    shared = dataclasses.replace(settings, redis_url=redis_url)
    small = dataclasses.replace(settings, caching=CacheSettings(apq_cache_size=1))
    async with RunningServer(shared) as one, RunningServer(shared) as two, \
            RunningServer(small) as alone, aiohttp.ClientSession() as session:
        status, body = await post(session, one.graphql_url,
                                  {"query": LOCATIONS, "extensions": apq(LOCATIONS)})
        assert "data" in body
        status, body = await post(session, two.graphql_url, {"extensions": apq(LOCATIONS)})
        assert status == 200 and len(body["data"]["locations"]) == 2
        # the Redis key expires; `one` still knows the document, a client sends it there
        # again (after `three` said not found), and Redis has it again for everyone
        redis = Redis.from_url(redis_url)
        try:
            assert await redis.delete(f"{settings.feed_prefix}:apq:{sha(LOCATIONS)}") == 1
            async with RunningServer(shared) as three:
                _, body = await post(session, three.graphql_url, {"extensions": apq(LOCATIONS)})
                assert code(body) == "PERSISTED_QUERY_NOT_FOUND"
                await post(session, one.graphql_url,
                           {"query": LOCATIONS, "extensions": apq(LOCATIONS)})
                _, body = await post(session, three.graphql_url, {"extensions": apq(LOCATIONS)})
                assert len(body["data"]["locations"]) == 2
        finally:
            await redis.aclose()

        for text in (LOCATIONS, "{ __typename }"):  # the second pushes the first out
            await post(session, alone.graphql_url, {"query": text, "extensions": apq(text)})
        _, body = await post(session, alone.graphql_url, {"extensions": apq("{ __typename }")})
        assert body["data"] == {"__typename": "Query"}
        _, body = await post(session, alone.graphql_url, {"extensions": apq(LOCATIONS)})
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


def _locked(settings: Settings, manifest: Path, bypass: bool = False) -> Settings:
    return dataclasses.replace(settings, caching=CacheSettings(
        persisted_queries_only=True, persisted_queries_file=manifest,
        persisted_queries_admin_bypass=bypass))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
async def test_registered_documents_only_and_each_refusal(
    catalogue: GraphQLClient, settings: Settings, tmp_path: Path, fast: bool
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha(LOCATIONS): LOCATIONS, sha(SKU): SKU}))
    locked = dataclasses.replace(_locked(settings, manifest), http_fast_path=fast)
    async with RunningServer(locked) as running, aiohttp.ClientSession() as session:
        url, variables = running.graphql_url, {"code": "SKU-1"}
        _, body = await post(session, url, {"extensions": apq(SKU), "variables": variables})
        assert body["data"]["sku"]["available"] == 14  # by hash
        _, body = await post(session, url, {"query": LOCATIONS})
        assert len(body["data"]["locations"]) == 2  # by its exact text
        async with session.get(url, params={"extensions": json.dumps(apq(LOCATIONS))}) as r:
            assert r.status == 200 and r.headers["ETag"]  # and over GET

        refusals = [  # (body, headers, status, code)
            ({"query": "{ __typename }"}, {}, 403, "PERSISTED_QUERY_REQUIRED"),
            ({"query": "{ not a document"}, {}, 403, "PERSISTED_QUERY_REQUIRED"),  # unparsed
            ({"query": LOCATIONS + " "}, {}, 403, "PERSISTED_QUERY_REQUIRED"),
            ({"extensions": apq("{ __typename }")}, {}, 200, "PERSISTED_QUERY_NOT_FOUND"),
            ({"query": "{ __typename }", "extensions": apq("{ __typename }")}, {}, 403,
             "PERSISTED_QUERY_REQUIRED"),  # APQ cannot register anything here
            ({"query": SKU, "extensions": apq(LOCATIONS)}, {}, 400,
             "PERSISTED_QUERY_HASH_MISMATCH"),
            ({"query": "{ __typename }"}, ADMIN, 403, "PERSISTED_QUERY_REQUIRED"),  # no bypass
        ]
        for sent, headers, status, expected in refusals:
            found, body = await post(session, url, sent, headers)
            assert (found, code(body)) == (status, expected), sent
            assert "data" not in body or body["data"] is None
        async with session.get(url, params={"query": "{ __typename }"}) as r:
            assert r.status == 403 and r.headers["Cache-Control"] == "no-store"
            assert code(await r.json()) == "PERSISTED_QUERY_REQUIRED"


async def test_registered_documents_only_over_websockets_too(
    catalogue: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha(LOCATIONS): LOCATIONS}))
    async with RunningServer(_locked(settings, manifest)) as running, \
            websockets.connect(running.ws_url,
                               subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        async with asyncio.timeout(10):
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for number, query in enumerate(("{ __typename }",
                                            'subscription { stockEvents(sku: "SKU-1") '
                                            '{ sequence } }')):
                await ws.send(json.dumps({"type": "subscribe", "id": str(number),
                                          "payload": {"query": query}}))
                reply = json.loads(await ws.recv())
                assert reply["type"] == "error", reply
                assert reply["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
            await ws.send(json.dumps({"type": "subscribe", "id": "9",
                                      "payload": {"query": LOCATIONS}}))
            reply = json.loads(await ws.recv())
            assert reply["type"] == "next" and len(reply["payload"]["data"]["locations"]) == 2


async def test_admins_may_bypass_only_when_allowed(
    catalogue: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": "locations-v1", "name": "L", "type": "query", "body": LOCATIONS}],
    }))
    async with RunningServer(_locked(settings, manifest, bypass=True)) as running, \
            aiohttp.ClientSession() as session:
        url = running.graphql_url
        _, body = await post(session, url, {"query": "{ __typename }"}, ADMIN)
        assert body["data"] == {"__typename": "Query"}
        _, body = await post(session, url, {"query": "{ __typename }"})
        assert code(body) == "PERSISTED_QUERY_REQUIRED"  # not without the admin key
        apollo_id = {"persistedQuery": {"version": 1, "sha256Hash": "locations-v1"}}
        _, body = await post(session, url, {"extensions": apollo_id})
        assert len(body["data"]["locations"]) == 2  # an Apollo manifest's own ids


async def test_a_manifest_without_the_lock_is_known_to_apq_from_the_start(
    catalogue: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha(LOCATIONS): LOCATIONS}))
    known = dataclasses.replace(settings, caching=CacheSettings(persisted_queries_file=manifest))
    async with RunningServer(known) as running, aiohttp.ClientSession() as session:
        _, body = await post(session, running.graphql_url, {"extensions": apq(LOCATIONS)})
        assert len(body["data"]["locations"]) == 2
        _, body = await post(session, running.graphql_url, {"query": "{ __typename }"})
        assert body["data"] == {"__typename": "Query"}  # anything else still runs


def test_a_manifest_that_does_not_match_its_hashes_is_refused_at_start(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha(LOCATIONS): SKU}))
    with pytest.raises(ValueError, match="is not its document's sha256"):
        load_manifest(manifest)
    manifest.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a map"):
        load_manifest(manifest)
    with pytest.raises(ValueError, match="PERSISTED_QUERIES_FILE"):
        load_manifest(tmp_path / "missing.json")
