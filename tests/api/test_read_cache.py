"""ETag, 304 and Cache-Control of GET queries (web/read_cache.py), on the fast path and on the
full one: a second identical GET answers 304 without a body, a change to what the answer shows
changes the tag, another key never gets a 304 for the first key's tag, and everything that is
not a successful GET query is `no-store`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from domain.access import Scope
from settings import Settings
from settings.caching import CacheSettings
from store import keys
from tests.api.conftest import set_stock
from tests.api.test_mutations import EXTEND, RESERVE
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SKU = "query($code: String!) { sku(code: $code) { code name available levels { onHand } } }"
LISTING = "{ skus(first: 10) { edges { node { code name available } } } }"


@pytest.fixture(params=[True, False], ids=["fast", "full"])
async def either(request: pytest.FixtureRequest, settings: Settings
                 ) -> AsyncIterator[RunningServer]:
    """A server with the fast path on, and one with it off. Without a read model: the tests
    write through the `server` fixture's instance, whose in-process feed does not reach this
    one (two instances share a feed through Redis; tests/integration/test_read_your_writes.py
    has the revalidated GETs over a read model)."""
    async with RunningServer(dataclasses.replace(settings, http_fast_path=request.param,
                                                 read_model=False)) as s:
        yield s


async def _get(session: aiohttp.ClientSession, url: str, query: str,
               variables: dict[str, Any] | None = None, *, etag: str | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    params = {"query": query}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    sent = {**(headers or {}), **({"If-None-Match": etag} if etag else {})}
    async with session.get(url, params=params, headers=sent) as response:
        return response.status, await response.read(), response.headers


async def test_a_second_identical_get_answers_304_until_the_sku_changes(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    url, variables = either.graphql_url, {"code": "SKU-1"}
    async with aiohttp.ClientSession() as session:
        status, body, headers = await _get(session, url, SKU, variables, headers=ADMIN)
        assert status == 200 and json.loads(body)["data"]["sku"]["available"] == 14
        tag = headers["ETag"]
        assert tag.startswith('"') and headers["Cache-Control"] == "private, max-age=0"
        assert "Authorization" in headers["Vary"]

        status, body, again = await _get(session, url, SKU, variables, etag=tag, headers=ADMIN)
        assert (status, body) == (304, b"")
        assert again["ETag"] == tag and again["Cache-Control"] == "private, max-age=0"
        assert "Content-Type" not in again

        await set_stock(catalogue, "SKU-1", "WH-A", 11)
        status, body, changed = await _get(session, url, SKU, variables, etag=tag,
                                           headers=ADMIN)
        assert status == 200 and json.loads(body)["data"]["sku"]["available"] == 15
        assert changed["ETag"] != tag
        # If-None-Match lists several tags; W/ is compared weakly; `*` matches
        for listed in (f'"nope", {changed["ETag"]}', f'W/{changed["ETag"]}', "*"):
            status, _, _ = await _get(session, url, SKU, variables, etag=listed, headers=ADMIN)
            assert status == 304, listed


async def test_an_unrelated_new_sku_changes_a_listing_but_not_a_sku_read(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    url = either.graphql_url
    async with aiohttp.ClientSession() as session:
        _, _, one = await _get(session, url, SKU, {"code": "SKU-1"})
        _, _, listing = await _get(session, url, LISTING)
        assert one["Cache-Control"] == listing["Cache-Control"] == "public, max-age=0"
        data = await catalogue.data("""mutation { upsertSku(input: {code: "SKU-9", name: "New"})
            { userErrors { code } } }""")
        assert data["upsertSku"]["userErrors"] == []
        status, _, _ = await _get(session, url, SKU, {"code": "SKU-1"}, etag=one["ETag"])
        assert status == 304  # nothing SKU-1's answer shows changed
        status, body, after = await _get(session, url, LISTING, etag=listing["ETag"])
        assert status == 200 and after["ETag"] != listing["ETag"]
        assert "SKU-9" in body.decode()


async def test_a_change_without_a_ledger_entry_changes_the_tag_too(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    """extendReservation moves a hold's expiresAt and writes no ledger entry: the tag hashes
    what the answer shows, so it changes all the same."""
    held = await catalogue.data(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1, "ttlSeconds": 60}})
    rid = held["reserve"]["reservation"]["id"]
    query, variables = "query($id: ID!) { reservation(id: $id) { id expiresAt } }", {"id": rid}
    async with aiohttp.ClientSession() as session:
        _, _, seen = await _get(session, either.graphql_url, query, variables, headers=ADMIN)
        status, _, _ = await _get(session, either.graphql_url, query, variables,
                                  etag=seen["ETag"], headers=ADMIN)
        assert status == 304
        extended = await catalogue.data(EXTEND, {"i": {"reservationId": rid, "ttlSeconds": 600}})
        assert extended["extendReservation"]["userErrors"] == []
        status, body, after = await _get(session, either.graphql_url, query, variables,
                                         etag=seen["ETag"], headers=ADMIN)
        assert status == 200 and after["ETag"] != seen["ETag"]
        assert json.loads(body)["data"]["reservation"]["expiresAt"] == (
            extended["extendReservation"]["reservation"]["expiresAt"])


async def test_another_key_never_gets_a_304_for_the_first_keys_tag(
    catalogue: GraphQLClient, either: RunningServer, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        one, _ = await keys.create(conn, "shop-one", [Scope.READ])
        two, _ = await keys.create(conn, "shop-two", [Scope.READ])
    url, variables = either.graphql_url, {"code": "SKU-1"}
    first = {"Authorization": f"Bearer {one}"}
    second = {"Authorization": f"Bearer {two}"}
    async with aiohttp.ClientSession() as session:
        _, body_one, seen = await _get(session, url, SKU, variables, headers=first)
        status, body_two, other = await _get(session, url, SKU, variables, etag=seen["ETag"],
                                             headers=second)
        assert status == 200 and body_two == body_one  # the same bytes, not the same tag
        assert other["ETag"] != seen["ETag"]
        status, _, _ = await _get(session, url, SKU, variables, etag=seen["ETag"])
        assert status == 200  # nor does an anonymous caller
        status, _, _ = await _get(session, url, SKU, variables, etag=seen["ETag"], headers=first)
        assert status == 304


async def test_posts_mutations_and_errors_are_no_store(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    url = either.graphql_url
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"query": SKU, "variables": {"code": "SKU-1"}}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert "ETag" not in r.headers
        async with session.post(url, json={"query": """mutation { reserve(input: {sku:
                "SKU-1", quantity: 1}) { userErrors { code } } }"""}, headers=ADMIN) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        for query in ("{ nope }", "{ skus(first: -1) { edges { node { code } } } }"):
            status, body, headers = await _get(session, url, query, etag="*")
            assert status in (200, 400) and json.loads(body)["errors"], query
            assert headers["Cache-Control"] == "no-store" and "ETag" not in headers, query
        status, _, headers = await _get(session, url, "mutation { __typename }")
        assert status == 405 and headers["Cache-Control"] == "no-store"


async def test_read_cache_max_age_is_what_caches_are_told(
    catalogue: GraphQLClient, settings: Settings
) -> None:
    caching = CacheSettings(read_cache_max_age=30)
    async with RunningServer(dataclasses.replace(settings, caching=caching)) as running:
        async with aiohttp.ClientSession() as session:
            _, _, anonymous = await _get(session, running.graphql_url, LISTING)
            _, _, keyed = await _get(session, running.graphql_url, LISTING, headers=ADMIN)
    assert anonymous["Cache-Control"] == "public, max-age=30"
    assert keyed["Cache-Control"] == "private, max-age=30"


async def _metric(session: aiohttp.ClientSession, server: RunningServer, line: str) -> float:
    async with session.get(f"{server.url}/metrics") as r:
        text = await r.text()
    found = [row for row in text.splitlines() if row.startswith(line + " ")]
    return float(found[0].split()[-1]) if found else 0.0


async def test_metrics_count_304s_tags_and_persisted_hits(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    not_modified = 'inventory_http_cache_answers_total{outcome="not_modified"}'
    tagged = 'inventory_http_cache_answers_total{outcome="tagged"}'
    missed = 'inventory_persisted_queries_total{outcome="PERSISTED_QUERY_NOT_FOUND"}'
    async with aiohttp.ClientSession() as session:
        before = [await _metric(session, server, m) for m in (not_modified, tagged, missed)]
        _, _, seen = await _get(session, server.graphql_url, LISTING)
        await _get(session, server.graphql_url, LISTING, etag=seen["ETag"])
        persisted = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        async with session.post(server.graphql_url, json={"extensions": persisted}) as r:
            assert r.status == 200
        after = [await _metric(session, server, m) for m in (not_modified, tagged, missed)]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def test_settings_read_the_environment() -> None:
    found = CacheSettings.from_env({"READ_CACHE_MAX_AGE": "5", "APQ_CACHE_SIZE": "7"})
    assert (found.read_cache_max_age, found.apq_cache_size) == (5, 7)
    with pytest.raises(ValueError, match="READ_CACHE_MAX_AGE"):
        CacheSettings.from_env({"READ_CACHE_MAX_AGE": "-1"})
    with pytest.raises(ValueError, match="PERSISTED_QUERIES_FILE"):
        CacheSettings.from_env({"PERSISTED_QUERIES_ONLY": "true"})
