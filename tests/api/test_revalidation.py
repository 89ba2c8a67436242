"""304s answered before the query runs (web/revalidation.py), on both paths: only for plain SKU
reads it can vouch for, never after a change that the answer would show (a ledger entry, a
SKU's or a location's upsert), never for another key; anything else falls back to running the
query (web/read_cache.py's 304 after execution)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from graphql import parse

from settings import Settings
from tests.api.conftest import set_stock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from web.revalidation import arguments, codes

READ = """query($code: String!) { sku(code: $code) { code name available status sequence
  levels { onHand reserved available version location { code name } } } }"""
EARLY = 'inventory_http_cache_answers_total{outcome="not_modified_before_execution"}'
LATE = 'inventory_http_cache_answers_total{outcome="not_modified"}'


@pytest.fixture(params=[True, False], ids=["fast", "full"])
async def either(request: pytest.FixtureRequest, settings: Settings
                 ) -> AsyncIterator[RunningServer]:
    """Without a read model: the tests write through the `server` fixture's instance, whose
    in-process feed does not reach this one (tests/integration/test_read_your_writes.py has
    revalidation over a read model, two instances sharing Redis)."""
    async with RunningServer(dataclasses.replace(settings, http_fast_path=request.param,
                                                 read_model=False)) as s:
        yield s


class Reader:
    def __init__(self, session: aiohttp.ClientSession, server: RunningServer) -> None:
        self.session, self.server = session, server

    async def get(self, query: str, variables: dict[str, Any], etag: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        sent = {**(headers or {}), **({"If-None-Match": etag} if etag else {})}
        params = {"query": query, "variables": json.dumps(variables)}
        async with self.session.get(self.server.graphql_url, params=params, headers=sent) as r:
            return r.status, await r.read(), r.headers.get("ETag", "")

    async def counted(self) -> tuple[float, float]:
        async with self.session.get(f"{self.server.url}/metrics") as r:
            text = await r.text()
        found = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                 for line in text.splitlines() if line.startswith("inventory_http_cache")}
        return found.get(EARLY, 0.0), found.get(LATE, 0.0)

    async def revalidate(self, query: str, variables: dict[str, Any], etag: str,
                         headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, new tag, "early" | "late" | "ran")."""
        early, late = await self.counted()
        status, body, tag = await self.get(query, variables, etag, headers)
        early_after, late_after = await self.counted()
        assert status != 304 or body == b""
        how = ("early" if early_after > early else "late" if late_after > late else "ran")
        return status, tag, how


async def test_an_unchanged_sku_read_is_answered_before_running(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    variables = {"code": "SKU-1"}
    async with aiohttp.ClientSession() as session:
        reader = Reader(session, either)
        status, _, tag = await reader.get(READ, variables)
        assert status == 200
        # the first revalidation runs the query and leaves its token; the next ones do not run
        assert await reader.revalidate(READ, variables, tag) == (304, tag, "late")
        assert await reader.revalidate(READ, variables, tag) == (304, tag, "early")

        await set_stock(catalogue, "SKU-1", "WH-A", 12)  # a ledger entry of SKU-1
        status, new, how = await reader.revalidate(READ, variables, tag)
        assert (status, how) == (200, "ran") and new != tag
        assert await reader.revalidate(READ, variables, new) == (304, new, "early")

        await set_stock(catalogue, "SKU-2", "WH-A", 3)  # another SKU's entry: not in the token
        assert await reader.revalidate(READ, variables, new) == (304, new, "early")

        rename = """mutation { upsertLocation(input: {code: "WH-A", name: "Main warehouse",
            kind: WAREHOUSE}) { userErrors { code } } }"""
        assert (await catalogue.data(rename))["upsertLocation"]["userErrors"] == []
        status, renamed, how = await reader.revalidate(READ, variables, new)
        assert (status, how) == (200, "ran") and renamed != new  # the location's new name

        other = """mutation { upsertSku(input: {code: "SKU-7", name: "Other"})
            { userErrors { code } } }"""
        assert (await catalogue.data(other))["upsertSku"]["userErrors"] == []
        # the catalogue moved, so the query runs; SKU-1's answer is the same bytes
        assert await reader.revalidate(READ, variables, renamed) == (304, renamed, "late")
        assert await reader.revalidate(READ, variables, renamed) == (304, renamed, "early")

        rename_sku = """mutation { upsertSku(input: {code: "SKU-1", name: "Widget 2"})
            { userErrors { code } } }"""
        assert (await catalogue.data(rename_sku))["upsertSku"]["userErrors"] == []
        status, _, how = await reader.revalidate(READ, variables, renamed)
        assert (status, how) == (200, "ran")


async def test_other_keys_other_shapes_and_bundles_run_the_query(
    catalogue: GraphQLClient, either: RunningServer
) -> None:
    bundle = """mutation { upsertBundle(input: {code: "KIT", name: "Kit",
        components: [{sku: "SKU-1", quantity: 2}]}) { userErrors { code } } }"""
    assert (await catalogue.data(bundle))["upsertBundle"]["userErrors"] == []
    async with aiohttp.ClientSession() as session:
        reader = Reader(session, either)
        _, _, tag = await reader.get(READ, {"code": "SKU-1"}, headers=ADMIN)
        status, _, how = await reader.revalidate(READ, {"code": "SKU-1"}, tag)
        assert (status, how) == (200, "ran")  # anonymous never gets the key's tag

        for query, variables in (
            (READ, {"code": "KIT"}),  # a bundle moves with its components
            ("{ locations { code name } }", {}),  # not a SKU read
            ('query($c: String!) { sku(code: $c) { code nextRestockAt } }', {"c": "SKU-1"}),
            ('query($c: String!) { sku(code: $c) { availableToPromise(at: "2030-01-01T00:00:00Z")'
             ' } }', {"c": "SKU-1"}),
        ):
            _, _, tag = await reader.get(query, variables)
            status, _, how = await reader.revalidate(query, variables, tag)
            assert (status, how) == (304, "late"), query


def test_which_documents_it_takes() -> None:
    def taken(query: str, variables: dict[str, Any], name: str | None = None) -> object:
        values = arguments(parse(query), name)
        return None if values is None else codes(values, variables)

    assert taken(READ, {"code": "B"}) == ["B"]
    assert taken('{ a: sku(code: "B") { code } b: skusByCode(codes: ["C", "A"]) { name } }',
                 {}) == ["A", "B", "C"]
    assert taken('query($c: [String!]!) { skusByCode(codes: $c) { code __typename } }',
                 {"c": ["X", "Y", "X"]}) == ["X", "Y"]
    for refused in (
        '{ sku(code: "B") { levels(location: "A") { onHand } } }',  # an argument
        '{ sku(code: "B") { ...F } } fragment F on Sku { code }',  # a fragment
        '{ sku(code: "B") { code @include(if: true) } }',  # a directive
        '{ sku(code: "B") { components { quantity } } }',  # a bundle's field
        '{ sku(code: "B") { code } locations { code } }',  # another root field
        'mutation { __typename }',
        'query($c: String!) { sku(code: $c) { code } }',  # its variable missing below
    ):
        assert taken(refused, {}) is None, refused
    assert taken("query A { sku(code: \"B\") { code } }", {}, "B") is None
